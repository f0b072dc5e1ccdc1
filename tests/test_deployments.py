"""prefect.yaml: every deployment loads, and the loopback path runs for real.

The slow test does what the README tells a user, command by command, against a real Prefect
server on 127.0.0.1: start the server, create the `process` pool, deploy, run the deployment,
let a worker pick it up once, and check the flow run completed and wrote the registry.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from refbench.registry import Workspace
from refbench.settings import PROJECT_ROOT

PREFECT = [sys.executable, "-m", "prefect"]
CONFIG = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in CONFIG["deployments"]}


def test_prefect_yaml_declares_the_deployments_on_a_process_pool() -> None:
    assert set(DEPLOYMENTS) == {"manifest-folder", "calibrate-faces", "manifest-report", "identity-image"}
    assert {d["work_pool"]["name"] for d in DEPLOYMENTS.values()} == {"refbench"}
    assert DEPLOYMENTS["manifest-folder"]["schedules"][0]["cron"]


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_deployment_entrypoint_loads_and_takes_its_parameters(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    path, _, function = deployment["entrypoint"].partition(":")
    flow = load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{function}")
    assert set(deployment["parameters"]) <= set(flow.parameters.properties)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port, with its own PREFECT_HOME; yields the clients' env."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(1)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def prefect(env: dict[str, str], *args: str, timeout: int = 120) -> str:
    """Run one `prefect` CLI command from the project root, as the README shows; returns its output."""
    result = subprocess.run(
        [*PREFECT, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.mark.slow
def test_loopback_deploy_run_and_worker_complete_the_manifest(
    prefect_server: dict[str, str], samples_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama_1.jpg", "obama_2.jpg", "dog.jpg"):
        shutil.copy(samples_dir / name, photos / name)
    database = tmp_path / "ws" / "refbench.duckdb"
    env = prefect_server
    prefect(env, "work-pool", "create", "refbench", "--type", "process")
    prefect(env, "--no-prompt", "deploy", "--all")
    output = prefect(
        env,
        "deployment",
        "run",
        "manifest/manifest-folder",
        "--param",
        f"photos_dir={photos}",
        "--param",
        f"db_path={database}",
    )
    flow_run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", output).group(1)
    prefect(env, "worker", "start", "--pool", "refbench", "--run-once", timeout=150)
    state = prefect(env, "flow-run", "inspect", flow_run_id)
    assert re.search(r"state_type=StateType\.COMPLETED|'type': 'COMPLETED'|\"type\": \"COMPLETED\"", state), state
    with Workspace.open(database, read_only=True) as ws:
        images, runs = ws.images.count(), ws.runs.list()
    assert [(r.kind, r.status, r.parameters["orchestrator"]) for r in runs] == [("manifest", "completed", "prefect")]
    assert images == 3
    assert time.monotonic() - started < 180

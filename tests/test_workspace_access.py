"""Who holds the workspace: a notebook kernel reads it without keeping DuckDB's lock, and a workspace another
process does hold (or a broken file) gives one line saying what to do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from refbench.settings import PROJECT_ROOT, Settings

REFBENCH = str(Path(sys.executable).with_name("refbench"))


def refbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([REFBENCH, *args], capture_output=True, text=True, timeout=timeout, check=False)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, (result.returncode, lines)
    return lines[0]


@pytest.fixture
def writer_process(demo_copy: Settings):
    """Another process holding the workspace open for writing (as a long `refbench manifest` would)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(demo_copy.database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    yield holder
    holder.stdin.close()
    holder.wait(timeout=30)


def test_a_locked_workspace_names_the_process_that_holds_it(demo_copy: Settings, writer_process) -> None:
    line = one_line(refbench("runs", "list", "--db", str(demo_copy.database)))
    assert f"locked by process {writer_process.pid}" in line
    assert "Close that notebook kernel or wait for that command to finish" in line


def test_a_corrupt_or_missing_workspace_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"not a database" * 500)
    assert "is not a usable DuckDB workspace" in one_line(refbench("runs", "list", "--db", str(broken)))
    missing = tmp_path / "missing.duckdb"
    assert "no workspace database at" in one_line(refbench("runs", "list", "--db", str(missing)))
    assert not missing.exists()


@pytest.mark.slow
def test_the_cli_writes_while_the_report_notebook_is_open_in_a_kernel(
    demo_copy: Settings, samples_dir: Path, tmp_path: Path
) -> None:
    """Notebook 04 run cell by cell in a live kernel; `refbench manifest` then writes to the same workspace."""
    from jupyter_client.manager import start_new_kernel

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(samples_dir / "dog.jpg", photos / "new_dog.jpg")
    notebook = json.loads((PROJECT_ROOT / "notebooks" / "04_manifest_report.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(PROJECT_ROOT / "notebooks"))
    try:
        replies = [
            client.execute_interactive(
                f"db_path = {str(demo_copy.database)!r}\nrun_id = ''\nmax_faces = 2", timeout=120
            )
        ]
        replies += [client.execute_interactive(code, timeout=120, output_hook=lambda _: None) for code in cells[1:]]
        assert [r["content"]["status"] for r in replies] == ["ok"] * len(replies)
        result = refbench("manifest", str(photos), "--db", str(demo_copy.database))
        assert result.returncode == 0, result.stdout + result.stderr
        # the kernel still reads, and sees what the command wrote
        reply = client.execute_interactive(
            "print(report.manifest_run(reader).metrics['images_new'])", timeout=60, output_hook=lambda _: None
        )
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

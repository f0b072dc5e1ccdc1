"""``refbench plan`` over the demo registry: dry run, stored plans, refusals, and submit via the Veo fake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from refbench.cli import app
from refbench.errors import InputError, SceneSpecError
from refbench.fakes.veo import FAKE_MP4, FakeVeo
from refbench.registry.plans import StoredRequest
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

SAMPLES = PROJECT_ROOT / "data" / "samples"
SCENE_IDS = ["s01_arrival", "s02_greeting", "s03_reaction", "s04_object", "s05_walk", "s06_override"]
runner = CliRunner()


def plan(*args: str) -> object:
    return runner.invoke(app, ["plan", *args], env={"COLUMNS": "200"})


def tables(settings: Settings) -> dict[str, int]:
    """What planning writes: selections, requests and its ``plan`` run."""
    with read_workspace(settings) as ws:
        return {
            "scene_selections": ws.plans.selections(),
            "generation_requests": len(ws.plans.requests()),
            "runs": len(ws.runs.list(limit=10_000)),
        }


def requests_by_scene(settings: Settings) -> dict[str, StoredRequest]:
    with read_workspace(settings) as ws:
        return {r.scene_id: r for r in ws.plans.requests()}


def test_sample_scenes_plan_cleanly_with_dry_run(demo_copy: Settings) -> None:
    before = tables(demo_copy)
    result = plan(str(SAMPLES / "scenes.yaml"), "--dry-run", "--db", str(demo_copy.database))
    assert result.exit_code == 0, result.output
    for scene_id in SCENE_IDS:
        assert f"scene {scene_id}: request valid" in result.output
    assert "refused" not in result.output
    assert '"reference_type": "ASSET"' in result.output and '"duration_seconds": 8' in result.output
    assert "pinned by the user (manual override)" in result.output  # s06_override
    assert tables(demo_copy) == before  # a dry run writes nothing, not even a run


def test_plan_stores_selections_and_requests(demo_copy: Settings) -> None:
    result = plan(str(SAMPLES / "scenes.yaml"), "--db", str(demo_copy.database))
    assert result.exit_code == 0, result.output
    with read_workspace(demo_copy) as ws:
        (run,) = ws.runs.list(kind="plan")  # a stored plan is one tracked run
        rows = sorted(ws.plans.requests(run_id=run.run_id), key=lambda r: r.scene_id)
        assert len(ws.plans.requests()) == len(rows)
        override = ws.plans.selection(next(r.selection_id for r in rows if r.scene_id == "s06_override"))
    assert run.status == "completed"
    assert [(r.scene_id, r.status, r.valid) for r in rows] == [(s, "planned", True) for s in SCENE_IDS]
    greeting = rows[1].request
    assert [r["image"]["tag"] for r in greeting["config"]["reference_images"]] == ["CHAR_13", "CHAR_12", "ENV_02"]
    assert (override.scene_id, override.tags, override.pins, override.unpins, override.run_id) == (
        "s06_override",
        ["CHAR_14", "CHAR_13", "CHAR_12"],
        ["CHAR_14"],
        ["CHAR_03"],
        run.run_id,
    )


def test_invalid_scenes_are_refused_with_readable_errors(demo_copy: Settings) -> None:
    result = plan(str(SAMPLES / "scenes_invalid.yaml"), "--dry-run", "--db", str(demo_copy.database))
    assert result.exit_code != 0
    assert isinstance(result.exception, SceneSpecError)
    message = str(result.exception)
    for expected in (
        "scene 'bad_shot', field shot_type: 'dutch_angle' is not one of",
        "scene 'no_prompt', field prompt: missing (this field is required)",
        "scene 'unknown_tag', field placements.0.asset_tag: unknown tag 'CHAR_99'",
        "scene 'bad_role', field placements.0.role: 'hero' is not one of",
        "scene 'bad_aspect', field aspect_ratio: aspect ratio '4:3' is not one of 16:9, 9:16",
    ):
        assert expected in message


def test_request_refused_by_a_check_exits_1(demo_copy: Settings, tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes((SAMPLES / "photos" / "rocket.png").read_bytes())
    (tmp_path / "hybrid.yaml").write_text(
        "scenes:\n  - scene_id: hybrid\n    prompt: The astronaut walks to the rocket.\n    shot_type: wide\n"
        "    first_frame: first.png\n    placements: [{asset_tag: CHAR_02, role: subject}]\n"
    )
    result = plan(str(tmp_path / "hybrid.yaml"), "--dry-run", "--db", str(demo_copy.database))
    assert result.exit_code == 1
    assert "[references_exclusive_with_frames] reference images cannot be combined with first frame" in result.output
    assert "1 request(s) refused: hybrid" in result.output


def test_submit_through_the_sdk_and_the_fake(
    demo_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "one.yaml").write_text(
        "scenes:\n  - scene_id: one\n    prompt: Two leaders shake hands.\n    shot_type: two_shot\n"
        "    placements: [{asset_tag: CHAR_13, role: subject}, {asset_tag: CHAR_12, role: interaction_target}]\n"
    )
    monkeypatch.setenv("GOOGLE_API_KEY", "cli-test-key")
    with FakeVeo(pending_polls=1) as fake:
        result = plan(
            str(tmp_path / "one.yaml"),
            "--submit",
            "--mode",
            "vertex",
            "--db",
            str(demo_copy.database),
            "--base-url",
            fake.url,
            "--poll-interval",
            "0.01",
        )
    assert result.exit_code == 0, result.output
    assert "cli-test-key" not in result.output
    stored = requests_by_scene(demo_copy)["one"]
    outputs = stored.outputs
    assert stored.status == "done" and stored.operation_name.startswith("projects/fake/")
    assert (
        Path(outputs[0]).read_bytes() == FAKE_MP4 and Path(outputs[0]).parent == demo_copy.workspace_files / "generated"
    )
    assert "cli-test-key" not in json.dumps(stored.request)
    assert [r.api_key for r in fake.requests] == ["cli-test-key"] * 3  # submit, pending poll, final poll


@pytest.mark.parametrize(
    "args, match",
    [
        (["--submit"], "only in Vertex mode: plan with --mode vertex"),
        (["--submit", "--dry-run"], "--dry-run and --submit exclude each other"),
    ],
)
def test_submit_refusals(demo_copy: Settings, args: list[str], match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    result = plan(str(SAMPLES / "scenes.yaml"), "--db", str(demo_copy.database), *args)
    assert result.exit_code != 0
    assert match in str(result.exception) + result.output


@pytest.mark.slow
def test_notebook_03_executes_with_small_parameters(demo_copy: Settings, tmp_path: Path) -> None:
    import nbformat
    from refbench.pipelines.report import execute_notebook

    notebook = PROJECT_ROOT / "notebooks" / "03_reference_selection.ipynb"
    cells = nbformat.read(notebook, as_version=4).cells
    assert [c.metadata.get("tags") for c in cells].count(["parameters"]) == 1
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in cells for line in c.source.splitlines())
    output = tmp_path / "out.ipynb"
    parameters = {"db_path": str(demo_copy.database), "thumb_size": 64, "shot_type": "close_up"}
    parameters["placements"] = "ENV_02:subject, CHAR_01:background"
    execute_notebook(notebook, output, parameters=parameters, timeout_s=300)  # report mode: a static still
    outputs = [o for c in nbformat.read(output, as_version=4).cells for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/html", "") for o in outputs)
    assert "roles</b>: ENV_02:subject, CHAR_01:background" in text  # the still names the controls' state
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "pre-flight checks: request valid" in html
    assert ">CHAR_01</td>" in html and "close-up: characters first, as face crops" in html


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("refbench.duckdb", "cannot go into a request: not a recognised image format"),
        ("bomb.png", "cannot go into a request: .* pixels exceeds the limit of 50000000"),
    ],
)
def test_frames_are_decoded_with_the_ingest_limits(demo_copy: Settings, frame: str, problem: str) -> None:
    """A frame beside the scenes file is still read as untrusted input: the workspace's own database, or a
    decompression bomb, is refused in one line, and Pillow's process-wide limit is left alone."""
    from PIL import Image

    from tests.test_imaging import bomb_png

    folder = demo_copy.database.parent
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "frames.yaml").write_text(
        f"scenes:\n  - scene_id: f\n    prompt: A street at dusk.\n    shot_type: wide\n    first_frame: {frame}\n"
    )
    result = plan(str(folder / "frames.yaml"), "--dry-run", "--db", str(demo_copy.database))
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert re.search(problem, str(result.exception)), str(result.exception)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's default, untouched by refbench

"""Image chains through the real SDK and the loopback fake: each step references the previous output, FaceSim-Arc of
the placed character is a gate at every step, drift is retried then stops the chain, a chain may start from text,
and a video chain makes start and end frames with their Veo request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from refbench.fakes.gemini import FakeGemini
from refbench.pipelines.chain import run_chain
from refbench.pipelines.common import resolve_threshold
from refbench.settings import PROJECT_ROOT, Settings

from tests.conftest import image_generator, read_workspace

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
KEY = "test-key-chain"
SCENES = """
scenes:
  - scene_id: s01_stage
    prompt: The conductor walks onto the concert stage and bows, warm stage light.
    shot_type: medium
    placements: [{asset_tag: CHAR_01, role: subject}]
  - scene_id: s02_baton
    prompt: The conductor raises the baton, the orchestra behind him, dramatic side light.
    shot_type: close_up
    placements: [{asset_tag: CHAR_01, role: subject}]
  - scene_id: s03_applause
    prompt: The conductor turns to the audience during the applause.
    shot_type: medium
    placements: [{asset_tag: CHAR_01, role: subject}]
"""


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    path = tmp_path / "scenes.yaml"
    path.write_text(SCENES)
    return path


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    """Draws the astronaut (someone else) from text alone, and for ``stranger`` answers."""
    with FakeGemini(text_image=(PHOTOS / "astronaut.png").read_bytes()) as server:
        yield server


def test_each_step_references_the_previous_output_and_keeps_identity(
    turned_copy: Settings, scenes: Path, fake: FakeGemini
) -> None:
    made = run_chain(
        turned_copy,
        scenes_file=scenes,
        generator=image_generator(fake, key=KEY),
        first_reference=PHOTOS / "obama_3.jpg",
    )
    results = made.chain.results
    assert (made.job.status, made.chain.identity, [r.name for r in results]) == (
        "ok",
        "registry",
        ["s01_stage", "s02_baton", "s03_applause"],
    )
    assert [r.references[0]["role"] for r in results] == [
        "first reference",
        "output of s01_stage",
        "output of s02_baton",
    ]
    assert results[1].references[0]["source"] == str(made.chain.outputs["s01_stage"])
    threshold = resolve_threshold(turned_copy, "insightface").value
    for result in results:
        identity = next(c for c in result.accepted.checks if c.name == "identity:CHAR_01")
        assert identity.ok and identity.value >= threshold
    assert "- CHAR_01:" in results[0].prompt  # the registry's description reinforces the image
    with read_workspace(turned_copy) as ws:
        facesim = {m.label: m.value for m in ws.runs.series(made.run_id, "facesim")}
        (job,) = ws.image_jobs.list(kind="chain")
    assert set(facesim) == {"s01_stage:CHAR_01", "s02_baton:CHAR_01", "s03_applause:CHAR_01"}
    assert job.status == "ok" and [s.status for s in job.steps] == ["ok", "ok", "ok"]


def test_drift_is_retried_then_stops_the_chain(turned_copy: Settings, scenes: Path, fake: FakeGemini) -> None:
    fake.add_rule("stranger", match="raises the baton")  # step 2 draws someone else, every time
    made = run_chain(
        turned_copy,
        scenes_file=scenes,
        generator=image_generator(fake, key=KEY),
        first_reference=PHOTOS / "obama_3.jpg",
    )
    assert made.job.status == "stopped" and [len(r.attempts) for r in made.chain.results] == [1, 3]
    assert len(fake.requests) == 4 and "s03_applause" not in made.chain.outputs
    drifted = made.chain.results[1].attempts[0]
    assert not drifted.ok and "identity drifted" in drifted.problems[0]
    assert made.job.message.startswith("stopped at step 2 of 3 (s02_baton)")


def test_drift_can_continue_from_the_best_attempt(turned_copy: Settings, scenes: Path, fake: FakeGemini) -> None:
    fake.add_rule("stranger", times=3, match="raises the baton")
    made = run_chain(
        turned_copy,
        scenes_file=scenes,
        generator=image_generator(fake, key=KEY),
        first_reference=PHOTOS / "obama_3.jpg",
        on_drift="continue",
    )
    assert made.job.status == "drifted" and [r.status for r in made.chain.results] == ["ok", "failed", "failed"]


def test_a_chain_may_start_from_text(turned_copy: Settings, scenes: Path, fake: FakeGemini) -> None:
    made = run_chain(turned_copy, scenes_file=scenes, generator=image_generator(fake, key=KEY))
    first, second, _ = made.chain.results
    assert made.job.status == "ok" and made.chain.identity == "first output"
    assert first.references == () and json.loads(json.dumps(fake.requests[0].body))["contents"][0]["parts"][0]["text"]
    second_checks = {c.name: c for c in second.accepted.checks}
    assert second_checks["identity:first output"].value > 0.9  # held to the first image's face
    assert second_checks["measured:CHAR_01"].ok and second_checks["measured:CHAR_01"].value < 0.3  # reported only


def test_video_chain_makes_start_and_end_frames_and_their_veo_request(
    turned_copy: Settings, scenes: Path, fake: FakeGemini
) -> None:
    from refbench.cli import app
    from typer.testing import CliRunner

    args = ["chain", str(scenes), "--frames", "--first-reference", str(PHOTOS / "obama_3.jpg"), "--base-url", fake.url]
    printed = CliRunner().invoke(app, [*args, "--db", str(turned_copy.database), "--json"], env={"GEMINI_API_KEY": KEY})
    assert printed.exit_code == 0, printed.output
    job = json.loads(printed.output)
    steps = {s["name"]: s for s in job["steps"]}
    assert list(steps)[:4] == ["s01_stage:start", "s01_stage:end", "s02_baton:start", "s02_baton:end"]
    assert steps["s01_stage:end"]["inputs"][0]["role"] == "output of s01_stage:start"
    assert steps["s02_baton:start"]["inputs"][0]["role"] == "output of s01_stage:start"
    request = job["veo_requests"]["s02_baton"]
    assert request["valid"] and request["config"]["reference_images"] is None
    assert request["image"]["source_path"] == steps["s02_baton:start"]["output"]
    assert request["config"]["last_frame"]["source_path"] == steps["s02_baton:end"]["output"]
    with read_workspace(turned_copy) as ws:
        stored = [r.scene_id for r in ws.plans.requests()]
    assert sorted(stored) == ["s01_stage", "s02_baton", "s03_applause"]  # one per scene, not sent


@pytest.mark.slow
def test_the_notebook_shows_the_stored_chain(turned_copy: Settings, scenes: Path, fake: FakeGemini, tmp_path) -> None:
    import nbformat
    from refbench.pipelines.report import execute_notebook

    fake.add_rule("stranger", times=1, match="raises the baton")  # one drifted attempt, then kept
    made = run_chain(
        turned_copy,
        scenes_file=scenes,
        generator=image_generator(fake, key=KEY),
        first_reference=PHOTOS / "obama_3.jpg",
    )
    output = tmp_path / "05.ipynb"
    notebook = PROJECT_ROOT / "notebooks" / "08_identity_pipeline.ipynb"
    execute_notebook(notebook, output, parameters={"db_path": str(turned_copy.database)}, timeout_s=600)
    cells = nbformat.read(output, as_version=4).cells
    outputs = [o for c in cells for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs) + "".join(
        o.get("data", {}).get("text/html", "") for o in outputs
    )
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert f"chain {made.job_id}: ok" in text and "identity drifted" in text  # the retried attempt says why
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # view sheet, chain strip, FaceSim plot

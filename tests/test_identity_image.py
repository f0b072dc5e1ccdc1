"""The matched-portrait pipeline end to end through the real google-genai SDK and the loopback fake: the fake "draws"
a real photo of someone else for the text-only generic step and hands references back for the others."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.assets.crops import frame_face
from refbench.errors import FaceImagesRefused
from refbench.faces.quality import yaw_from_landmarks
from refbench.fakes.gemini import FakeGemini
from refbench.generation.images import attempt_cost_usd
from refbench.generation.portrait import IdentityBrief
from refbench.ingest import load_image_rgb
from refbench.pipelines.common import resolve_threshold
from refbench.pipelines.identity_image import run_identity_image
from refbench.settings import PROJECT_ROOT, Settings

from tests.conftest import image_generator, read_workspace

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
KEY = "test-key-identity-image"
BRIEF = IdentityBrief("an orchestra conductor on stage at the final chord", ("man in his fifties", "short black hair"))
ONE_ATTEMPT_USD = attempt_cost_usd("gemini-2.5-flash-image")


def png(image_rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def turned_stranger(backends) -> bytes:
    """The group photo's man turned to his right (yaw -22), framed so his face spans a fifth of the width: a
    well-made generic image of someone else, head clearly turned, nose towards the image's left edge."""
    image = load_image_rgb(PHOTOS / "group_six.jpg")
    faces = backends.faces.analyze(image)
    yaws = [yaw_from_landmarks(points) for points in faces.data["landmarks"]]
    index = int(np.argmin([abs(y + 22) for y in yaws]))
    assert -30 < yaws[index] < -15
    return png(frame_face(image, faces.xyxy[index]))


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    """Draws the astronaut (Eileen Collins, facing the camera, face 18% of the width) from text alone."""
    with FakeGemini(text_image=(PHOTOS / "astronaut.png").read_bytes()) as server:
        yield server


def parts(request) -> list[str]:
    """What a request carried, in order: "text" or "image" per part."""
    return ["text" if "text" in p else "image" for p in request.body["contents"][0]["parts"]]


def test_identity_image_end_to_end(turned_copy: Settings, fake: FakeGemini) -> None:
    made = run_identity_image(turned_copy, tag="CHAR_01", brief=BRIEF, generator=image_generator(fake, key=KEY))
    job = made.job
    assert (job.status, [s.name for s in job.steps]) == ("ok", ["generic", "portrait", "final"])
    assert [len(s.attempts) for s in job.steps] == [1, 1, 1]
    # Prompt first, then the images; one face-bearing image at most; the generic step is text only.
    assert [parts(r) for r in fake.requests] == [["text"], ["text", "image"], ["text", "image"]]
    assert [i["role"] for i in job.steps[1].references] == ["identity reference (front, obama_1.jpg)"]
    assert [i["role"] for i in job.steps[2].references] == ["matched portrait"]
    assert [i["has_face"] for s in job.steps for i in s.references] == [True, True]  # one face image per request
    generic, portrait, final = (s.accepted for s in job.steps)
    threshold = resolve_threshold(turned_copy, "insightface").value
    assert generic.facesim < threshold <= portrait.facesim  # any face for the scene, Obama's for the portrait
    assert {c.name for c in generic.checks} == {"face_found", "face_size_band"}
    assert {c.name for c in final.checks} == {"face_found", "face_size_band", "identity", "head_angle"}
    assert all(0.15 <= a.width_frac <= 0.25 for a in (generic, portrait, final))
    assert job.cost_usd == pytest.approx(3 * ONE_ATTEMPT_USD, rel=0.05)
    assert "conductor" in job.steps[0].prompt and "The person: man in his fifties" in job.steps[0].prompt
    assert made.final_path == final.output_path and made.final_path.is_file()
    with read_workspace(turned_copy) as ws:
        (stored,) = ws.image_jobs.list(run_id=made.run_id)
        run = ws.runs.get(made.run_id)
        cost = [m.value for m in ws.runs.series(made.run_id, "cost_usd")]
        sheet = ws.views.latest("CHAR_01")
    assert (stored.status, stored.kind, run.status) == ("ok", "identity_image", "completed")
    assert [s.output_path for s in stored.steps] == [s.output_path for s in job.steps]
    assert cost == [pytest.approx(job.cost_usd)] and sheet.run_id == made.run_id == run.run_id


def test_a_portrait_turned_away_from_the_generic_image_is_retried(
    turned_copy: Settings, fake: FakeGemini, backends
) -> None:
    fake.text_image = turned_stranger(backends)
    fake.add_rule("mirror", times=1, match="Portrait photograph")
    made = run_identity_image(turned_copy, tag="CHAR_01", brief=BRIEF, generator=image_generator(fake, key=KEY))
    portrait = made.job.steps[1]
    first, second = portrait.attempts
    assert made.job.status == "ok" and portrait.status == "ok"
    angle = next(c for c in first.checks if c.name == "head_angle")
    assert not angle.ok and angle.message.startswith("mirrored") and second.ok
    assert second.yaw < -15 < 15 < first.yaw  # the mirrored answer turned the other way; the kept one like the scene
    assert "LEFT edge of the image" in portrait.prompt and "that same edge" in portrait.prompt
    assert "(three_quarter_right, obama_2.jpg)" in portrait.references[0]["role"]  # the view nearest the scene's


def test_two_face_images_are_refused_before_sending_unless_allowed(turned_copy: Settings, fake: FakeGemini) -> None:
    with pytest.raises(FaceImagesRefused, match="2 face-bearing images"):
        run_identity_image(
            turned_copy, tag="CHAR_01", brief=BRIEF, generator=image_generator(fake, key=KEY), scene_image=True
        )
    assert len(fake.requests) == 2  # generic and portrait; the final request never left
    with read_workspace(turned_copy) as ws:
        (refused,) = ws.image_jobs.list(kind="identity_image")
        (run,) = ws.runs.list(kind="identity-image")
    assert (refused.status, [s.name for s in refused.steps], run.status) == (
        "refused",
        ["generic", "portrait"],
        "failed",
    )
    allowed = run_identity_image(
        turned_copy,
        tag="CHAR_01",
        brief=BRIEF,
        generator=image_generator(fake, key=KEY),
        scene_image=True,
        allow_two_faces=True,
    )
    assert allowed.job.status == "ok" and parts(fake.requests[-1]) == ["text", "image", "image"]
    assert [(i["role"], i["has_face"]) for i in allowed.job.steps[2].references] == [
        ("matched portrait", True),
        ("generic scene", True),
    ]


def test_identity_image_command(turned_copy: Settings, fake: FakeGemini) -> None:
    from refbench.cli import app
    from typer.testing import CliRunner

    args = [
        "identity-image",
        "CHAR_01",
        "--identity",
        BRIEF.identity,
        "--traits",
        "man in his fifties, short black hair",
    ]
    args += ["--base-url", fake.url, "--db", str(turned_copy.database), "--json"]
    ok = CliRunner().invoke(app, args, env={"GEMINI_API_KEY": KEY})
    assert ok.exit_code == 0, ok.output
    printed = json.loads(ok.output)
    assert printed["status"] == "ok" and Path(printed["steps"][-1]["output"]).is_file()
    assert [c["name"] for c in printed["steps"][2]["attempts"][0]["checks"]][-2:] == ["identity", "head_angle"]
    fake.add_rule("shrink")  # every image far too small: the generic step fails after three attempts
    failed = CliRunner().invoke(app, args, env={"GEMINI_API_KEY": KEY})
    printed = json.loads(failed.output)
    assert failed.exit_code == 1 and printed["status"] == "failed" and len(printed["steps"]) == 1
    assert [a["checks"][1]["ok"] for a in printed["steps"][0]["attempts"]] == [False, False, False]


@pytest.fixture(scope="module")
def prefect_harness():
    from _prefect_harness import shared_harness

    yield from shared_harness()


@pytest.mark.slow
def test_identity_image_flow_under_prefect(
    prefect_harness, turned_copy: Settings, fake: FakeGemini, monkeypatch
) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    flow = load_flow_from_entrypoint(str(PROJECT_ROOT / "flows" / "identity_image.py") + ":identity_image_flow")
    result = flow(
        tag="CHAR_01",
        identity=BRIEF.identity,
        traits=list(BRIEF.traits),
        db_path=turned_copy.database,
        base_url=fake.url,
    )
    assert result["status"] == "ok" and [s["name"] for s in result["steps"]] == ["generic", "portrait", "final"]
    assert result["cost_usd"] == pytest.approx(3 * ONE_ATTEMPT_USD, rel=0.05) and Path(result["final"]).is_file()
    with read_workspace(turned_copy) as ws:
        (job,) = ws.image_jobs.list(kind="identity_image")
    assert job.job_id == result["job_id"] and job.status == "ok"

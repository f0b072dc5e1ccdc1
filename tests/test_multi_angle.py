"""Clean-sheet tier 4 through the real google-genai SDK and the loopback fake: a generated view is kept only when
ArcFace, the yaw's sign and size, and the face size all pass; the fake answers with the reference (the right
turn), the mirrored reference (the wrong turn) or a shrunken one (too small)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from refbench.clean import CleanResult
from refbench.errors import OptionError
from refbench.faces.pose import View
from refbench.fakes.gemini import FakeGemini
from refbench.generation.images import attempt_cost_usd
from refbench.pipelines.clean import TierChoice, choose_tier, run_clean_sheets
from refbench.pipelines.common import face_threshold
from refbench.pipelines.multi_angle import multi_angle_sheets
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Asset, FaceQuality

from tests.conftest import image_generator, read_workspace

KEY = "test-key-multi-angle"
ONE_ATTEMPT_USD = attempt_cost_usd("gemini-2.5-flash-image")


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


def generate(settings: Settings, fake: FakeGemini, views: list[View]) -> list[CleanResult]:
    """Tier 4 for CHAR_01 (Obama) in its own run, as ``run_clean_sheets`` does it."""
    with Workspace.open(settings) as ws:
        asset = ws.assets.list()["CHAR_01"]
        with ws.runs.track("clean", {"tier": "multi-angle"}) as run:
            from refbench.faces import create_face_analyzer

            analyzer = create_face_analyzer("insightface", model_dir=settings.models)
            results = multi_angle_sheets(
                ws,
                [asset],
                generator=image_generator(fake, key=KEY),
                analyzer=analyzer,
                threshold=face_threshold(ws, "insightface").value,
                run_id=run.run_id,
                limits=settings.image_limits,
                views=views,
            )
            ws.clean.save(results, run_id=run.run_id)
    return results


def attempt_checks(settings: Settings) -> list[dict[str, bool]]:
    """Per attempt of the newest tier-4 job: check name -> passed."""
    with read_workspace(settings) as ws:
        (job,) = ws.image_jobs.list(kind="multi_angle")[-1:]
        return [{c["name"]: c["ok"] for c in json.loads(a["checks"])} for a in ws.image_jobs.attempts(job.job_id)]


def test_a_view_with_the_right_turn_is_kept(turned_copy: Settings, fake: FakeGemini) -> None:
    (result,) = generate(turned_copy, fake, [View.THREE_QUARTER_RIGHT])
    assert (result.tier, result.view, result.status, result.attempts) == (4, "three_quarter_right", "ok", 1)
    assert result.cost_unit == "USD" and result.cost == pytest.approx(ONE_ATTEMPT_USD, rel=0.05)
    assert result.similarity >= result.threshold
    request = fake.requests[0]
    parts = request.body["contents"][0]["parts"]
    assert [("text" in p, "inlineData" in p or "inline_data" in p) for p in parts] == [(True, False), (False, True)]
    assert "LEFT edge of the image" in parts[0]["text"]  # the subject's right, in image-edge words
    assert attempt_checks(turned_copy) == [{"face_found": True, "face_size_band": True, "identity": True, "view": True}]
    with read_workspace(turned_copy) as ws:
        stored = ws.views.latest("CHAR_01").sheet.images[View.THREE_QUARTER_RIGHT]
        primary = [c for c in ws.clean.list(tag="CHAR_01") if c.is_primary]
    assert (stored.source, stored.path) == ("generated", result.path) and -45 < stored.yaw < -15
    assert 0.15 <= stored.width_frac <= 0.25 and not primary  # a view never becomes the primary sheet


def test_a_view_turned_the_wrong_way_is_rejected(turned_copy: Settings, fake: FakeGemini) -> None:
    fake.add_rule("mirror")  # the model answers with the reference mirrored: the nose points to the other edge
    (result,) = generate(turned_copy, fake, [View.THREE_QUARTER_RIGHT])
    assert (result.status, result.attempts, len(fake.requests)) == ("failed", 3, 3)
    checks = attempt_checks(turned_copy)
    assert checks == [{"face_found": True, "face_size_band": True, "identity": True, "view": False}] * 3
    assert "turned the wrong way (mirrored)" in result.message
    assert result.cost == pytest.approx(3 * ONE_ATTEMPT_USD, rel=0.05)
    with read_workspace(turned_copy) as ws:
        stored = ws.views.latest("CHAR_01").sheet.images[View.THREE_QUARTER_RIGHT]
    assert stored.source == "photo"  # the failed view left the photo in place


def test_a_face_too_small_is_rejected_then_a_good_one_kept(turned_copy: Settings, fake: FakeGemini) -> None:
    fake.add_rule("shrink", times=1)
    (result,) = generate(turned_copy, fake, [View.THREE_QUARTER_RIGHT])
    assert (result.status, result.attempts) == ("ok", 2)
    first, second = attempt_checks(turned_copy)
    assert (first["face_size_band"], second["face_size_band"]) == (False, True)


def test_missing_views_from_the_command_line(turned_copy: Settings, fake: FakeGemini) -> None:
    """The profiles are missing; the nearest photos are 3/4 views, so an echoing model returns 3/4 views: both
    profiles fail on the size of the turn, each after three attempts, every one stored with its cost."""
    from refbench.cli import app
    from typer.testing import CliRunner

    args = ["clean", "CHAR_01", "--tier", "multi-angle", "--base-url", fake.url, "--db", str(turned_copy.database)]
    printed = CliRunner().invoke(app, args, env={"GEMINI_API_KEY": KEY, "COLUMNS": "200"})
    assert printed.exit_code == 0, printed.output
    with read_workspace(turned_copy) as ws:
        rows = sorted((c.view, c.status, c.attempts, c.tier) for c in ws.clean.list(tag="CHAR_01"))
        (job,) = ws.image_jobs.list(kind="multi_angle")
        (run,) = ws.runs.list(kind="clean")
        cost = [m.value for m in ws.runs.series(run.run_id, "cost_usd")]
    assert rows == [("profile_left", "failed", 3, 4), ("profile_right", "failed", 3, 4)]
    assert job.status == "failed" and [s.name for s in job.steps] == ["view-profile_right", "view-profile_left"]
    assert (
        "mirrored_reference" not in job.steps[0].inputs[0]["role"] and "three_quarter" in job.steps[0].inputs[0]["role"]
    )
    assert cost == [pytest.approx(6 * ONE_ATTEMPT_USD, rel=0.05)] and job.cost_usd == pytest.approx(cost[0])
    assert "profile_left" in printed.output


def character(quality: float) -> Asset:
    face = FaceQuality(0.2, 0.0, 300.0, 0.5, quality)
    return Asset("x", "CHAR_07", "character", "c", crop_path=Path("c.jpg"), source_image_id="i", face=face)


@pytest.mark.parametrize(
    ("quality", "missing", "model", "budget", "tier"),
    [
        (0.9, 2, "gemini-2.5-flash-image", 1.0, "multi-angle"),  # views missing, affordable
        (0.9, 2, "gemini-2.5-flash-image", 0.1, "rembg-gray"),  # 2 views x 3 attempts x $0.039 > $0.10
        (0.9, 2, None, 1.0, "rembg-gray"),  # no generator: free, local
        (0.4, 0, "gemini-2.5-flash-image", 1.0, "generative"),  # every view, but a poor best face
        (0.9, 0, "gemini-2.5-flash-image", 1.0, "rembg-gray"),
    ],
)
def test_auto_picks_the_tier_from_quality_views_and_cost(quality, missing, model, budget, tier) -> None:
    choice = choose_tier(character(quality), missing_views=missing, generator_model=model, budget_left_usd=budget)
    assert isinstance(choice, TierChoice) and choice.tier == tier
    assert choice.max_cost_usd <= budget


def test_auto_from_the_command_line(turned_copy: Settings, fake: FakeGemini) -> None:
    from refbench.cli import app
    from typer.testing import CliRunner

    db = str(turned_copy.database)
    printed = CliRunner().invoke(
        app, ["clean", "CHAR_01", "--auto", "--base-url", fake.url, "--db", db], env={"GEMINI_API_KEY": KEY}
    )
    assert printed.exit_code == 0, printed.output
    assert "CHAR_01: multi-angle (2 view(s) missing from its photos)" in printed.output
    with read_workspace(turned_copy) as ws:
        (run,) = ws.runs.list(kind="clean")
    assert run.parameters["chosen"] == {"CHAR_01": "multi-angle"}


def test_multi_angle_needs_a_generator(turned_copy: Settings) -> None:
    with pytest.raises(OptionError, match="multi-angle needs an image generator"):
        run_clean_sheets(turned_copy, tier="multi-angle", tags=["CHAR_01"])


def test_service_failures_use_the_shared_retry_policy_and_a_blocked_answer_costs_its_input(
    turned_copy: Settings, fake: FakeGemini
) -> None:
    fake.add_rule("safety", times=1)  # an answer without an image: one checked attempt spent, input tokens billed
    fake.add_rule("503", times=1)  # then overloaded once: retried inside attempt 2 by google_api.RetryPolicy
    (result,) = generate(turned_copy, fake, [View.THREE_QUARTER_RIGHT])
    with read_workspace(turned_copy) as ws:
        (job,) = ws.image_jobs.list(kind="multi_angle")
        blocked, kept = ws.image_jobs.attempts(job.job_id)
    assert (result.status, result.attempts, len(fake.requests)) == ("ok", 2, 3)
    assert "returned no image (finish reason SAFETY)" in blocked["error"] and blocked["output_path"] is None
    assert 0 < blocked["cost_usd"] < 0.001 and kept["api_attempts"] == 2


def test_views_generated_before_count_as_present(turned_copy: Settings) -> None:
    from refbench.identity.views import ViewImage
    from refbench.pipelines.multi_angle import current_sheet

    with Workspace.open(turned_copy) as ws:
        photos, n_faces = current_sheet(ws, "CHAR_01", face_model="insightface")
        made = ViewImage(View.PROFILE_LEFT, photos.images[View.FRONT].path, "generated", 60.0, 0.2, similarity=0.8)
        ws.views.save(photos.with_images({View.PROFILE_LEFT: made}), path=Path("s.png"), identity_id=None,
                      n_faces=n_faces, run_id=None)  # fmt: skip
        again, _ = current_sheet(ws, "CHAR_01", face_model="insightface")
    assert photos.missing == [View.PROFILE_RIGHT, View.PROFILE_LEFT]
    assert again.missing == [View.PROFILE_RIGHT] and again.images[View.PROFILE_LEFT].source == "generated"

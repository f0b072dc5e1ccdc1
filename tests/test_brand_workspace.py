"""Quality tiers and costs through ``refbench plan`` and ``runs compare``; logos judged, preferred and overlaid
in a real workspace (the demo registry of the sample photos)."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest
from refbench.brand.overlay import OverlayOptions
from refbench.cli import app
from refbench.errors import UnknownNameError
from refbench.generation.costs import PRICE_TABLE_DATE, PRICES, description_usd, price_table, unit_price
from refbench.generation.tiers import TIERS, check_tier, get_tier
from refbench.generation.veo import validate_veo_request
from refbench.pipelines.brand import judge_logos, overlay, set_logo_position
from refbench.pipelines.library import add_assets
from refbench.pipelines.plan import PlanOptions, plan_scenes
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

SAMPLES = PROJECT_ROOT / "data" / "samples"
NUMPY_LOGO = Path(str(importlib.resources.files("distributed").joinpath("http/static/images/numpy.png")))
runner = CliRunner()
SHORT_SCENES = """
scenes:
  - scene_id: t01_short_text_only
    prompt: A quiet harbour at dawn, slow pan.
    shot_type: establishing
    duration_seconds: 4
  - scene_id: t02_portrait_six_seconds
    prompt: A tall lighthouse against the sky.
    shot_type: wide
    aspect_ratio: "9:16"
    duration_seconds: 6
  - scene_id: t03_own_resolution
    prompt: Close-up of the leader listening.
    shot_type: close_up
    resolution: "1080p"
    placements:
      - {asset_tag: CHAR_01, role: subject}
"""


@pytest.mark.parametrize("tier", list(TIERS))
def test_each_tier_is_consistent_and_priced(tier: str) -> None:
    preset = get_tier(tier)
    assert check_tier(preset) == []
    assert unit_price(preset.video_model, preset.resolution, "second") is not None
    assert unit_price(preset.image_model, preset.image_size, "image") is not None
    assert description_usd(preset.describer) is not None


@pytest.mark.parametrize("mode", ["gemini", "vertex"])
@pytest.mark.parametrize("tier", list(TIERS))
def test_every_tier_passes_every_preflight_check(demo_copy: Settings, tmp_path: Path, tier: str, mode: str) -> None:
    short = tmp_path / "short.yaml"
    short.write_text(SHORT_SCENES)
    for scenes in (SAMPLES / "scenes.yaml", short):
        planned = plan_scenes(
            scenes, settings=demo_copy, options=PlanOptions(mode=mode, tier=tier), store_results=False
        )
        for item in planned.plans:
            failed = [c for c in validate_veo_request(item.request) if not c.ok]
            assert not failed, (tier, mode, item.scene.scene_id, failed)
            assert item.request.model == TIERS[tier].video_model and item.cost_usd is not None and item.cost_usd > 0
    notes = {p.scene.scene_id: (p.request.config["resolution"], p.tier_note) for p in planned.plans}
    if TIERS[tier].resolution == "1080p":  # 1080p takes 8 s only: shorter scenes keep their length at 720p
        assert notes["t01_short_text_only"] == ("720p", "1080p takes 8 s only: the scene's 4 s stays, at 720p")
    assert notes["t03_own_resolution"] == ("1080p", "the scene's own resolution")


def test_an_unknown_tier_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'draft'"):
        get_tier("drafts")


def test_plan_prints_stores_and_compares_costs(demo_copy: Settings) -> None:
    db = ["--db", str(demo_copy.database)]
    draft = runner.invoke(app, ["plan", str(SAMPLES / "scenes.yaml"), "--tier", "draft", *db], env={"COLUMNS": "200"})
    final = runner.invoke(app, ["plan", str(SAMPLES / "scenes.yaml"), "--tier", "final", *db], env={"COLUMNS": "200"})
    assert draft.exit_code == 0 and final.exit_code == 0, draft.output + final.output
    assert "cost video: 8 second(s) of veo-3.1-fast-generate-preview 720p = $1.200" in draft.output
    assert f"(prices as of {PRICE_TABLE_DATE})" in draft.output
    with read_workspace(demo_copy) as ws:
        runs = sorted(ws.runs.list(kind="plan"), key=lambda r: r.started_at)
        draft_run, final_run = runs[-2], runs[-1]
        lines = ws.brand.costs(draft_run.run_id)
    scenes = 6
    assert draft_run.parameters["tier"] == "draft" and draft_run.parameters["price_table_date"] == PRICE_TABLE_DATE
    assert draft_run.metrics["cost_usd"] == pytest.approx(scenes * (8 * 0.15 + 0.039))  # video + one storyboard image
    assert sum(line.usd for line in lines) == pytest.approx(draft_run.metrics["cost_usd"])
    assert final_run.metrics["cost_usd"] > draft_run.metrics["cost_usd"]
    compared = runner.invoke(app, ["runs", "compare", draft_run.run_id, final_run.run_id, *db], env={"COLUMNS": "200"})
    assert compared.exit_code == 0, compared.output
    assert f"${draft_run.metrics['cost_usd']:.2f}" in compared.output and "cost_usd_video" in compared.output


def test_price_overrides_come_from_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"veo-3.1-fast-generate-preview|720p|second": 0.12}))
    monkeypatch.setenv("REFBENCH_PRICES_FILE", str(prices))
    assert unit_price("veo-3.1-fast-generate-preview", "720p", "second") == 0.12
    assert len(price_table()) == len(PRICES)  # overridden, not added
    assert all(p.as_of and p.source.startswith("https://") for p in PRICES)


def test_logos_judged_preferred_and_overlaid_in_a_workspace(demo_copy: Settings, tmp_path: Path) -> None:
    added = add_assets([NUMPY_LOGO], settings=demo_copy, asset_type="logo", index=False)
    ((tag, kind, _, _),) = added.added
    run = judge_logos(demo_copy, ocr=False)
    assert kind == "logo" and run.verdicts[tag].is_logo
    assert not any(v.is_logo for t, v in run.verdicts.items() if t.startswith("CHAR_"))
    assert judge_logos(demo_copy, tags=[tag], ocr=False).unchanged == [tag]  # nothing new to judge
    set_logo_position(tag, "bottom-left", settings=demo_copy)
    outcome = overlay(
        tag,
        str(SAMPLES / "photos" / "dog.jpg"),
        tmp_path / "dog.png",
        settings=demo_copy,
        options=OverlayOptions(),
        corner_given=False,
    )
    assert outcome.plan.placement.corner == "bottom-left" and outcome.corner_source == f"position preference of {tag}"
    with read_workspace(demo_copy) as ws:
        (record,) = ws.brand.overlays()
        (logo,) = ws.brand.logos(only_logos=True)
    assert (record.logo, record.corner, record.kind) == (tag, "bottom-left", "image") and outcome.run_id
    assert (logo.tag, logo.position_preference) == (tag, "bottom-left") and logo.reasons

"""The offline describer on the real demo workspace: measured facts in, distinct descriptions out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.cli import app
from refbench.describe import Description, create_describer
from refbench.describe.local import PALETTE, LocalDescriber, describe_yaw, dominant_colours, face_size_factor
from refbench.errors import OptionError, UnknownBackendError
from refbench.pipelines.describe import describe_assets
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Asset
from typer.testing import CliRunner

from tests.conftest import read_workspace

# A bus with two faces, a cup and a kite: one asset of each kind the tests below change, in ~2 s.
OWN_PHOTOS = ("bus.jpg", "coffee.png", "kite.jpg")


def _assets(settings: Settings) -> list[Asset]:
    with read_workspace(settings) as ws:
        return sorted(ws.assets.list(), key=lambda a: a.asset_id)


@pytest.fixture
def own_workspace(settings: Settings, samples_dir: Path, backends: Backends, tmp_path: Path) -> Settings:
    """A workspace of a few sample photos whose crop files this test owns (the demo's crops are shared)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in OWN_PHOTOS:
        shutil.copy(samples_dir / name, photos / name)
    run_manifest(photos, settings=settings, options=ManifestOptions(), backends=backends)
    return settings


@pytest.fixture
def described(demo_copy: Settings) -> Settings:
    """The demo workspace copy after one local describe run."""
    summary = describe_assets(demo_copy, LocalDescriber())
    assert summary.by_status == {"ok": summary.assets, "blocked": 0, "malformed": 0, "error": 0}
    return demo_copy


def test_every_active_asset_gets_a_distinct_description(described: Settings) -> None:
    assets = _assets(described)
    assert len(assets) > 20
    for a in assets:
        assert a.reverse_prompt and a.visual_description and a.suggested_name, a.tag
        assert 1.0 <= a.suitability <= 10.0
    assert len({a.reverse_prompt for a in assets}) == len(assets), "reverse prompts repeat between assets"
    assert len({a.visual_description for a in assets}) == len(assets), "visual descriptions repeat between assets"
    assert len({round(a.suitability, 1) for a in assets}) >= 10, "suitability looks constant"


JARGON = re.compile(r"\d|%|°|\b(yaw|sharpness|exposure|detector|score|quality|px|camera-(left|right))\b", re.I)


def test_descriptions_are_plain_language_with_measurements_in_details(described: Settings) -> None:
    """Texts go into generator prompts: words only (counts up to nine spelled out); every figure is in details."""
    colour = re.compile("|".join(sorted(PALETTE, key=len, reverse=True)))
    assets = _assets(described)
    for a in assets:
        prompt, visual = a.reverse_prompt, a.visual_description
        assert colour.search(prompt) and colour.search(visual), (a.tag, prompt)
        assert not JARGON.search(prompt.replace("-format", "")), (a.tag, prompt)
        assert not JARGON.search(visual), (a.tag, visual)
        if a.asset_type == "character":
            assert a.face is not None, a.tag  # every character shows its identity's best face
            assert re.search(r"facing the camera|head turned to their (left|right)|in profile", prompt), prompt
        elif a.asset_type != "environment":
            assert a.label in prompt and a.label in visual, (a.label, prompt)
    character = next(a for a in assets if a.face is not None)
    details = LocalDescriber().describe(character).details
    assert (details["yaw"], details["face_width_frac"]) == (character.face.yaw, character.face.width_frac)
    assert {"sharpness", "exposure", "face_quality", "detector_score", "colours"} <= set(details)


def test_suitability_follows_measured_face_quality(described: Settings) -> None:
    # (suitability, best-face quality, best-face width) of every active character
    rows = [(a.suitability, a.face.quality_score, a.face.width_frac) for a in _assets(described) if a.face]
    assert len(rows) == sum(a.asset_type == "character" for a in _assets(described)) > 5
    expected = [1 + 9 * q * face_size_factor(w) for _, q, w in rows]
    np.testing.assert_allclose([r[0] for r in rows], expected, atol=0.051)
    worst = min(rows, key=lambda r: r[1])
    assert worst[0] == min(r[0] for r in rows)


def test_local_describer_is_deterministic(demo_copy: Settings) -> None:
    assets = [a for a in _assets(demo_copy) if a.crop_path.is_file()][:6]
    assert len(assets) == 6
    first = [LocalDescriber().describe(a) for a in assets]
    second = [LocalDescriber().describe(a) for a in assets]
    assert [d.reverse_prompt for d in first] == [d.reverse_prompt for d in second]
    assert [d.suitability for d in first] == [d.suitability for d in second]


def test_rerun_uses_the_cache_and_a_changed_crop_is_described_again(own_workspace: Settings) -> None:
    first = describe_assets(own_workspace, LocalDescriber())
    assert (first.calls, first.by_status["ok"]) == (first.assets, first.assets) and first.assets >= 4
    again = describe_assets(own_workspace, LocalDescriber())
    assert (again.calls, again.cached) == (0, again.assets)
    crop = next(a for a in _assets(own_workspace) if a.asset_type == "prop").crop_path
    with Image.open(crop) as image:  # this workspace owns its crops: change one in place
        flipped = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    flipped.save(crop, quality=80)
    third = describe_assets(own_workspace, LocalDescriber())
    assert (third.calls, third.cached) == (1, third.assets - 1)
    forced = describe_assets(own_workspace, LocalDescriber(), force=True)
    assert (forced.calls, forced.cached) == (forced.assets, 0)


def test_missing_crop_is_recorded_and_the_run_completes(own_workspace: Settings) -> None:
    vehicle = next(a for a in _assets(own_workspace) if a.asset_type == "vehicle")
    vehicle.crop_path.unlink()
    summary = describe_assets(own_workspace, LocalDescriber())
    assert summary.by_status["error"] == 1 and summary.by_status["ok"] == summary.assets - 1
    with read_workspace(own_workspace) as ws:
        (call,) = [c for c in ws.descriptions.calls() if c.asset_id == vehicle.asset_id]
        run_status = ws.runs.get(summary.run_id).status
    assert (call.status, call.run_id, run_status) == ("error", summary.run_id, "completed")
    assert call.reason == f"crop file missing: {vehicle.crop_path}"


@pytest.mark.parametrize(
    ("rgb_halves", "expected"),
    [
        (((200, 30, 35), (200, 30, 35)), {"red": 1.0}),
        (((25, 35, 90), (245, 245, 245)), {"navy": 0.5, "white": 0.5}),
        (((60, 150, 60), (20, 20, 20)), {"green": 0.5, "black": 0.5}),
    ],
)
def test_dominant_colours_are_named_with_their_share(rgb_halves: tuple, expected: dict[str, float]) -> None:
    image = np.zeros((80, 120, 3), dtype=np.uint8)
    image[:, :60], image[:, 60:] = rgb_halves
    colours = dominant_colours(image)
    assert {c.name: round(c.share, 2) for c in colours} == expected


@pytest.mark.parametrize(
    ("yaw", "words"),
    [
        (3.0, "facing the camera"),
        (-20.0, "head turned to their right, the nose towards the left of the frame"),
        (30.0, "head turned to their left, the nose towards the right of the frame"),
        (70.0, "in profile, the nose pointing to the right edge of the frame"),
    ],
)
def test_yaw_words_name_the_subjects_side_and_the_image_edge(yaw: float, words: str) -> None:
    assert describe_yaw(yaw) == words


@pytest.mark.parametrize(("width_frac", "factor"), [(0.20, 1.0), (0.15, 1.0), (0.05, 2 / 3), (0.40, 0.5), (0.9, 0.5)])
def test_face_size_factor_prefers_the_15_to_25_percent_band(width_frac: float, factor: float) -> None:
    assert face_size_factor(width_frac) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "fine", "backend": "x", "model": "m", "prompt_version": "v"}, "status must be one of"),
        ({"status": "ok", "backend": "x", "model": "m", "prompt_version": "v", "suitability": 11.0}, r"\[1, 10\]"),
    ],
)
def test_description_checks_its_fields(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Description(**kwargs)


@pytest.mark.parametrize(
    ("name", "model", "error", "message"),
    [
        ("llava", None, UnknownBackendError, "No describer backend named 'llava'; available: gemini, local"),
        ("local", "gemini-2.5-pro", OptionError, "the local describer uses no model"),
    ],
)
def test_create_describer_refuses_what_it_cannot_do(name: str, model: str | None, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        create_describer(name, model=model)


def test_cli_describe_local_on_a_copy_of_the_demo_database(demo_copy: Settings, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_copy.database, db)
    result = CliRunner().invoke(app, ["describe", "--backend", "local", "--db", str(db)])
    assert result.exit_code == 0, result.output
    with Workspace.open(db, read_only=True) as ws:
        assets = ws.assets.list()
    missing, total = sum(a.reverse_prompt is None for a in assets), len(assets)
    assert missing == 0 and f"│ {total}" in result.output

"""Logo overlay on images: pixel-exact on a real photo, corners, SVG logos, refusals, and the ``--json`` contract."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.brand.artwork import load_artwork, render_svg, svg_text
from refbench.brand.composite import FittedLogo, composite, resize_rgba
from refbench.brand.overlay import OverlayOptions
from refbench.brand.placement import CORNERS, choose_corner, corner_scores
from refbench.cli import app
from refbench.errors import ImageRejected, OptionError, ShapeError
from refbench.ingest import load_image_rgb
from refbench.pipelines.brand import overlay
from refbench.settings import PROJECT_ROOT, Settings
from refbench.types import Detections
from typer.testing import CliRunner

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
MODELS = PROJECT_ROOT / "data" / "models"
# A real logo with real alpha (anti-aliased edges, fully clear corners), 200x200, shipped by dask.
PANDAS_LOGO = Path(str(importlib.resources.files("distributed").joinpath("http/static/images/pandas.png")))
DASK_SVG = Path(str(importlib.resources.files("distributed").joinpath("http/static/images/dask-logo.svg")))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_composite(logo_rgba: np.ndarray, target_rgb: np.ndarray, opacity: float) -> np.ndarray:
    """The composite written out independently, in float64: round-half-up of the alpha mix of 8-bit values."""
    level = round(255 * opacity)
    alpha = np.floor(logo_rgba[:, :, 3].astype(np.float64) * level / 255.0 + 0.5)[:, :, None]
    mixed = (logo_rgba[:, :, :3] * alpha + target_rgb.astype(np.float64) * (255.0 - alpha)) / 255.0
    return np.floor(mixed + 0.5).astype(np.uint8)


@pytest.mark.parametrize("opacity", [1.0, 0.6])
def test_overlay_is_pixel_exact_on_a_real_photo(tmp_path: Path, opacity: float) -> None:
    target_file = PHOTOS / "zidane.jpg"
    before = (sha256(target_file), target_file.stat().st_mtime_ns)
    logo_rgba = np.asarray(Image.open(PANDAS_LOGO).convert("RGBA"))
    assert (logo_rgba[:, :, 3] == 0).any() and ((logo_rgba[:, :, 3] > 0) & (logo_rgba[:, :, 3] < 255)).any()
    out = tmp_path / "zidane_logo.png"
    settings = Settings(data_dir=tmp_path / "no-workspace", model_dir=MODELS)
    options = OverlayOptions(width_px=logo_rgba.shape[1], opacity=opacity)  # the logo's native width

    outcome = overlay(str(PANDAS_LOGO), str(target_file), out, settings=settings, options=options)

    target, result = load_image_rgb(target_file), np.asarray(Image.open(out).convert("RGB"))
    x, y, w, h = outcome.plan.placement.xywh
    assert (w, h) == (200, 200) and outcome.plan.logo.how == "native" and outcome.pixel_exact
    inside = np.zeros(target.shape[:2], bool)
    inside[y : y + h, x : x + w] = True
    assert np.array_equal(result[~inside], target[~inside])  # zero change outside
    assert np.array_equal(
        result[y : y + h, x : x + w], reference_composite(logo_rgba, target[y : y + h, x : x + w], opacity)
    )
    clear = logo_rgba[:, :, 3] == 0
    assert np.array_equal(result[y : y + h, x : x + w][clear], target[y : y + h, x : x + w][clear])
    if opacity == 1.0:  # the logo's own pixels, not resampled ones, where it is opaque
        solid = logo_rgba[:, :, 3] == 255
        assert np.array_equal(result[y : y + h, x : x + w][solid], logo_rgba[:, :, :3][solid])
    assert (sha256(target_file), target_file.stat().st_mtime_ns) == before  # the target is never modified


def test_auto_corner_is_the_calmest_that_covers_no_face(tmp_path: Path) -> None:
    target = load_image_rgb(PHOTOS / "zidane.jpg")  # two men filling the middle and right of the frame
    outcome = overlay(
        str(PANDAS_LOGO),
        str(PHOTOS / "zidane.jpg"),
        tmp_path / "out.png",
        settings=Settings(data_dir=tmp_path / "none", model_dir=MODELS),
        options=OverlayOptions(),
        corner_given=False,
    )
    placement = outcome.plan.placement
    scores = {s.corner: s for s in placement.scores}
    assert outcome.corner_source == "auto" and placement.corner in CORNERS
    assert scores[placement.corner].face_overlap == 0
    free = [s for s in scores.values() if s.face_overlap == 0]
    assert scores[placement.corner].busyness == min(s.busyness for s in free)
    assert placement.reason.startswith(f"{placement.corner}: calmest corner") and "edge density" in placement.reason
    assert outcome.plan.logo.wh[0] == round(0.15 * target.shape[1])  # default: 15% of the target's width
    assert outcome.plan.logo.how == "area"


def test_a_corner_covering_a_face_is_avoided_even_when_it_is_the_calmest() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(100, 156, (400, 600, 3), dtype=np.uint8)  # mild texture everywhere ...
    frame[:200, 300:] = 128  # ... but the top-right quarter is perfectly flat: the calmest corner
    frame[250:, :250] = rng.integers(0, 255, (150, 250, 3), dtype=np.uint8)  # bottom-left: busy
    face = Detections(np.array([[520, 10, 590, 90]], np.float32), np.ones(1), np.zeros(1))  # in the top-right
    scores = corner_scores([frame], logo_wh=(60, 40), margin=10, faces=[face])
    assert min(scores, key=lambda s: s.busyness).corner == "top-right"
    placement = choose_corner(scores)
    assert placement.corner in ("top-left", "bottom-right")
    assert "calmest corner that covers no face" in placement.reason and "top-right: " in placement.reason
    assert choose_corner(scores, requested="top-right").reason == "top-right as requested (it covers a face)"
    everywhere = [Detections(np.array([[0, 0, 600, 400]], np.float32), np.ones(1), np.zeros(1))]
    cornered = choose_corner(corner_scores([frame], logo_wh=(60, 40), margin=10, faces=everywhere))
    assert "every corner covers a face" in cornered.reason


def test_an_svg_logo_is_drawn_at_the_pasted_width_not_resampled() -> None:
    artwork = load_artwork(DASK_SVG)
    fitted = artwork.at_width(137)
    drawn = render_svg(artwork.svg_text or "", width=137, max_pixels=10**7)
    assert fitted.how == "vector" and fitted.wh[0] == 137 and np.array_equal(fitted.rgba, drawn)
    assert artwork.at_width(artwork.native_wh[0]).how == "native"


@pytest.mark.parametrize(
    ("svg", "code"),
    [
        (
            '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="/etc/passwd"/></svg>',
            "svg_unsafe",
        ),
        ('<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg width="1" height="1">&x;</svg>', "svg_unsafe"),
        ("not an svg at all", "not_an_image"),
    ],
)
def test_unsafe_or_broken_svgs_are_refused(svg: str, code: str) -> None:
    with pytest.raises(ImageRejected) as raised:
        svg_text(svg.encode())
    assert raised.value.code == code


def test_resampling_keeps_edges_free_of_dark_fringes() -> None:
    logo = np.zeros((40, 40, 4), np.uint8)
    logo[10:30, 10:30] = (255, 255, 255, 255)  # white square; the clear pixels are black
    small = resize_rgba(logo, 15)
    edge = small.rgba[(small.rgba[:, :, 3] > 0) & (small.rgba[:, :, 3] < 255)]
    assert small.how == "area" and len(edge) and (edge[:, :3] == 255).all()  # premultiplied: no black bleeds in


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"opacity": 1.5}, OptionError, "opacity"),
        ({"corner": "middle"}, OptionError, "corner 'middle'"),
        ({"width_frac": 0.0}, OptionError, "width fraction"),
        ({"margin_frac": 0.6}, OptionError, "margin"),
        ({"blend": "cmyk"}, OptionError, "blend"),
    ],
)
def test_bad_options_are_refused(change: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        OverlayOptions(**change)


def test_a_logo_too_big_for_the_target_is_refused() -> None:
    target = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ShapeError, match="does not fit"):
        composite(target, FittedLogo(np.zeros((10, 60, 4), np.uint8), "native"), xy=(0, 0))


def test_linear_light_blend_differs_only_where_the_logo_is_translucent() -> None:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    logo = FittedLogo(rng.integers(0, 256, (30, 30, 4), dtype=np.uint8), "native")
    srgb, linear = composite(target, logo, xy=(0, 0)), composite(target, logo, xy=(0, 0), blend="linear")
    alpha = logo.rgba[:, :, 3]
    assert np.array_equal(srgb[alpha == 0], linear[alpha == 0]) and np.array_equal(
        srgb[alpha == 255], linear[alpha == 255]
    )
    assert not np.array_equal(srgb, linear)


def test_cli_json_contract_and_refusal_to_overwrite_the_target(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "photo.png"
    Image.open(PHOTOS / "bus.jpg").save(target)
    args = ["overlay", str(DASK_SVG), str(target), "--corner", "bottom-right", "--width-frac", "0.2", "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out.png"), "--db", str(tmp_path / "ws.duckdb")])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["corner"] == "bottom-right" and answer["reason"] == "bottom-right as requested"
    x, y, w, h = answer["xywh"]
    width, height = Image.open(target).size
    margin = round(0.04 * min(width, height))  # --margin-frac of the shorter side, from both edges
    assert w == round(0.2 * width) and (x + w, y + h) == (width - margin, height - margin)
    same = runner.invoke(app, [*args, "--out", str(target), "--db", str(tmp_path / "ws.duckdb")])
    assert same.exit_code != 0 and "is the target itself" in str(same.exception or same.output)

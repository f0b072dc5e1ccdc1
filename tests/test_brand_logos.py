"""Logo detection on real files: logos that packages ship (as shipped and flattened to JPEG) vs real photos."""

from __future__ import annotations

import importlib.resources
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.brand.logos import LogoDetector, fit_logo_model, measure
from refbench.library.images import load_rgba
from refbench.provision.logos import LOGOS, flattened_jpeg, logo_png_bytes
from refbench.settings import PROJECT_ROOT
from refbench.types import Detections

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
LIBRARY = PROJECT_ROOT / "data" / "samples" / "library"
detector = LogoDetector()


def rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.parametrize("name", ["numpy.png", "dask.svg", "matplotlib_wordmark.png", "prefect_app.png"])
def test_shipped_logos_are_logos_as_shipped_and_flattened(name: str) -> None:
    sample = next(s for s in LOGOS if s.name == name)
    png = logo_png_bytes(sample)
    for image in (rgba(png), np.asarray(Image.open(io.BytesIO(flattened_jpeg(png))).convert("RGB"))):
        verdict = detector.judge(image)
        assert verdict.is_logo and verdict.confidence >= 0.5, verdict.reasons
        assert verdict.reasons and all(r[0] in "+-" for r in verdict.reasons)


@pytest.mark.parametrize(
    "path", [PHOTOS / "bus.jpg", PHOTOS / "coffee.png", PHOTOS / "obama_1.jpg", LIBRARY / "gravel.png"]
)
def test_photos_are_not_logos(path: Path) -> None:
    verdict = detector.judge(load_rgba(path))
    assert not verdict.is_logo and verdict.confidence < 0.5, verdict.reasons
    assert any("bits/pixel" in r or "flat colour" in r for r in verdict.reasons)


def test_evidence_reads_what_it_says() -> None:
    logo = rgba(logo_png_bytes(next(s for s in LOGOS if s.name == "numpy.png")))
    evidence = measure(logo)
    assert evidence.transparent_frac == pytest.approx((logo[:, :, 3] < 128).mean(), abs=0.02)
    assert evidence.palette_top8 > 0.9 and evidence.flat_frac > 0.8 and evidence.png_bits_per_pixel < 3
    assert evidence.aspect == pytest.approx(1.0) and evidence.text_area_frac is None
    photo = measure(load_rgba(PHOTOS / "bus.jpg"))
    assert photo.transparent_frac == 0 and photo.flat_frac < 0.1 and photo.png_bits_per_pixel > 10


def test_ocr_text_counts_for_a_wordmark_and_missing_text_counts_for_nothing() -> None:
    wordmark = rgba(logo_png_bytes(next(s for s in LOGOS if s.name == "jupyter_wordmark.png")))
    height, width = wordmark.shape[:2]
    text = Detections(np.array([[0, 0, width, height * 0.6]], np.float32), np.ones(1), np.zeros(1)).with_data(
        text=np.array(["jupyter"], dtype=object)
    )
    with_text, without = detector.judge(wordmark, text=text), detector.judge(wordmark)
    assert with_text.contributions["text_area"] > 0 and without.contributions["text_area"] == 0
    assert with_text.confidence > without.confidence


def test_fitting_recovers_a_separating_model() -> None:
    logos = [measure(rgba(logo_png_bytes(s))) for s in LOGOS[:6]]
    photos = [measure(load_rgba(p)) for p in sorted(PHOTOS.glob("*.jpg"))[:6]]
    model = fit_logo_model(logos + photos, [True] * 6 + [False] * 6)
    fitted = LogoDetector(model=model)
    assert all(fitted.judge_evidence(e).is_logo for e in logos) and not any(
        fitted.judge_evidence(e).is_logo for e in photos
    )


def test_dev_set_labels_cover_every_provisioned_logo() -> None:
    import csv

    with (PROJECT_ROOT / "data" / "samples" / "logos.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labelled = {r["path"] for r in rows if r["label"] == "logo"}
    assert {f"logos/{Path(s.name).stem}.png" for s in LOGOS} <= labelled
    assert sum(r["label"] == "not_logo" for r in rows) >= 40
    assert importlib.resources.files("distributed").joinpath("http/static/images/dask-logo.svg").is_file()

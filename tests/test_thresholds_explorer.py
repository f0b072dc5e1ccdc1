"""Notebook 02's explorer on the sample photos and distractors: moving the threshold changes what it shows."""

from __future__ import annotations

import re

import pytest
from refbench.settings import PROJECT_ROOT
from refbench.workbench.thresholds import ExplorerData, errors_at, flipped_pairs, flips_html, load_explorer_data

SAMPLES = PROJECT_ROOT / "data" / "samples"


@pytest.fixture(scope="module")
def data() -> ExplorerData:
    return load_explorer_data(
        "insightface",
        identities_file=SAMPLES / "identities.csv",
        images_dir=SAMPLES / "photos",
        model_dir=PROJECT_ROOT / "data" / "models",
        current_threshold=0.30,
        distractors_dir=SAMPLES / "distractors",
    )


def test_distractors_take_part(data: ExplorerData) -> None:
    assert data.calibration.n_distractor_faces >= 20 and len(data.files) == data.n_labelled + 29
    assert any("#" in name for name in data.identities)  # each distractor face is its own person


@pytest.mark.parametrize(
    ("threshold", "summary"),
    [
        (0.30, r"No pair changes decision .*; move the slider\. 2 pair\(s\) decided wrongly at 0\.30"),
        (0.45, r"2 pair\(s\) flip from 0\.30 \(in use\) to 0\.45: 2 error\(s\) fixed, 0 new error\(s\)"),
        (0.60, r"3 pair\(s\) flip from 0\.30 \(in use\) to 0\.60: 2 error\(s\) fixed, 1 new error\(s\)"),
    ],
)
def test_the_slider_shows_which_pairs_flip(data: ExplorerData, threshold: float, summary: str) -> None:
    text = " ".join(re.sub(r"<[^>]+>", " ", flips_html(data, threshold, reference=0.30)).split())
    assert re.search(summary, text), text[:300]


def test_flips_and_errors_agree(data: ExplorerData) -> None:
    """Raising the threshold from 0.30 to 0.45 fixes exactly the errors made at 0.30 (two distractor pairs)."""
    wrong = {(p.a, p.b) for p, _ in errors_at(data, 0.30)}
    flipped = {(p.a, p.b) for p, _ in flipped_pairs(data, 0.45, reference=0.30)}
    assert wrong == flipped and all("#" in a and "#" in b for a, b in wrong)
    assert errors_at(data, 0.45) == []

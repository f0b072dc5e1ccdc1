"""Measures of the asset library on labelled dev sets: selectors, precision@k, near-duplicate variants and
threshold sweeps, auto-matching correctness. Pure computation; ``refbench.pipelines.library_eval`` runs them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance

from refbench.types import Asset

VARIANTS = ("half_size", "jpeg_q50", "crop_90", "colour_shift")


def matches(asset: Asset, selector: dict[str, str]) -> bool:
    """Whether an asset agrees with every key of a selector: file, type, class, name (case-insensitive)."""
    facts = {
        "file": asset.source_image_file,
        "type": asset.asset_type,
        "class": asset.class_name,
        "name": asset.name,
    }
    return all(str(facts[key] or "").lower() == str(value).lower() for key, value in selector.items())


def relevant_tags(assets: Sequence[Asset], selectors: Sequence[dict[str, str]]) -> set[str]:
    """Tags of the assets that match any selector."""
    return {a.tag for a in assets if any(matches(a, s) for s in selectors)}


def precision_at_k(ranked: Sequence[str], relevant: set[str], *, k: int = 5) -> float:
    """Relevant among the first ``k`` / min(k, |relevant|): 1.0 when every slot that could hold one does."""
    if not relevant:
        return 0.0
    return len([t for t in ranked[:k] if t in relevant]) / min(k, len(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    """1 / rank of the first relevant result (0 when none is returned)."""
    return next((1.0 / (i + 1) for i, t in enumerate(ranked) if t in relevant), 0.0)


def scene_is_right(chosen: Sequence[str], expected: Sequence[set[str]]) -> bool:
    """Chosen references are exactly one asset of each expected item (alternatives), nothing else."""
    remaining = list(chosen)
    for alternatives in expected:
        hit = next((t for t in remaining if t in alternatives), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return not remaining


def make_variant(image_rgb: np.ndarray, kind: str) -> np.ndarray:
    """One near-duplicate of an image: half size, JPEG quality 50, a 90% centre crop, or a colour shift."""
    image = Image.fromarray(image_rgb)
    if kind == "half_size":
        image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)
    elif kind == "jpeg_q50":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=50)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    elif kind == "crop_90":
        dx, dy = image.width // 20, image.height // 20
        image = image.crop((dx, dy, image.width - dx, image.height - dy))
    elif kind == "colour_shift":
        image = ImageEnhance.Color(ImageEnhance.Brightness(image).enhance(1.12)).enhance(1.25)
    else:
        raise ValueError(f"unknown variant {kind!r}; known: {', '.join(VARIANTS)}")
    return np.asarray(image)


@dataclass(frozen=True)
class Sweep:
    """Precision and recall of "duplicate when score passes threshold" at each threshold."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def best_at_full_precision(self) -> int:
        """Index of the threshold with the highest recall among those with precision 1.0 (else best F1)."""
        perfect = np.flatnonzero(self.precision >= 1.0)
        if len(perfect):
            return int(perfect[np.argmax(self.recall[perfect])])
        f1 = 2 * self.precision * self.recall / np.maximum(self.precision + self.recall, 1e-12)
        return int(np.argmax(f1))


def sweep(scores: np.ndarray, same: np.ndarray, thresholds: np.ndarray, *, higher_is_closer: bool) -> Sweep:
    """Precision/recall of pairs (``scores`` (P,), ``same`` (P,) bool) at each threshold."""
    precision, recall = [], []
    for t in thresholds:
        flagged = scores >= t if higher_is_closer else scores <= t
        tp = int((flagged & same).sum())
        precision.append(tp / max(int(flagged.sum()), 1) if flagged.any() else 1.0)
        recall.append(tp / max(int(same.sum()), 1))
    return Sweep(np.asarray(thresholds, float), np.asarray(precision), np.asarray(recall))

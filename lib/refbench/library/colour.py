"""Colour signatures: a Lab histogram for "style-consistent" recommendations, and colour names for text search."""

from __future__ import annotations

import cv2
import numpy as np

from refbench.describe.local import dominant_colours

BINS = (4, 6, 6)  # L, a, b
COLOUR_DIM = int(np.prod(BINS))


def colour_signature(image_rgb: np.ndarray, *, side: int = 64) -> np.ndarray:
    """(144,) float32, L2-normalised square-rooted Lab histogram: cosine of two is the Bhattacharyya coefficient."""
    small = cv2.resize(image_rgb, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    hist, _ = np.histogramdd(lab, bins=BINS, range=((0, 100), (-80, 80), (-80, 80)))
    root = np.sqrt(hist.reshape(-1) / max(hist.sum(), 1.0)).astype(np.float32)
    return root / max(float(np.linalg.norm(root)), 1e-12)


def colour_names(image_rgb: np.ndarray, *, min_share: float = 0.1) -> list[str]:
    """Names of the dominant colours covering at least ``min_share`` of the image, largest first."""
    return [c.name for c in dominant_colours(image_rgb) if c.share >= min_share]

"""Where a logo goes: one of the four corners, inset by a margin; ``auto`` picks the calmest corner free of faces.

Calm means little structure under the logo: the mean Sobel gradient magnitude of the luma in the logo's box
(edge density and luma spread are reported beside it). A corner whose box overlaps a detected face is never
chosen while another corner is free; when every corner covers a face, the one covering the least is taken and
the reason says so. Video passes several sampled frames: busyness is averaged, faces from every frame count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from refbench.errors import OptionError, ShapeError
from refbench.types import Detections

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
AUTO = "auto"
EDGE_LEVEL = 48.0  # Sobel magnitude (|gx| + |gy| on 8-bit luma) above which a pixel counts as an edge
FACE_PAD = 0.10  # faces are grown by this fraction of their size on each side: hair and chin matter too


@dataclass(frozen=True)
class CornerScore:
    """How one corner reads under the logo's box."""

    corner: str
    xywh: tuple[int, int, int, int]
    busyness: float  # mean gradient magnitude / 255 (0: flat)
    edge_density: float  # fraction of edge pixels
    luma_sd: float  # standard deviation of the luma, 0-255
    face_overlap: float  # fraction of the box covered by (padded) faces

    def describe(self) -> str:
        """One line: the corner's figures."""
        faces = f", covers a face ({self.face_overlap:.0%} of the box)" if self.face_overlap > 0 else ""
        return f"{self.corner}: edge density {self.edge_density:.1%}, luma sd {self.luma_sd:.1f}{faces}"


@dataclass(frozen=True)
class Placement:
    """The chosen box (x, y, w, h in pixels), its corner and why; ``scores`` has every corner measured."""

    xywh: tuple[int, int, int, int]
    corner: str
    reason: str
    scores: tuple[CornerScore, ...] = field(default=())

    def to_json(self) -> dict:
        """``{"xywh": [...], "corner": ..., "reason": ...}`` (the ``--json`` contract)."""
        return {"xywh": list(self.xywh), "corner": self.corner, "reason": self.reason}


def margin_px(image_wh: tuple[int, int], margin_frac: float) -> int:
    """The inset from both edges: ``margin_frac`` of the image's shorter side."""
    if not 0.0 <= margin_frac < 0.5:
        raise OptionError(f"margin fraction must lie in [0, 0.5), got {margin_frac}")
    return round(margin_frac * min(image_wh))


def corner_xy(corner: str, *, image_wh: tuple[int, int], logo_wh: tuple[int, int], margin: int) -> tuple[int, int]:
    """Top-left pixel of a logo of ``logo_wh`` in ``corner``, ``margin`` px from both edges.

    Raises:
        OptionError: unknown corner. ShapeError: the logo and its margins do not fit the image.
    """
    if corner not in CORNERS:
        raise OptionError(f"corner {corner!r} is not one of {', '.join((AUTO, *CORNERS))}")
    (width, height), (w, h) = image_wh, logo_wh
    if w + 2 * margin > width or h + 2 * margin > height:
        raise ShapeError(f"a {w}x{h} logo with a {margin} px margin does not fit a {width}x{height} image")
    x = margin if corner.endswith("left") else width - margin - w
    y = margin if corner.startswith("top") else height - margin - h
    return x, y


def corner_scores(
    frames_rgb: Sequence[np.ndarray], *, logo_wh: tuple[int, int], margin: int, faces: Sequence[Detections] = ()
) -> list[CornerScore]:
    """Every corner measured on one or more frames (same size); ``faces`` holds each frame's detected faces."""
    if not frames_rgb:
        raise ShapeError("at least one frame is needed to choose a corner")
    height, width = frames_rgb[0].shape[:2]
    grads = [_gradient(frame) for frame in frames_rgb]
    lumas = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames_rgb]
    scores = []
    for corner in CORNERS:
        x, y = corner_xy(corner, image_wh=(width, height), logo_wh=logo_wh, margin=margin)
        box = (x, y, *logo_wh)
        cut = (slice(y, y + logo_wh[1]), slice(x, x + logo_wh[0]))
        scores.append(
            CornerScore(
                corner,
                box,
                busyness=float(np.mean([g[cut].mean() for g in grads]) / 255.0),
                edge_density=float(np.mean([(g[cut] > EDGE_LEVEL).mean() for g in grads])),
                luma_sd=float(np.mean([luma[cut].std() for luma in lumas])),
                face_overlap=max((_overlap(box, f) for f in faces), default=0.0),
            )
        )
    return scores


def choose_corner(scores: Sequence[CornerScore], *, requested: str = AUTO) -> Placement:
    """``requested`` as asked, or for ``auto`` the calmest corner that covers no face (see module docstring)."""
    by_corner = {s.corner: s for s in scores}
    if requested != AUTO:
        if requested not in by_corner:
            raise OptionError(f"corner {requested!r} is not one of {', '.join((AUTO, *CORNERS))}")
        chosen = by_corner[requested]
        warning = " (it covers a face)" if chosen.face_overlap > 0 else ""
        return Placement(chosen.xywh, chosen.corner, f"{chosen.corner} as requested{warning}", tuple(scores))
    free = [s for s in scores if s.face_overlap == 0]
    if free:
        chosen = min(free, key=lambda s: s.busyness)
        why = "calmest corner that covers no face" if len(free) < len(scores) else "calmest corner"
    else:
        chosen = min(scores, key=lambda s: (round(s.face_overlap, 2), s.busyness))
        why = "every corner covers a face; this one covers the least"
    others = "; ".join(s.describe() for s in scores if s is not chosen)
    figures = chosen.describe().removeprefix(f"{chosen.corner}: ")
    reason = f"{chosen.corner}: {why} ({figures}); others: {others}"
    return Placement(chosen.xywh, chosen.corner, reason, tuple(scores))


def _gradient(image_rgb: np.ndarray) -> np.ndarray:
    """|gx| + |gy| of the luma (Sobel 3x3), float32 (H, W)."""
    luma = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.abs(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3))


def _overlap(box: tuple[int, int, int, int], faces: Detections) -> float:
    """Largest fraction of ``box`` (x, y, w, h) covered by one padded face box."""
    x, y, w, h = box
    best = 0.0
    for x1, y1, x2, y2 in faces.xyxy:
        pad_x, pad_y = FACE_PAD * (x2 - x1), FACE_PAD * (y2 - y1)
        ix = max(0.0, min(x + w, x2 + pad_x) - max(x, x1 - pad_x))
        iy = max(0.0, min(y + h, y2 + pad_y) - max(y, y1 - pad_y))
        best = max(best, ix * iy / (w * h))
    return best

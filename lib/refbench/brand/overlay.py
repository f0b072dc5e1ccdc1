"""Logo overlay on one image: size the logo, choose its corner, composite it exactly (``refbench overlay``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from refbench.assets.crops import save_atomically
from refbench.brand.artwork import Artwork
from refbench.brand.composite import BLENDS, FittedLogo, composite
from refbench.brand.placement import AUTO, CORNERS, Placement, choose_corner, corner_scores, margin_px
from refbench.errors import OptionError
from refbench.settings import ImageLimits
from refbench.types import Detections

DEFAULT_WIDTH_FRAC = 0.15
DEFAULT_MARGIN_FRAC = 0.04


@dataclass(frozen=True)
class OverlayOptions:
    """How a logo is pasted. ``width_px`` wins over ``width_frac`` (of the target's width) when given."""

    corner: str = AUTO
    width_frac: float = DEFAULT_WIDTH_FRAC
    width_px: int | None = None
    opacity: float = 1.0
    margin_frac: float = DEFAULT_MARGIN_FRAC
    blend: str = "srgb"

    def __post_init__(self) -> None:
        if self.corner not in (AUTO, *CORNERS):
            raise OptionError(f"corner {self.corner!r} is not one of {', '.join((AUTO, *CORNERS))}")
        if not 0.0 < self.width_frac <= 1.0:
            raise OptionError(f"width fraction must lie in (0, 1], got {self.width_frac}")
        if self.width_px is not None and self.width_px < 1:
            raise OptionError(f"width in pixels must be at least 1, got {self.width_px}")
        if not 0.0 <= self.opacity <= 1.0:
            raise OptionError(f"opacity must lie in [0, 1], got {self.opacity}")
        if not 0.0 <= self.margin_frac < 0.5:
            raise OptionError(f"margin fraction must lie in [0, 0.5), got {self.margin_frac}")
        if self.blend not in BLENDS:
            raise OptionError(f"blend {self.blend!r} is not one of {', '.join(BLENDS)}")

    def logo_width(self, target_width: int) -> int:
        """Logo width in pixels on a target ``target_width`` px wide."""
        return self.width_px if self.width_px is not None else max(1, round(self.width_frac * target_width))


@dataclass(frozen=True)
class OverlayPlan:
    """The logo at its pasted size and where it goes."""

    logo: FittedLogo
    placement: Placement


def plan_overlay(
    frames_rgb: Sequence[np.ndarray],
    artwork: Artwork,
    *,
    options: OverlayOptions,
    faces: Sequence[Detections] = (),
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> OverlayPlan:
    """Size the logo for the frames' width and choose its corner (one image: one frame)."""
    height, width = frames_rgb[0].shape[:2]
    logo = artwork.at_width(options.logo_width(width), limits=limits)
    margin = margin_px((width, height), options.margin_frac)
    scores = corner_scores(frames_rgb, logo_wh=logo.wh, margin=margin, faces=faces)
    return OverlayPlan(logo, choose_corner(scores, requested=options.corner))


def overlay_image(
    target_rgb: np.ndarray,
    artwork: Artwork,
    *,
    options: OverlayOptions,
    faces: Detections | None = None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> tuple[np.ndarray, OverlayPlan]:
    """A new image with the logo composited, and the plan it followed; ``target_rgb`` is left untouched."""
    plan = plan_overlay(
        [target_rgb], artwork, options=options, faces=[faces] if faces is not None else (), limits=limits
    )
    x, y, _, _ = plan.placement.xywh
    return composite(target_rgb, plan.logo, xy=(x, y), opacity=options.opacity, blend=options.blend), plan


LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff", ".webp")
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}


def save_image(image_rgb: np.ndarray, path: Path, *, icc_profile: bytes | None = None) -> Path:
    """Write ``image_rgb`` to ``path`` in the format its suffix names, atomically (temp file, then rename).

    The target's ICC profile travels with it: the untouched pixels must mean the same colours as before. PNG, TIFF
    and WebP (lossless) keep every pixel; JPEG (quality 95, no chroma subsampling) cannot be pixel-exact.

    Raises:
        OptionError: a suffix that names no supported image format.
    """
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OptionError(f"{path.name}: image output must end in one of {', '.join(IMAGE_FORMATS)}")
    params: dict[str, object] = {"format": fmt}
    if fmt == "JPEG":
        params |= {"quality": 95, "subsampling": 0}
    elif fmt == "WEBP":
        params |= {"lossless": True}
    if icc_profile:
        params["icc_profile"] = icc_profile
    return save_atomically(Image.fromarray(image_rgb), path, **params)

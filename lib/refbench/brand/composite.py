"""Pixel-exact logo compositing: the real logo pasted onto a generated image, never a generated logo.

Blending is done in **sRGB** (gamma-encoded values), by default. A logo's anti-aliased edges, soft shadows and
semi-transparent areas were drawn and approved as they look when composited in sRGB — by the design tool that
exported the PNG, by every browser (W3C Compositing, CSS) and by the brand guide's own mock-ups — so the sRGB
composite reproduces exactly the pixels the designer signed off. Linear light (``blend="linear"``) is the
physically right mix of light and is offered, but it thins dark edges on light backgrounds and lightens
semi-transparent shadows compared with the approved artwork. sRGB blending is also exact in integers:

    A   = (alpha * round(255 * opacity) + 127) // 255          # effective 8-bit alpha
    out = (logo * A + target * (255 - A) + 127) // 255          # per channel, round half up

Every pixel outside the logo's box, and every pixel inside it where ``A == 0``, keeps its value; where
``A == 255`` the logo's value is copied. At the logo's native width nothing is resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from refbench.errors import OptionError, ShapeError

BLENDS = ("srgb", "linear")


@dataclass(frozen=True)
class FittedLogo:
    """A logo at the width it will be pasted: straight (not premultiplied) RGBA uint8 (h, w, 4), and how it got there.

    ``how`` is ``native`` (the file's own pixels), ``vector`` (an SVG rendered at this width), ``area`` (shrunk by
    area averaging of premultiplied colour) or ``lanczos`` (enlarged: a raster logo smaller than asked).
    """

    rgba: np.ndarray
    how: str

    @property
    def wh(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.rgba.shape[1], self.rgba.shape[0]

    @property
    def resampled(self) -> bool:
        """Whether the logo's pixels were interpolated (``area`` or ``lanczos``)."""
        return self.how in ("area", "lanczos")


def height_for_width(native_wh: tuple[int, int], width: int) -> int:
    """The height that keeps the logo's aspect at ``width`` (at least 1 px)."""
    native_w, native_h = native_wh
    return max(1, round(native_h * width / native_w))


def resize_rgba(rgba: np.ndarray, width: int) -> FittedLogo:
    """``rgba`` at ``width`` px wide: untouched at its native width, else resampled in premultiplied colour.

    Premultiplying first keeps the colour of fully transparent pixels (often black or garbage) from bleeding into
    the edges as a dark fringe.
    """
    native_h, native_w = rgba.shape[:2]
    if width == native_w:
        return FittedLogo(rgba, "native")
    height = height_for_width((native_w, native_h), width)
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[:, :, :3].astype(np.float32) * alpha, alpha * 255.0], axis=2)
    how = "area" if width < native_w else "lanczos"
    interpolation = cv2.INTER_AREA if how == "area" else cv2.INTER_LANCZOS4
    resized = np.clip(cv2.resize(premultiplied, (width, height), interpolation=interpolation), 0.0, 255.0)
    out_alpha = resized[:, :, 3:4]
    colour = np.where(out_alpha > 0, resized[:, :, :3] * 255.0 / np.maximum(out_alpha, 1e-6), 0.0)
    straight = np.concatenate([np.clip(colour, 0, 255), out_alpha], axis=2)
    return FittedLogo(np.floor(straight + 0.5).astype(np.uint8), how)


def effective_alpha(alpha: np.ndarray, opacity: float) -> np.ndarray:
    """8-bit alpha scaled by ``opacity`` in [0, 1], exactly: ``(alpha * round(255 * opacity) + 127) // 255``."""
    if not 0.0 <= opacity <= 1.0:
        raise OptionError(f"opacity must lie in [0, 1], got {opacity}")
    level = round(255 * opacity)
    return ((alpha.astype(np.uint32) * level + 127) // 255).astype(np.uint8)


def blend_srgb(logo_rgb: np.ndarray, target_rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The exact integer sRGB composite of (h, w, 3) uint8 colours under (h, w) uint8 ``alpha``."""
    a = alpha.astype(np.uint32)[:, :, None]
    mixed = logo_rgb.astype(np.uint32) * a + target_rgb.astype(np.uint32) * (255 - a) + 127
    return (mixed // 255).astype(np.uint8)


# sRGB transfer functions (IEC 61966-2-1): 8-bit code -> linear light, and back.
_CODES = np.arange(256, dtype=np.float64) / 255.0
SRGB_TO_LINEAR = np.where(_CODES <= 0.04045, _CODES / 12.92, ((_CODES + 0.055) / 1.055) ** 2.4)


def linear_to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to 8-bit sRGB codes, rounded to nearest."""
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.floor(encoded * 255.0 + 0.5).astype(np.uint8)


def blend_linear(logo_rgb: np.ndarray, target_rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The composite mixed in linear light; pixels with alpha 0 or 255 are copied, never re-encoded."""
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    mixed = linear_to_srgb8(SRGB_TO_LINEAR[logo_rgb] * a + SRGB_TO_LINEAR[target_rgb] * (1.0 - a))
    mixed = np.where(a == 0.0, target_rgb, mixed)
    return np.where(a == 1.0, logo_rgb, mixed)


def composite(
    target_rgb: np.ndarray, logo: FittedLogo, *, xy: tuple[int, int], opacity: float = 1.0, blend: str = "srgb"
) -> np.ndarray:
    """A copy of ``target_rgb`` (H, W, 3) uint8 with ``logo`` pasted at ``xy`` (its top-left corner).

    Only the logo's box changes, and inside it only the pixels the logo covers (effective alpha > 0); the
    target array itself is never written.

    Raises:
        ShapeError: the target is not (H, W, 3) uint8, or the logo does not fit inside it at ``xy``.
        OptionError: unknown ``blend`` or an opacity outside [0, 1].
    """
    if target_rgb.ndim != 3 or target_rgb.shape[2] != 3 or target_rgb.dtype != np.uint8:
        raise ShapeError(f"target: expected (H, W, 3) uint8, got {target_rgb.shape} {target_rgb.dtype}")
    if blend not in BLENDS:
        raise OptionError(f"blend {blend!r} is not one of {', '.join(BLENDS)}")
    (x, y), (w, h) = xy, logo.wh
    if x < 0 or y < 0 or x + w > target_rgb.shape[1] or y + h > target_rgb.shape[0]:
        raise ShapeError(
            f"a {w}x{h} logo at ({x}, {y}) does not fit a {target_rgb.shape[1]}x{target_rgb.shape[0]} image"
        )
    out = target_rgb.copy()
    alpha = effective_alpha(logo.rgba[:, :, 3], opacity)
    region = out[y : y + h, x : x + w]
    mix = blend_srgb if blend == "srgb" else blend_linear
    region[...] = mix(logo.rgba[:, :, :3], region, alpha)
    return out

"""Logo artwork from a file: raster images with their transparency, or SVG rendered at the width it is pasted.

An SVG is drawn by resvg (``resvg-py``, a Rust renderer in its wheel) straight at the target width, so a vector
logo is never resampled. SVG is untrusted input like any image: it is size-limited, must be self-contained (no
external files, URLs or entity declarations) and its rendering is bounded by the same pixel limit as images.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from refbench.brand.composite import FittedLogo, height_for_width, resize_rgba
from refbench.errors import ImageRejected, OptionError
from refbench.ingest.imaging import read_file
from refbench.library.images import load_rgba
from refbench.settings import ImageLimits

SVG_SUFFIXES = (".svg",)
# Anything that could make the renderer read another file or expand entities.
_UNSAFE_SVG = re.compile(r"<!ENTITY|<!DOCTYPE[^>]*\[|(?:href|src)\s*=\s*[\"'](?!#|data:)", re.IGNORECASE)
_ROOT_SIZE = re.compile(r"(<svg\b[^>]*?)\s(?:width|height)\s*=\s*[\"'][^\"']*[\"']", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Artwork:
    """A logo as loaded: straight RGBA uint8 (H, W, 4) at its native size, plus the SVG text for vectors."""

    rgba: np.ndarray
    source: str  # file name, for messages
    svg_text: str | None = None

    @property
    def native_wh(self) -> tuple[int, int]:
        """(width, height) of the file's own pixels (an SVG: its declared size)."""
        return self.rgba.shape[1], self.rgba.shape[0]

    @property
    def is_vector(self) -> bool:
        """Whether the artwork is an SVG (rendered at any width without resampling)."""
        return self.svg_text is not None

    def at_width(self, width: int, *, limits: ImageLimits = ImageLimits()) -> FittedLogo:  # noqa: B008 - frozen value
        """The logo ``width`` px wide: native pixels, a vector rendering, or a premultiplied resample.

        Raises:
            OptionError: ``width`` is below 1 px.
        """
        if width < 1:
            raise OptionError(f"a logo must be at least 1 px wide, got {width}")
        if self.svg_text is not None and width != self.native_wh[0]:
            height = height_for_width(self.native_wh, width)
            return FittedLogo(
                render_svg(self.svg_text, width=width, max_pixels=limits.max_pixels, height=height), "vector"
            )
        return resize_rgba(self.rgba, width)


def load_artwork(path: Path, *, limits: ImageLimits = ImageLimits()) -> Artwork:  # noqa: B008 - frozen value
    """Read a logo file (any image format the ingest accepts, or SVG) as straight RGBA.

    Raises:
        ImageRejected: unreadable, over the limits, no image, or an SVG that is not self-contained.
    """
    path = Path(path)
    if path.suffix.lower() in SVG_SUFFIXES:
        text = svg_text(read_file(path, max_file_bytes=limits.max_file_bytes))
        return Artwork(render_svg(text, width=None, max_pixels=limits.max_pixels), path.name, text)
    image = load_rgba(path, limits=limits)
    if image.shape[2] == 3:
        image = np.concatenate([image, np.full((*image.shape[:2], 1), 255, np.uint8)], axis=2)
    return Artwork(np.ascontiguousarray(image), path.name)


def svg_text(data: bytes) -> str:
    """The SVG's text, refused when it references anything outside itself.

    Raises:
        ImageRejected: ``svg_unsafe`` or ``decode_error``.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImageRejected("decode_error", f"SVG is not UTF-8 text: {error}") from error
    if "<svg" not in text:
        raise ImageRejected("not_an_image", "no <svg> element")
    if match := _UNSAFE_SVG.search(text):
        raise ImageRejected(
            "svg_unsafe", f"SVG refers outside itself ({match[0]!r}); only '#' and data: links are read"
        )
    return text


def render_svg(text: str, *, width: int | None, max_pixels: int, height: int | None = None) -> np.ndarray:
    """Straight RGBA uint8 (H, W, 4) of an SVG at ``width`` (``None``: its declared size).

    Root sizes in units resvg cannot place (``pt``, ``mm``) fall back to the viewBox.

    Raises:
        ImageRejected: the SVG cannot be drawn, or would exceed ``max_pixels``.
    """
    import resvg_py

    if width is not None and height is not None and width * height > max_pixels:
        raise ImageRejected("too_many_pixels", f"{width}x{height} exceeds the limit of {max_pixels} pixels")
    try:
        png = _render(resvg_py, text, width)
    except ValueError:
        try:
            png = _render(resvg_py, _ROOT_SIZE.sub(r"\1", _ROOT_SIZE.sub(r"\1", text, count=1), count=1), width)
        except ValueError as error:
            raise ImageRejected("decode_error", f"cannot render the SVG: {error}") from error
    with Image.open(io.BytesIO(png)) as image:
        if image.width * image.height > max_pixels:
            raise ImageRejected("too_many_pixels", f"{image.width}x{image.height} exceeds {max_pixels} pixels")
        return np.ascontiguousarray(np.asarray(image.convert("RGBA")))


def _render(resvg_py, text: str, width: int | None) -> bytes:  # noqa: ANN001 - the module
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=text, width=width, skip_system_fonts=False))
    except ValueError:
        raise
    except Exception as error:  # noqa: BLE001 - any renderer failure on untrusted input is a rejection
        raise ImageRejected("decode_error", f"cannot render the SVG: {error}") from error

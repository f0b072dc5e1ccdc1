"""Reading asset images with their transparency: declared PNG logos keep their alpha, models see them on white."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from refbench.ingest.imaging import ACCEPTED_FORMATS, PIL_OPEN, decode_image, read_file, upright
from refbench.library.asset_types import composite_on_white
from refbench.settings import ImageLimits


def load_rgba(path: Path, *, limits: ImageLimits = ImageLimits()) -> np.ndarray:  # noqa: B008 - frozen value
    """Upright uint8 (H, W, 4) for images with transparency, (H, W, 3) RGB for the rest.

    Raises:
        ImageRejected: the file is unreadable, too large, or no image (same checks as ingest).
    """
    data = read_file(path, max_file_bytes=limits.max_file_bytes)
    decoded = decode_image(data, max_pixels=limits.max_pixels)  # validates; composites alpha on white
    if decoded.mode not in ("RGBA", "LA", "PA", "RGBa", "La", "P"):
        return decoded.image_rgb
    with PIL_OPEN(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        if image.mode == "P" and "transparency" not in image.info:
            return decoded.image_rgb
        rgba = np.asarray(upright(image, decoded.exif_orientation).convert("RGBA"))
    return rgba if (rgba[:, :, 3] < 255).any() else decoded.image_rgb


def as_rgb(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) of a ``load_rgba`` result: transparency composited on white."""
    return composite_on_white(image)

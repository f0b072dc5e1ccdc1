"""Reading user files into upright 8-bit RGB arrays, or a precise reason why not.

Every failure of a decoder on untrusted bytes is a rejection with a code, never an exception that stops a
run: Pillow's plugins raise OSError, SyntaxError, ValueError, RuntimeError (AVIF), struct errors... Pillow's
process-wide pixel limit is left alone; our own (the settings') is checked from the header before decoding.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from refbench.errors import ImageRejected

Image.init()  # register every bundled decoder, so ACCEPTED_FORMATS can name them
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a rejection, never a half-grey image
_ALPHA_BACKGROUND_RGB = (255, 255, 255)
# Only these decoders are tried: fewer parsers face untrusted files, and plugins other packages
# register (Ultralytics adds a HEIF opener that needs a module absent here) cannot hijack the probe.
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "AVIF", "PPM", "JPEG2000")
# Pillow's own opener, kept before anything can monkey-patch it (importing Ultralytics replaces
# Image.open with one that tries to pip-install pi-heif on every unidentified file).
PIL_OPEN = Image.open
EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation → the transpose that makes the image upright (the EXIF 2.3 table, as Pillow applies it).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded from bytes: upright uint8 RGB (H, W, 3) plus facts about the file."""

    image_rgb: np.ndarray
    format: str
    mode: str
    exif_orientation: int  # the orientation applied (1 when absent or unusable)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``: the identity of an original."""
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, *, max_file_bytes: int) -> bytes:
    """Read a whole regular file, turning every I/O failure into an ``ImageRejected``.

    The file is opened without blocking and checked to be a regular file before anything is read (a FIFO
    swapped in for a photo must not hang the run), and no more than ``max_file_bytes`` + 1 bytes are read
    whatever its size said a moment before (a file growing while it is read).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError as error:
        raise ImageRejected("unreadable", f"permission denied: {error.strerror}") from error
    except OSError as error:
        raise ImageRejected("unreadable", f"cannot read the file: {error.strerror or error}") from error
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ImageRejected("unreadable", "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ImageRejected("not_a_file", "not a regular file (a pipe, socket or device)")
        if info.st_size > max_file_bytes:
            raise ImageRejected("file_too_large", f"{info.st_size} bytes exceeds the limit of {max_file_bytes} bytes")
        try:
            data = handle.read(max_file_bytes + 1)
        except OSError as error:
            raise ImageRejected("unreadable", f"cannot read the file: {error.strerror or error}") from error
    if not data:
        raise ImageRejected("empty_file", "the file is empty (0 bytes)")
    if len(data) > max_file_bytes:
        raise ImageRejected("file_too_large", f"more than {max_file_bytes} bytes (it grew while being read)")
    return data


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode image bytes into upright 8-bit RGB.

    EXIF orientation is applied when it is a valid value (1-8); CMYK, palette, 16-bit, float and alpha
    images are converted (alpha composited on white). The pixel limit is checked from the header before
    any pixel is decoded (decompression bombs).

    Raises:
        ImageRejected: with code ``not_an_image``, ``zero_size``, ``too_many_pixels``, ``truncated`` or
            ``decode_error``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged metadata; the pixels decide
            image = _open(data)
            file_format, mode = image.format or "unknown", image.mode
            _check_size(image.size, max_pixels=max_pixels)
            image.load()  # before EXIF: a PNG's EXIF may follow its pixels, and reading it must not hide a failed load
            orientation = exif_orientation(image)
            rgb = to_rgb8(upright(image, orientation))
    except ImageRejected:
        raise
    except Image.DecompressionBombError as error:
        raise ImageRejected("too_many_pixels", f"over Pillow's decompression-bomb limit: {error}") from error
    except Exception as error:  # noqa: BLE001 - any decoder failure on untrusted bytes is a rejection, not a crash
        raise ImageRejected(_failure_code(error), f"cannot decode: {type(error).__name__}: {error}") from error
    return DecodedImage(image_rgb=rgb, format=file_format, mode=mode, exif_orientation=orientation)


def _open(data: bytes) -> Image.Image:
    try:
        return PIL_OPEN(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as error:
        if (size := _header_size(data)) is not None:
            if 0 in size:
                raise ImageRejected("zero_size", f"image header declares zero size ({size[0]}x{size[1]})") from error
            raise ImageRejected("decode_error", "image signature found but the header is invalid") from error
        raise ImageRejected("not_an_image", "not a recognised image format") from error


def _check_size(size: tuple[int, int], *, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected("zero_size", f"image has zero size ({width}x{height})")
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels", f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )


def exif_orientation(image: Image.Image) -> int:
    """The image's EXIF orientation when it is a whole number 1-8; else 1 (text, bytes, 6.5, x/0 are ignored)."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
        number = float(value) if not isinstance(value, (str, bytes, bool)) else 0.0  # a SHORT, or an EXIF rational
    except Exception:  # noqa: BLE001 - unreadable EXIF means no orientation, not a rejection
        return 1
    return int(number) if number.is_integer() and 1 <= number <= 8 else 1


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned upright for an EXIF ``orientation`` (1-8): exactly the transform that is recorded."""
    return image.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else image


def _failure_code(error: Exception) -> str:
    return "truncated" if "truncated" in str(error).lower() else "decode_error"


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a PNG or GIF header that Pillow refused to open, else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return None


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to a contiguous uint8 RGB array (H, W, 3)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert("L") clips high-bit-depth values at 255 instead of scaling them.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_ALPHA_BACKGROUND_RGB, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))

"""Decoding user files: every bad kind is a precise rejection; odd good kinds are converted right."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.errors import ImageRejected
from refbench.ingest.imaging import decode_image, read_file

MAX_PIXELS = 50_000_000


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zero_size_png() -> bytes:
    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def bomb_png(side: int = 12_000) -> bytes:
    """A 1-bit PNG of side² pixels that compresses to a few kB."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda jpg: jpg[: len(jpg) // 2], "truncated", "truncated"),
        (lambda jpg: b"these are not the pixels you are looking for\n" * 5, "not_an_image", "not a recognised"),
        (lambda jpg: zero_size_png(), "zero_size", "zero size"),
        (lambda jpg: bomb_png(), "too_many_pixels", "exceeds the limit"),
        (lambda jpg: jpg[:2000] + b"\x00" * 50, "truncated", "truncated"),
    ],
    ids=["half-jpeg", "text-as-jpg", "zero-size", "decompression-bomb", "jpeg-tail-lost"],
)
def test_bad_bytes_are_rejected_with_reason(samples_dir: Path, make, code: str, message: str) -> None:
    data = make((samples_dir / "obama_1.jpg").read_bytes())
    with pytest.raises(ImageRejected, match=message) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert caught.value.code == code


def test_empty_and_missing_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageRejected, match="empty") as caught:
        read_file(tmp_path / "empty.jpg", max_file_bytes=10)
    assert caught.value.code == "empty_file"
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageRejected, match="cannot read") as caught:
        read_file(tmp_path / "dangling.jpg", max_file_bytes=10)
    assert caught.value.code == "unreadable"


def test_file_size_limit(tmp_path: Path) -> None:
    (tmp_path / "big.jpg").write_bytes(b"x" * 100)
    with pytest.raises(ImageRejected, match="exceeds the limit of 99 bytes"):
        read_file(tmp_path / "big.jpg", max_file_bytes=99)


def test_exif_orientation_is_applied(samples_dir: Path) -> None:
    upright = Image.open(samples_dir / "obama_1.jpg").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes for orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(encode(stored, "JPEG", exif=exif, quality=95), max_pixels=MAX_PIXELS)
    assert decoded.exif_orientation == 6
    assert decoded.image_rgb.shape[:2] == (upright.height, upright.width)
    diff = np.abs(decoded.image_rgb.astype(int) - np.asarray(upright, dtype=int)).mean()
    assert diff < 4  # JPEG re-encoding noise only


@pytest.mark.parametrize("mode", ["CMYK", "P", "LA", "RGBA", "L", "1"])
def test_modes_become_rgb8(samples_dir: Path, mode: str) -> None:
    source = Image.open(samples_dir / "obama_1.jpg").convert("RGB").resize((200, 240))
    image = source.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(encode(image, fmt), max_pixels=MAX_PIXELS)
    assert decoded.image_rgb.dtype == np.uint8
    assert decoded.image_rgb.shape == (240, 200, 3)
    assert decoded.mode == mode


def test_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 4, 8))
    pixels = decode_image(encode(rgba, "PNG"), max_pixels=MAX_PIXELS).image_rgb
    assert tuple(pixels[0, 0]) == (0, 0, 255)
    assert tuple(pixels[0, 7]) == (255, 255, 255)


def test_sixteen_bit_is_scaled_not_clipped(samples_dir: Path) -> None:
    gray8 = np.asarray(Image.open(samples_dir / "obama_1.jpg").convert("L"), dtype=np.uint16)
    gray16 = Image.fromarray(gray8 * 257)  # full 16-bit range, mode I;16
    decoded = decode_image(encode(gray16, "PNG"), max_pixels=MAX_PIXELS).image_rgb
    assert decoded.shape[2] == 3
    np.testing.assert_array_equal(decoded[:, :, 0], gray8.astype(np.uint8))

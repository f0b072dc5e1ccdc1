"""Padded crops and contact sheets: always new files, never the originals."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

OBJECT_PADDING = 0.10
FACE_PADDING = 0.30
SHEET_LAYOUT = "6x220+40 v1"  # columns, tile and caption size: part of every page's digest


def padded_box(xyxy: np.ndarray, *, padding: float, resolution_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """Grow a box (4,) by ``padding`` of its width/height on every side, clamped to the image."""
    width, height = resolution_wh
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = (x2 - x1) * padding, (y2 - y1) * padding
    left, top = max(0, int(np.floor(x1 - dx))), max(0, int(np.floor(y1 - dy)))
    right, bottom = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def save_crop(image_rgb: np.ndarray, xyxy: np.ndarray, path: Path, *, padding: float) -> Path:
    """Write the padded crop of ``xyxy`` from an RGB image (H, W, 3) to ``path`` (JPEG, q=95)."""
    left, top, right, bottom = padded_box(xyxy, padding=padding, resolution_wh=(image_rgb.shape[1], image_rgb.shape[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_rgb[top:bottom, left:right]).save(path, format="JPEG", quality=95)
    return path


def save_scaled(source: Path, path: Path, *, max_side: int = 1600) -> Path:
    """Write an upright copy of an image file, at most ``max_side`` pixels on its long side.

    JPEG ``draft`` decodes straight at a reduced scale, several times faster than full decoding.
    """
    with Image.open(source) as image:
        image.draft("RGB", (max_side, max_side))
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    upright.save(path, format="JPEG", quality=92)
    return path


def save_thumbnail(image_rgb: np.ndarray, path: Path, *, max_side: int = 256) -> Path:
    """Write a small JPEG of an RGB image (H, W, 3) for contact sheets and galleries."""
    height, width = image_rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = cv2.resize(
        image_rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(small).save(path, format="JPEG", quality=88)
    return path


@dataclass(frozen=True)
class SheetItem:
    """One tile of a contact sheet: an image file (``fallback`` when ``path`` is missing) and the two lines printed
    under it. Paths may be plain strings: a sheet of 10k photos is built on every run, drawn only where it changed."""

    path: Path | str
    title: str
    subtitle: str
    fallback: Path | str | None = None

    def image_path(self) -> Path:
        """The file to show: ``path``, else ``fallback`` when ``path`` does not exist."""
        return Path(self.path) if self.fallback is None or os.path.isfile(self.path) else Path(self.fallback)


def contact_sheet(
    items: Sequence[SheetItem], path: Path, *, columns: int = 6, tile: int = 220, first_number: int = 1
) -> Path:
    """Write a numbered grid of thumbnails with captions as PNG.

    Thumbnails are loaded one at a time, so memory stays at one tile plus the sheet.
    """
    rows = max(1, -(-len(items) // columns))
    caption = 40
    sheet = Image.new("RGB", (columns * tile, rows * (tile + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for index, item in enumerate(items):
        x, y = (index % columns) * tile, (index // columns) * (tile + caption)
        with Image.open(item.image_path()) as image:
            thumb = image.convert("RGB")
            thumb.thumbnail((tile - 8, tile - 8))
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        draw.text((x + 4, y + tile), f"{first_number + index}. {item.title}"[:32], fill="black", font=font)
        draw.text((x + 4, y + tile + 17), item.subtitle[:34], fill=(90, 90, 90), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1: half the encoding time of the default 6 for an 8% larger file of photos.
    sheet.save(path, format="PNG", compress_level=1)
    return path


@dataclass(frozen=True)
class SheetPage:
    """One page of a paged contact sheet: its file, its tiles, the number of its first tile, and a digest of what
    it shows (redraw the page only when the digest changes)."""

    path: Path
    items: tuple[SheetItem, ...]
    first_number: int
    signature: str

    def draw(self) -> Path:
        """Write the page (to a temporary file renamed into place: a crash never leaves half a PNG)."""
        partial = self.path.with_name(f".{self.path.name}.partial")
        contact_sheet(self.items, partial, first_number=self.first_number)
        os.replace(partial, self.path)
        return self.path


def sheet_pages(items: Sequence[SheetItem], path: Path, *, page_size: int = 120) -> list[SheetPage]:
    """``items`` as numbered pages of ``page_size`` tiles: ``path``, then ``<stem>_p02`` ... (nothing is drawn).

    Pages keep memory flat however many photos there are, and a new photo changes only the page it lands on.
    """
    pages = []
    for start in range(0, max(len(items), 1), page_size):
        page = start // page_size + 1
        page_path = path if page == 1 else path.with_name(f"{path.stem}_p{page:02d}{path.suffix}")
        tiles = tuple(items[start : start + page_size])
        shown = [(str(t.path), t.title, t.subtitle) for t in tiles]
        digest = hashlib.sha256(repr((SHEET_LAYOUT, start + 1, shown)).encode()).hexdigest()
        pages.append(SheetPage(page_path, tiles, start + 1, digest))
    return pages


def contact_sheet_pages(items: Sequence[SheetItem], path: Path, *, page_size: int = 120) -> list[Path]:
    """Draw every page of ``sheet_pages``; returns their paths, first first."""
    return [page.draw() for page in sheet_pages(items, path, page_size=page_size)]

"""Padded crops and contact sheets: always new files, never the originals."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from refbench.ingest.imaging import upright

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


def frame_face(
    image_rgb: np.ndarray, xyxy: np.ndarray, *, face_width_frac: float = 0.20, aspect_wh: tuple[int, int] = (3, 4)
) -> np.ndarray:
    """A portrait frame (RGB) around a face box (4,) in which the face spans ``face_width_frac`` of the width, the
    face in the upper middle; where the frame leaves the photo it is neutral grey. Shows a generator the
    framing a request asks for, with the photo's own shoulders and clothing."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    width = max(1, round((x2 - x1) / face_width_frac))
    height = max(1, round(width * aspect_wh[1] / aspect_wh[0]))
    left, top = round((x1 + x2) / 2 - width / 2), round((y1 + y2) / 2 - height * 0.38)
    frame = np.full((height, width, 3), 128, np.uint8)
    src_x1, src_y1 = max(left, 0), max(top, 0)
    src_x2, src_y2 = min(left + width, image_rgb.shape[1]), min(top + height, image_rgb.shape[0])
    if src_x2 > src_x1 and src_y2 > src_y1:
        frame[src_y1 - top : src_y2 - top, src_x1 - left : src_x2 - left] = image_rgb[src_y1:src_y2, src_x1:src_x2]
    return frame


def save_crop(image_rgb: np.ndarray, xyxy: np.ndarray, path: Path, *, padding: float) -> Path:
    """Write the padded crop of ``xyxy`` from an RGB image (H, W, 3) to ``path`` (JPEG, q=95)."""
    left, top, right, bottom = padded_box(xyxy, padding=padding, resolution_wh=(image_rgb.shape[1], image_rgb.shape[0]))
    return save_atomically(Image.fromarray(image_rgb[top:bottom, left:right]), path, format="JPEG", quality=95)


def save_scaled(source: Path, path: Path, *, orientation: int, max_side: int = 1600) -> Path:
    """Write an upright copy of a registered image file, at most ``max_side`` pixels on its long side.

    ``orientation`` is the EXIF orientation ingest applied (the same transform, not a second reading of the
    EXIF). JPEG ``draft`` decodes straight at a reduced scale, several times faster than full decoding.
    """
    with Image.open(source) as image:
        image.draft("RGB", (max_side, max_side))
        turned = upright(image, orientation).convert("RGB")
    turned.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return save_atomically(turned, path, format="JPEG", quality=92)


def save_thumbnail(image_rgb: np.ndarray, path: Path, *, max_side: int = 256) -> Path:
    """Write a small JPEG of an RGB image (H, W, 3) for contact sheets and galleries."""
    height, width = image_rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = cv2.resize(
        image_rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    return save_atomically(Image.fromarray(small), path, format="JPEG", quality=88)


def save_png(image_rgb: np.ndarray, path: Path) -> Path:
    """Write an RGB image (H, W, 3) as PNG atomically (zlib level 1: sheets and generated images are written once)."""
    return save_atomically(Image.fromarray(np.ascontiguousarray(image_rgb)), path, format="PNG", compress_level=1)


def save_atomically(image: Image.Image, path: Path, **params: object) -> Path:
    """Write ``image`` to a temporary file beside ``path`` and rename it: a reader (or a run killed mid-write)
    never sees half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)  # noqa: SIM115
    try:
        with handle:
            image.save(handle, **params)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
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

    Captions are wrapped to the tile's width (a title line, two subtitle lines, "…" beyond), so no text runs
    into the next tile. Thumbnails are loaded one at a time, so memory stays at one tile plus the sheet.
    """
    rows = max(1, -(-len(items) // columns))
    line, caption = 16, 3 * 16 + 6
    sheet = Image.new("RGB", (columns * tile, rows * (tile + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for index, item in enumerate(items):
        x, y = (index % columns) * tile, (index // columns) * (tile + caption)
        with Image.open(item.image_path()) as image:
            thumb = image.convert("RGB")
            thumb.thumbnail((tile - 8, tile - 8))
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        title = fit_lines(f"{first_number + index}. {item.title}", font, width=tile - 8, max_lines=1)
        subtitle = fit_lines(item.subtitle, font, width=tile - 8, max_lines=2)
        for n, (text, fill) in enumerate([(t, "black") for t in title] + [(t, (90, 90, 90)) for t in subtitle]):
            draw.text((x + 4, y + tile + n * line), text, fill=fill, font=font)
    # zlib level 1: half the encoding time of the default 6 for an 8% larger file of photos.
    return save_atomically(sheet, path, format="PNG", compress_level=1)


def fit_lines(text: str, font: ImageFont.FreeTypeFont, *, width: int, max_lines: int) -> list[str]:
    """``text`` wrapped at spaces into at most ``max_lines`` lines of at most ``width`` px; "…" marks a cut."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += "…"
    return [_clip(line, font, width=width) for line in lines]


def _clip(text: str, font: ImageFont.FreeTypeFont, *, width: int) -> str:
    """One line cut to ``width`` px, ending in "…" when cut (a long file name has no space to wrap at)."""
    if font.getlength(text) <= width:
        return text
    text = text.removesuffix("…")
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


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

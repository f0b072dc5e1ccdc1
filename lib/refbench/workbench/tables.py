"""One HTML table helper for every notebook: static HTML that exports as is (no widgets, no JavaScript)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class RawHtml(str):
    """A cell that is already HTML (a thumbnail): ``html_table`` leaves it unescaped."""


def jpeg_thumbnail(path: Path, *, size: int, quality: int = 85) -> bytes:
    """An image file scaled to at most ``size`` pixels on its long side, as JPEG bytes."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    rgb.thumbnail((size, size))
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail_html(path: Path | None, *, size: int = 72) -> RawHtml:
    """An image file as an embedded JPEG ``<img>`` at most ``size`` px (reads offline); empty when missing."""
    if path is None or not Path(path).is_file():
        return RawHtml("")
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg_thumbnail(path, size=size, quality=80)).decode()
    return RawHtml(f'<img src="{uri}" alt="{html.escape(Path(path).name)}" style="max-height:{size}px">')


def fmt(value: Any) -> str:
    """A cell's HTML: ``RawHtml`` as is; else escaped text (integers plainly, small floats with 3 decimals)."""
    if isinstance(value, RawHtml):
        return value
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3f}"
    return "" if value is None else html.escape(str(value))


def html_table(rows: Sequence[Sequence[Any]], *, caption: str = "") -> str:
    """An HTML table; the first row holds the headers. Cells are escaped."""
    if not rows:
        return "<p>(nothing)</p>"
    head, *body = rows
    cells = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    lines = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in body)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


def _cell(value: Any) -> str:
    """A ``<td>``: numbers right-aligned (the notebook's default), text left-aligned so sentences read."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"<td>{fmt(value)}</td>" if numeric else f"<td style='text-align:left'>{fmt(value)}</td>"


def show_table(rows: Sequence[Sequence[Any]], *, caption: str = "") -> Any:
    """``html_table`` as a display object for a notebook cell."""
    from IPython.display import HTML

    return HTML(html_table(rows, caption=caption))


def records_table(records: Sequence[dict[str, Any]]) -> list[tuple]:
    """Rows of dicts (same keys) as table rows with a header row."""
    if not records:
        return []
    keys = list(records[0])
    return [tuple(keys), *(tuple(r[k] for k in keys) for r in records)]

"""One HTML table helper for every notebook: static HTML that exports as is (no widgets, no JavaScript)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def fmt(value: Any) -> str:
    """A cell's text: integers plainly, small floats with 3 decimals, ``None`` empty."""
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3f}"
    return "" if value is None else str(value)


def html_table(rows: Sequence[Sequence[Any]], *, caption: str = "") -> str:
    """An HTML table; the first row holds the headers. Cells are escaped."""
    if not rows:
        return "<p>(nothing)</p>"
    head, *body = rows
    cells = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    lines = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>" for row in body)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


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

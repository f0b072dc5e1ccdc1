"""Notebook 05, the asset library: a search box, a results gallery with thumbnails and scores, type filters,
"more like this", and near-duplicate pairs side by side.

The library is read once (read-only, briefly) into an in-memory searcher; figures are built without pyplot so
an exported report reads offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from refbench.library.search import LibrarySearcher, SearchHit
from refbench.pipelines.library import LibraryOptions, near_duplicate_pairs, open_searcher, run_index
from refbench.registry.library import NearDuplicatePair
from refbench.settings import Settings
from refbench.workbench.tables import html_table


def library_settings(db_path: str) -> Settings:
    """Settings of the workspace at ``db_path`` ("" = the default workspace)."""
    return Settings().for_database(Path(db_path) if db_path else None)


def index_library(db_path: str, *, ocr: bool = True) -> str:
    """Bring the library index up to date (the ``refbench index`` pipeline); one line saying what it did."""
    summary = run_index(library_settings(db_path), options=LibraryOptions(ocr=ocr))
    return (
        f"indexed {summary.assets_indexed} assets ({summary.assets_unchanged} unchanged),"
        f" {summary.near_duplicates} near-duplicate links"
    )


def open_library(db_path: str) -> LibrarySearcher:
    """A searcher over the workspace's indexed library, held in memory (the database is closed again)."""
    return open_searcher(library_settings(db_path))


def hit_rows(hits: Sequence[SearchHit]) -> list[tuple]:
    """Table rows (header first): rank, tag, type, name, score, source image, why."""
    header = ("#", "tag", "type", "name", "score", "source", "why")
    return [
        header,
        *(
            (i, h.tag, h.asset_type, h.name, round(h.score, 4), h.source_image_file, h.why)
            for i, h in enumerate(hits, start=1)
        ),
    ]


def _thumbnail(path: Path, size: int) -> Image.Image:
    with Image.open(path) as image:
        thumb = image.convert("RGBA")
    thumb.thumbnail((size, size))
    background = Image.new("RGBA", thumb.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, thumb).convert("RGB")


def gallery(hits: Sequence[SearchHit], *, title: str, thumb_size: int = 160, columns: int = 5) -> Figure:
    """A grid of result thumbnails, each titled with rank, tag, type and score."""
    rows = max(1, -(-len(hits) // columns))
    figure = Figure(figsize=(2.4 * columns, 2.6 * rows))
    for i in range(rows * columns):
        axis = figure.add_subplot(rows, columns, i + 1)
        axis.axis("off")
        if i < len(hits):
            hit = hits[i]
            axis.imshow(_thumbnail(Path(hit.crop_path), thumb_size))
            axis.set_title(f"{i + 1}. {hit.tag} ({hit.asset_type})\nscore {hit.score:.3f}", fontsize=8)
    figure.suptitle(title if hits else f"{title}: no results")
    return figure


def duplicate_pairs(db_path: str) -> list[NearDuplicatePair]:
    """Every near-duplicate link of the workspace."""
    return near_duplicate_pairs(library_settings(db_path))


def duplicates_figure(pairs: Sequence[NearDuplicatePair], *, thumb_size: int = 200, limit: int = 6) -> Figure:
    """Each near-duplicate beside the image it repeats, with the method and distance."""
    shown = list(pairs)[:limit]
    figure = Figure(figsize=(6, 2.8 * max(1, len(shown))))
    for i, pair in enumerate(shown):
        for j, (path, label) in enumerate(
            ((pair.image_path, pair.image_file), (pair.duplicate_of_path, pair.duplicate_of))
        ):
            axis = figure.add_subplot(max(1, len(shown)), 2, 2 * i + j + 1)
            axis.axis("off")
            axis.imshow(_thumbnail(path, thumb_size))
            caption = f"{label}\n{pair.method} distance {pair.distance:.3f}" if j == 0 else f"original: {label}"
            axis.set_title(caption, fontsize=8)
    if not shown:
        figure.suptitle("no near-duplicates")
    return figure


def library_explorer(searcher: LibrarySearcher, *, query: str, k: int = 10, thumb_size: int = 160) -> Any:
    """Widgets: a search box, type filters, and a "more like this" picker over the results."""
    import ipywidgets as widgets
    from IPython.display import HTML, display

    types = sorted(set(searcher.index.types.tolist()))
    box = widgets.Text(value=query, description="search", layout=widgets.Layout(width="60%"))
    kinds = widgets.SelectMultiple(options=types, value=(), rows=min(8, max(len(types), 1)), description="types")
    like = widgets.Dropdown(options=[""], value="", description="more like")
    output = widgets.Output()

    def refresh(_: object = None) -> None:
        output.clear_output(wait=True)
        with output:
            try:
                hits = searcher.search(text=box.value, like=like.value, k=k, types=kinds.value)
            except Exception as error:  # shown to the user, not swallowed
                display(HTML(f"<b>refused:</b> {error}"))
                return
            like.options = ["", *[h.tag for h in hits if h.tag != like.value]] + ([like.value] if like.value else [])
            display(
                gallery(
                    hits, title=f"{box.value!r} {'like ' + like.value if like.value else ''}", thumb_size=thumb_size
                )
            )
            display(HTML(html_table(hit_rows(hits))))

    for widget in (box, kinds, like):
        widget.observe(refresh, names="value")
    refresh()
    return widgets.VBox([box, kinds, like, output])

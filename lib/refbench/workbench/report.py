"""Notebook 04, the manifest report: the run, its rejections, the contact sheet, identities, assets, timings.

Every function takes a ``WorkspaceReader`` and reads the workspace briefly; figures are built without
pyplot and tables are static HTML, so the exported report reads offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from refbench.errors import InputNotFound
from refbench.registry.runs import Run, compare
from refbench.workbench import WorkspaceReader
from refbench.workbench.tables import jpeg_thumbnail, thumbnail_html


def manifest_run(reader: WorkspaceReader, run_id: str = "") -> Run:
    """A manifest run by id (or unique prefix); an empty id picks the latest completed one."""
    return reader.read(lambda ws: ws.runs.get(run_id) if run_id else ws.runs.latest(kind="manifest"))


def run_overview(run: Run) -> list[tuple[str, Any]]:
    """(what, value) rows: the run's identity, parameters and headline counts."""
    metrics = run.metrics
    return [
        ("what", "value"),
        ("run", run.run_id),
        ("status", run.status),
        ("started (UTC)", run.started_at),
        ("duration (s)", run.duration_s),
        ("git commit", run.git_commit),
        ("execution provider", run.execution_provider),
        *[(f"parameter: {k}", v) for k, v in sorted(run.parameters.items())],
        *[
            (name, metrics.get(key))
            for name, key in (
                ("files seen", "files_seen"),
                ("images new", "images_new"),
                ("images total", "images_total"),
                ("rejected new", "rejected_new"),
                ("faces", "faces"),
                ("identities", "identities"),
            )
        ],
    ]


def rejection_rows(reader: WorkspaceReader, run_id: str) -> list[tuple]:
    """Every rejected file with its reason, and whether this run rejected it first."""
    rejected = reader.read(lambda ws: ws.rejections.list())
    rows = [(r.file_name, r.code, r.reason, r.run_id == run_id) for r in rejected]
    return [("file", "code", "reason", "new in this run"), *(rows or [("(none)", "", "no file was rejected", "")])]


def contact_sheet_image(reader: WorkspaceReader, *, max_side: int = 1400) -> Any:
    """The newest contact sheet as an embedded JPEG (scaled to ``max_side``) for static HTML.

    Raises:
        InputNotFound: the workspace has no contact sheet yet.
    """
    from IPython.display import Image as DisplayImage

    path = reader.read(lambda ws: ws.artifacts.latest("contact_sheet"))
    if path is None or not path.is_file():
        raise InputNotFound("no contact sheet in this workspace: run `refbench manifest` first")
    return DisplayImage(data=jpeg_thumbnail(path, size=max_side), format="jpeg")


def identity_galleries(reader: WorkspaceReader, *, face_model: str, max_faces: int = 8) -> Figure:
    """One compact figure: a tile per identity with its best faces side by side (best first), titled with the
    tag, the number of faces and the best face's quality, width and yaw."""
    faces = reader.read(lambda ws: ws.faces.gallery(face_model))
    tags = faces.data.get("identity_tag", np.array([], dtype=object))
    identities = list(dict.fromkeys(tags.tolist()))
    columns = min(4, max(len(identities), 1))
    rows = max(1, -(-len(identities) // columns))
    figure = Figure(figsize=(3.4 * columns, 2.0 * rows), layout="constrained")
    axes_grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes in axes_grid:
        axes.set_axis_off()
    for axes, tag in zip(axes_grid, identities, strict=False):
        members = faces[tags == tag]
        d = members.data
        axes.imshow(face_strip([Path(p) for p in d["crop_path"][:max_faces]], height=120))
        axes.set_title(
            f"{tag} · {len(members)} face{'s' if len(members) != 1 else ''}\n"
            f"best q {d['quality_score'][0]:.2f} · width {d['width_frac'][0]:.0%} · yaw {d['yaw'][0]:+.0f}°",
            fontsize=8,
        )
    figure.suptitle(f"{len(identities)} identities ({face_model}), best face first", fontsize=10)
    return figure


def face_strip(paths: list[Path], *, height: int) -> np.ndarray:
    """Face crops scaled to one ``height`` and set side by side, (height, W, 3) uint8 RGB."""
    tiles = []
    for path in paths:
        with Image.open(path) as crop:
            rgb = crop.convert("RGB")
        tiles.append(rgb.resize((max(1, round(rgb.width * height / rgb.height)), height)))
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height), "white")
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + 4
    return np.asarray(strip)


def asset_rows(reader: WorkspaceReader, *, thumb_px: int = 72) -> list[tuple]:
    """Active assets by type then tag: thumbnail, tag, type, name, source image, quality, description."""
    assets = sorted(reader.read(lambda ws: list(ws.assets.list())), key=lambda a: (a.asset_type, a.tag))
    return [
        ("", "tag", "type", "name", "source image", "quality", "description"),
        *[
            (
                thumbnail_html(a.crop_path, size=thumb_px),
                a.tag,
                a.asset_type,
                a.name,
                a.source_image_file,
                a.quality,
                a.visual_description or a.reverse_prompt or "(not described yet: run refbench describe)",
            )
            for a in assets
        ],
    ]


def bar_figure(values: dict[str, float], *, title: str, xlabel: str) -> Figure:
    """A horizontal bar chart of ``name -> value``, values printed at the bars."""
    figure = Figure(figsize=(7, 0.35 * max(len(values), 3) + 1), layout="constrained")
    axes = figure.subplots()
    names, numbers = list(values)[::-1], list(values.values())[::-1]
    bars = axes.barh(names or ["(none)"], numbers or [0], color="tab:green")
    axes.bar_label(bars, fmt="%.2f" if any(isinstance(v, float) and v % 1 for v in numbers) else "%d", fontsize=8)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    return figure


def assets_by_type(reader: WorkspaceReader) -> dict[str, int]:
    """Active assets per type, most first."""
    counts = reader.read(lambda ws: ws.assets.counts_by_type())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def stage_seconds(run: Run) -> dict[str, float]:
    """Seconds per stage of a run, from its ``seconds_*`` metrics."""
    return {k.removeprefix("seconds_"): v for k, v in run.metrics.items() if k.startswith("seconds_")}


def comparison_rows(reader: WorkspaceReader, run: Run) -> list[tuple]:
    """The parameters and metrics where ``run`` differs from the previous manifest run."""
    before = reader.read(lambda ws: ws.runs.previous(run))
    if before is None:
        return [("what", "value"), ("previous run", "none: this is the first manifest run")]
    changed = [
        (r.section, r.name, r.a, r.b)
        for r in compare(before, run).differences()
        if r.section in ("parameter", "metric")
    ]
    return [
        ("section", "name", f"previous {before.run_id}", f"this {run.run_id}"),
        *(changed or [("", "no parameter or metric changed", "", "")]),
    ]

"""Notebook 04, the manifest report: the run, its rejections, the contact sheet, identities, assets, timings.

Every function takes a ``WorkspaceReader`` and reads the workspace briefly; figures are built without
pyplot and tables are static HTML, so the exported report reads offline.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from refbench.errors import InputNotFound
from refbench.registry.runs import Run, compare
from refbench.types import Detections
from refbench.workbench import WorkspaceReader


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
    return DisplayImage(data=jpeg_bytes(path, max_side=max_side), format="jpeg")


def jpeg_bytes(path: Path, *, max_side: int) -> bytes:
    """An image file scaled to at most ``max_side`` pixels, as JPEG bytes."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def identity_galleries(reader: WorkspaceReader, *, face_model: str, max_faces: int = 8) -> list[Figure]:
    """One figure per identity: its face crops (best quality first) over a chart of their quality figures."""
    faces = reader.read(lambda ws: ws.faces.gallery(face_model))
    tags = faces.data.get("identity_tag", np.array([], dtype=object))
    figures = []
    for tag in dict.fromkeys(tags.tolist()):
        members = faces[tags == tag]
        figures.append(_gallery(tag, members[:max_faces], total=len(members)))
    return figures


def _gallery(tag: str, faces: Detections, *, total: int) -> Figure:
    columns = max(len(faces), 3)
    figure = Figure(figsize=(1.7 * columns, 4.2), layout="constrained")
    grid = figure.add_gridspec(2, columns, height_ratios=[2.2, 1])
    d = faces.data
    for i in range(len(faces)):
        axes = figure.add_subplot(grid[0, i])
        with Image.open(d["crop_path"][i]) as crop:
            axes.imshow(crop.convert("RGB"))
        axes.set_axis_off()
        axes.set_title(
            f"{str(d['image_file'][i])[:18]}\nq {d['quality_score'][i]:.2f} · det {faces.confidence[i]:.2f}\n"
            f"width {d['width_frac'][i]:.0%} · yaw {d['yaw'][i]:+.0f}°",
            fontsize=7,
        )
    chart = figure.add_subplot(grid[1, :])
    x = np.arange(len(faces))
    chart.bar(x - 0.2, d["quality_score"], width=0.4, label="quality")
    chart.bar(x + 0.2, faces.confidence, width=0.4, label="detection score")
    chart.set_xticks(x, [str(i + 1) for i in x])
    chart.set_ylim(0, 1)
    chart.legend(fontsize=7, loc="lower right")
    figure.suptitle(
        f"{tag}: {total} face{'s' if total != 1 else ''}" + (f" (best {len(faces)})" if total > len(faces) else "")
    )
    return figure


def asset_rows(reader: WorkspaceReader) -> list[tuple]:
    """Active assets (tag, type, name, source file, quality), by type then tag."""
    assets = sorted(reader.read(lambda ws: list(ws.assets.list())), key=lambda a: (a.asset_type, a.tag))
    return [
        ("tag", "type", "name", "source image", "quality"),
        *[(a.tag, a.asset_type, a.name, a.source_image_file, a.quality) for a in assets],
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

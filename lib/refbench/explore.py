"""What the notebooks draw: detections on an image, identity galleries, tables and stage timings.

Notebooks hold no logic (CONVENTIONS.md 9): they call these functions and show what comes back.
Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so a notebook shows each
exactly once and the exported HTML embeds them as PNG images that read offline.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from refbench import store
from refbench.detect import OBJECT_DETECTORS, create_object_detector
from refbench.errors import ConfigError, StoreError
from refbench.faces import create_face_analyzer
from refbench.ingest import reload_image
from refbench.manifest import image_record
from refbench.runs import RunRow, compare_runs, get_run, latest_run, previous_run
from refbench.types import Detections

STORED = "stored"  # detector choice meaning "the boxes the manifest registered"
LIVE_CONFIDENCE = 0.05  # live detectors keep weak boxes so the slider can reveal them
FACE_CLASS = "face"
LANDMARK_COLORS = [(255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 0, 255), (255, 160, 0)]


def open_workspace(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a workspace that has the ``v_runs`` view (migration 0005).

    Raises:
        StoreError: no database there, or one whose schema predates the view.
    """
    con = store.connect(Path(db_path), read_only=True)
    if not con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'v_runs'").fetchone()[0]:
        con.close()
        raise StoreError(f"{db_path} predates the v_runs view: run any refbench command on it once to migrate")
    return con


def detector_choices() -> list[str]:
    """Detector dropdown entries: the manifest's stored boxes, then each live backend."""
    return [STORED, *[name for name in OBJECT_DETECTORS if name != "ultralytics"]]


def image_choices(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(file name, image id) of every registered image, in ingest order: dropdown options."""
    return con.execute("SELECT file_name, image_id FROM images ORDER BY ingested_at, file_name").fetchall()


def find_image(con: duckdb.DuckDBPyConnection, file_name: str) -> str:
    """Image id of a registered file name; an empty name picks the first image with a face.

    Raises:
        ConfigError: the workspace has no such image.
    """
    row = con.execute(
        "SELECT image_id FROM images WHERE file_name = ? OR (? = '' AND image_id IN (SELECT image_id FROM faces))"
        " ORDER BY ingested_at, file_name LIMIT 1",
        [file_name, file_name],
    ).fetchone()
    if row is None:
        raise ConfigError(f"no registered image named {file_name!r}")
    return row[0]


def load_image(con: duckdb.DuckDBPyConnection, image_id: str) -> np.ndarray:
    """The upright RGB pixels (H, W, 3) uint8 of a registered image, from its workspace copy."""
    return reload_image(image_record(con, image_id), max_pixels=10**9).image_rgb


def stored_objects(con: duckdb.DuckDBPyConnection, image_id: str) -> Detections:
    """The object boxes the manifest registered for an image (every detector it ran)."""
    rows = con.execute(
        "SELECT bbox, confidence, class_id, class_name FROM detections WHERE image_id = ? ORDER BY confidence DESC",
        [image_id],
    ).fetchall()
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        {"class_name": np.array([r[3] for r in rows])},
    )


def stored_faces(con: duckdb.DuckDBPyConnection, image_id: str) -> Detections:
    """The faces the manifest registered for an image, with landmarks (N, 5, 2) and identity tags."""
    rows = con.execute(
        "SELECT bbox, det_score, landmarks, coalesce(identity_tag, '?') FROM v_faces"
        " WHERE image_id = ? ORDER BY face_id",
        [image_id],
    ).fetchall()
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.zeros(len(rows)),
        {
            "class_name": np.array([FACE_CLASS] * len(rows)),
            "landmarks": np.array([r[2] for r in rows], dtype=np.float32).reshape(-1, 5, 2),
            "identity_tag": np.array([r[3] for r in rows]),
        },
    )


def merge(objects: Detections, faces: Detections) -> Detections:
    """Objects and faces as one ``Detections``; faces carry class ``face`` and their landmarks."""
    n_objects, n_faces = len(objects), len(faces)
    landmarks = np.full((n_objects + n_faces, 5, 2), np.nan, dtype=np.float32)
    if n_faces:
        landmarks[n_objects:] = faces.data["landmarks"]
    names = [*objects.data.get("class_name", []), *([FACE_CLASS] * n_faces)]
    return Detections(
        np.concatenate([objects.xyxy, faces.xyxy]),
        np.concatenate([objects.confidence, faces.confidence]),
        np.concatenate([objects.class_id, np.full(n_faces, -1)]),
        {"class_name": np.array(names, dtype=object), "landmarks": landmarks},
    )


def filter_detections(detections: Detections, *, min_confidence: float, classes: Iterable[str] = ()) -> Detections:
    """Rows at or above ``min_confidence`` whose class is in ``classes`` (empty: every class)."""
    keep = detections.confidence >= min_confidence
    wanted = set(classes)
    if wanted:
        keep &= np.isin(detections.data["class_name"].astype(str), list(wanted))
    return detections[keep]


def class_counts(detections: Detections) -> dict[str, int]:
    """Detections per class name, most frequent first."""
    return dict(Counter(detections.data.get("class_name", np.array([])).astype(str).tolist()).most_common())


def draw_detections(image_rgb: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of an RGB image (H, W, 3) with boxes, ``class score`` labels and face landmarks drawn."""
    canvas = Image.fromarray(image_rgb).copy()
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    font = ImageFont.load_default(size=max(12, width * 7))
    for i in range(len(detections)):
        name = str(detections.data["class_name"][i])
        color = (255, 215, 0) if name == FACE_CLASS else _class_color(name)
        x1, y1, x2, y2 = detections.xyxy[i].tolist()
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        draw.text(
            (x1 + width, max(0, y1 - width * 8)),
            f"{name} {detections.confidence[i]:.2f}",
            fill=color,
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
        points = detections.data.get("landmarks")
        if points is not None and not np.isnan(points[i]).any():
            for (x, y), dot in zip(points[i].tolist(), LANDMARK_COLORS, strict=True):
                draw.ellipse((x - width * 1.5, y - width * 1.5, x + width * 1.5, y + width * 1.5), fill=dot)
    return np.asarray(canvas)


def _class_color(name: str) -> tuple[int, int, int]:
    rng = np.random.default_rng(sum(map(ord, name)))
    return tuple(int(v) for v in rng.integers(60, 256, 3))


class DetectionExplorer:
    """Images of one workspace with stored or live detections; what notebook 01's widgets call."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, model_dir: Path, face_model: str = "insightface") -> None:
        self.con, self.model_dir, self.face_model = con, Path(model_dir), face_model
        self._models: dict[str, Any] = {}
        self._found: dict[tuple[str, str], Detections] = {}

    def detections(self, image_id: str, detector: str) -> Detections:
        """All objects and faces of an image: the stored ones, or a live run of ``detector`` (cached)."""
        key = (image_id, detector)
        if key not in self._found:
            if detector == STORED:
                self._found[key] = merge(stored_objects(self.con, image_id), stored_faces(self.con, image_id))
            else:
                image = load_image(self.con, image_id)
                self._found[key] = merge(
                    self._model(detector).detect(image), self._model(self.face_model).analyze(image)
                )
        return self._found[key]

    def _model(self, name: str) -> Any:
        if name not in self._models:
            self._models[name] = (
                create_face_analyzer(name, model_dir=self.model_dir)
                if name == self.face_model
                else create_object_detector(name, model_dir=self.model_dir, confidence=LIVE_CONFIDENCE)
            )
        return self._models[name]

    def link_class_filter(self, class_filter: Any, image_picker: Any, detector_picker: Any) -> None:
        """Keep a class-filter widget's options to the classes of the picked image and detector."""

        def refresh(_change: Any = None) -> None:
            class_filter.value = ()
            class_filter.options = self.class_names(image_picker.value, detector_picker.value)

        image_picker.observe(refresh, names="value")
        detector_picker.observe(refresh, names="value")
        refresh()

    def class_names(self, image_id: str, detector: str) -> list[str]:
        """Class names present in an image: the class filter's options."""
        return sorted(class_counts(self.detections(image_id, detector)))

    def figure(self, image_id: str, detector: str, min_confidence: float, classes: Sequence[str] = ()) -> Figure:
        """The image with the filtered detections drawn, and a bar chart of counts per class."""
        shown = filter_detections(self.detections(image_id, detector), min_confidence=min_confidence, classes=classes)
        counts = class_counts(shown)
        figure = Figure(figsize=(11, 5), layout="constrained")
        image_axes, count_axes = figure.subplots(1, 2, width_ratios=[3, 1])
        image_axes.imshow(draw_detections(load_image(self.con, image_id), shown))
        image_axes.set_axis_off()
        image_axes.set_title(f"{self._file_name(image_id)} · {detector} · confidence ≥ {min_confidence:.2f}")
        count_axes.barh(list(counts)[::-1] or ["(none)"], list(counts.values())[::-1] or [0], color="tab:blue")
        count_axes.set_title(f"{len(shown)} detections")
        count_axes.set_xlabel("count")
        return figure

    def _file_name(self, image_id: str) -> str:
        return self.con.execute("SELECT file_name FROM images WHERE image_id = ?", [image_id]).fetchone()[0]

    def show(self, image_id: str, detector: str, min_confidence: float, classes: Sequence[str] = ()) -> None:
        """Display the figure and the counts table (the callback of the notebook's widgets)."""
        from IPython.display import display

        figure = self.figure(image_id, detector, min_confidence, classes)
        counts = class_counts(
            filter_detections(self.detections(image_id, detector), min_confidence=min_confidence, classes=classes)
        )
        display(figure, html_table([("class", "count"), *counts.items()]))


# --- the manifest report (notebook 04) -------------------------------------------------------------------------


def manifest_run(con: duckdb.DuckDBPyConnection, run_id: str = "") -> RunRow:
    """A manifest run by id (or unique prefix); an empty id picks the latest completed one."""
    return get_run(con, run_id) if run_id else latest_run(con, kind="manifest")


def html_table(rows: Sequence[Sequence[Any]], *, caption: str = "") -> Any:
    """An HTML table (first row: headers) that exports to static HTML as is."""
    from IPython.display import HTML

    head, *body = rows
    cells = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    lines = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in body)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return HTML(f"<table>{title}<thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3f}"
    return "" if value is None else str(value)


def run_overview(run: RunRow) -> list[tuple[str, Any]]:
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


def rejection_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """Every rejected file with its reason, and whether this run rejected it first."""
    rows = con.execute(
        "SELECT file_name, code, reason, run_id = ? FROM rejections ORDER BY rejected_at, file_name", [run_id]
    ).fetchall()
    return [("file", "code", "reason", "new in this run"), *(rows or [("(none)", "", "no file was rejected", "")])]


def contact_sheet_image(con: duckdb.DuckDBPyConnection, *, max_side: int = 1400) -> Any:
    """The newest contact sheet as an embedded JPEG (scaled to ``max_side``) for static HTML.

    Raises:
        StoreError: the workspace has no contact sheet yet.
    """
    from IPython.display import Image as DisplayImage

    row = con.execute(
        "SELECT path FROM artifacts WHERE kind = 'contact_sheet' ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    if row is None or not Path(row[0]).is_file():
        raise StoreError("no contact sheet in this workspace: run `refbench manifest` first")
    return DisplayImage(data=jpeg_bytes(Path(row[0]), max_side=max_side), format="jpeg")


def jpeg_bytes(path: Path, *, max_side: int) -> bytes:
    """An image file scaled to at most ``max_side`` pixels, as JPEG bytes."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def identity_galleries(con: duckdb.DuckDBPyConnection, *, face_model: str, max_faces: int = 8) -> list[Figure]:
    """One figure per identity: its face crops (best quality first) over a chart of their quality figures."""
    rows = con.execute(
        "SELECT identity_tag, crop_path, image_file, quality_score, det_score, width_frac, yaw, sharpness"
        " FROM v_faces WHERE face_model = ? AND identity_tag IS NOT NULL"
        " ORDER BY identity_tag, quality_score DESC NULLS LAST, face_id",
        [face_model],
    ).fetchall()
    by_tag: dict[str, list[tuple]] = {}
    for row in rows:
        by_tag.setdefault(row[0], []).append(row[1:])
    return [_gallery(tag, faces[:max_faces], total=len(faces)) for tag, faces in by_tag.items()]


def _gallery(tag: str, faces: list[tuple], *, total: int) -> Figure:
    columns = max(len(faces), 3)
    figure = Figure(figsize=(1.7 * columns, 4.2), layout="constrained")
    grid = figure.add_gridspec(2, columns, height_ratios=[2.2, 1])
    for i, (crop_path, file_name, quality, det, width_frac, yaw, _) in enumerate(faces):
        axes = figure.add_subplot(grid[0, i])
        with Image.open(crop_path) as crop:
            axes.imshow(crop.convert("RGB"))
        axes.set_axis_off()
        axes.set_title(
            f"{file_name[:18]}\nq {quality or 0:.2f} · det {det:.2f}\nwidth {width_frac or 0:.0%}"
            f" · yaw {yaw or 0:+.0f}°",
            fontsize=7,
        )
    chart = figure.add_subplot(grid[1, :])
    x = np.arange(len(faces))
    chart.bar(x - 0.2, [f[2] or 0 for f in faces], width=0.4, label="quality")
    chart.bar(x + 0.2, [f[3] for f in faces], width=0.4, label="detection score")
    chart.set_xticks(x, [str(i + 1) for i in x])
    chart.set_ylim(0, 1)
    chart.legend(fontsize=7, loc="lower right")
    figure.suptitle(
        f"{tag}: {total} face{'s' if total != 1 else ''}" + (f" (best {len(faces)})" if total > len(faces) else "")
    )
    return figure


def asset_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Active assets (tag, type, name, source file, quality), by tag."""
    return [
        ("tag", "type", "name", "source image", "quality"),
        *con.execute(
            "SELECT tag, asset_type, name, source_image_file, quality_score FROM v_assets ORDER BY asset_type, tag"
        ).fetchall(),
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


def assets_by_type(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Active assets per type."""
    return dict(con.execute("SELECT asset_type, count(*) FROM v_assets GROUP BY 1 ORDER BY 2 DESC, 1").fetchall())


def stage_seconds(run: RunRow) -> dict[str, float]:
    """Seconds per stage of a run, from its ``seconds_*`` metrics."""
    return {k.removeprefix("seconds_"): v for k, v in run.metrics.items() if k.startswith("seconds_")}


def comparison_rows(con: duckdb.DuckDBPyConnection, run: RunRow) -> list[tuple]:
    """The parameters and metrics where ``run`` differs from the previous manifest run."""
    before = previous_run(con, run.run_id)
    if before is None:
        return [("what", "value"), ("previous run", "none: this is the first manifest run")]
    comparison = compare_runs(con, before.run_id, run.run_id)
    changed = [(r.section, r.name, r.a, r.b) for r in comparison.differences() if r.section in ("parameter", "metric")]
    return [
        ("section", "name", f"previous {before.run_id}", f"this {run.run_id}"),
        *(changed or [("", "no parameter or metric changed", "", "")]),
    ]

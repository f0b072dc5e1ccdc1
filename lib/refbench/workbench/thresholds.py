"""Widgets of the face-threshold notebook: a threshold slider and a model dropdown driving live confusion
counts, identity clusters (face thumbnails) and the ROC with its operating point.

The notebook only calls these; all logic (and every callback) lives here (CONVENTIONS.md 9).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from IPython.display import Image as IPythonImage
from matplotlib.figure import Figure
from PIL import Image

from refbench.assets.crops import padded_box
from refbench.errors import OptionError
from refbench.faces import create_face_analyzer
from refbench.identity import Threshold, cluster_faces
from refbench.identity.calibration import (
    Calibration,
    calibrate,
    confusion_at,
    embed_images,
    load_identities,
    pairs_from_identities,
)
from refbench.identity.metrics import SweepPoint, cluster_scores, threshold_sweep
from refbench.identity.plots import figure_png, roc_figure
from refbench.ingest import load_image_rgb
from refbench.pipelines.common import resolve_threshold
from refbench.settings import Settings

THUMBNAIL_PX = 72
SWEEP = np.round(np.arange(0.05, 0.905, 0.01), 2)


@dataclass(frozen=True)
class ExplorerData:
    """One face model's calibration on a labelled set, with what the explorer shows per image."""

    calibration: Calibration
    files: list[str]  # labelled images that have a face, in identities-file order
    identities: list[str]  # true person per file
    embeddings: np.ndarray  # (N, D)
    thumbnails: list[bytes]  # PNG face crop per file
    sweep: list[SweepPoint]


def face_thumbnail(image_rgb: np.ndarray, xyxy: np.ndarray, *, size: int = THUMBNAIL_PX) -> bytes:
    """PNG bytes of a padded square-ish face crop (box (4,)) scaled to ``size`` px."""
    left, top, right, bottom = padded_box(xyxy, padding=0.2, resolution_wh=(image_rgb.shape[1], image_rgb.shape[0]))
    crop = Image.fromarray(image_rgb[top:bottom, left:right])
    crop.thumbnail((size, size))
    buffer = io.BytesIO()
    crop.save(buffer, format="PNG")
    return buffer.getvalue()


def thresholds_in_use(face_models: list[str], *, db_path: str = "") -> dict[str, Threshold]:
    """Each model's threshold by the one policy: the workspace's calibrated one (``db_path``), else shipped."""
    settings = Settings().for_database(Path(db_path) if db_path else None)
    return {name: resolve_threshold(settings, name) for name in face_models}


def load_explorer_data(
    face_model: str,
    *,
    identities_file: Path,
    images_dir: Path,
    model_dir: Path,
    current_threshold: float,
    max_images: int | None = None,
) -> ExplorerData:
    """Embed and calibrate the labelled images (at most ``max_images``) with ``face_model``."""
    identities = load_identities(identities_file)
    if max_images is not None:
        identities = dict(list(identities.items())[:max_images])
    analyzer = create_face_analyzer(face_model, model_dir=model_dir)
    embedded = embed_images(identities, images_dir=images_dir, analyzer=analyzer)
    calibration = calibrate(
        pairs_from_identities(identities),
        images_dir=images_dir,
        analyzer=analyzer,
        current_threshold=current_threshold,
        source=str(identities_file),
        embedded=embedded,
    )
    files = [f for f in identities if f in embedded.embeddings]
    embeddings = np.stack([embedded.embeddings[f] for f in files])
    thumbnails = [face_thumbnail(load_image_rgb(images_dir / f), embedded.boxes[f]) for f in files]
    labels = [identities[f] for f in files]
    return ExplorerData(calibration, files, labels, embeddings, thumbnails, threshold_sweep(embeddings, labels, SWEEP))


def confusion_html(data: ExplorerData, threshold: float) -> str:
    """Confusion counts of the labelled pairs and cluster quality at ``threshold``, as an HTML table."""
    s = data.calibration.scores
    counts = confusion_at(s.scores, s.same, threshold)
    total = sum(counts.values())
    clusters = cluster_scores(data.identities, cluster_faces(data.embeddings, threshold=threshold))
    rows = [
        ("same person, accepted (TP)", counts["tp"]),
        ("same person, rejected (FN)", counts["fn"]),
        ("different, accepted (FP)", counts["fp"]),
        ("different, rejected (TN)", counts["tn"]),
        ("accuracy", f"{(counts['tp'] + counts['tn']) / max(total, 1):.4f}"),
        ("clusters / people", f"{clusters.n_clusters} / {clusters.n_identities}"),
        ("BCubed F1", f"{clusters.bcubed_f1:.4f}"),
        ("pairwise F1", f"{clusters.pairwise_f1:.4f}"),
    ]
    body = "".join(f"<tr><td>{name}</td><td style='text-align:right'>{value}</td></tr>" for name, value in rows)
    return f"<table><caption>{data.calibration.face_model} at {threshold:.2f}</caption>{body}</table>"


def clusters_box(data: ExplorerData, threshold: float) -> widgets.VBox:
    """One row of face thumbnails per identity cluster at ``threshold``, with the true names it holds."""
    labels = cluster_faces(data.embeddings, threshold=threshold)
    rows = []
    for label in dict.fromkeys(labels.tolist()):
        members = [i for i, value in enumerate(labels) if value == label]
        names = ", ".join(sorted({data.identities[i] for i in members}))
        images = [
            widgets.Image(value=data.thumbnails[i], format="png", layout=widgets.Layout(margin="1px")) for i in members
        ]
        rows.append(
            widgets.HBox(
                [widgets.Label(f"identity {label + 1}: {names}", layout=widgets.Layout(width="260px")), *images]
            )
        )
    return widgets.VBox(rows)


def roc_image(data: ExplorerData, threshold: float) -> widgets.Image:
    """An image widget of the ROC with the operating point of ``threshold``."""
    return widgets.Image(value=figure_png(roc_figure(data.calibration, threshold=threshold)), format="png")


def show_figure(figure: Figure) -> IPythonImage:
    """A figure as a static PNG display object (kept by HTML export, unlike widgets)."""
    return IPythonImage(data=figure_png(figure), format="png")


def threshold_explorer(datasets: dict[str, ExplorerData], *, thresholds: dict[str, Threshold]) -> widgets.VBox:
    """Model dropdown + threshold slider, re-drawing confusion counts, clusters and ROC on every change.

    The slider starts at each model's threshold in use (``thresholds_in_use``).
    """
    if not datasets:
        raise OptionError("threshold_explorer needs at least one face model's data")
    first = next(iter(datasets))
    dropdown = widgets.Dropdown(options=list(datasets), value=first, description="face model")
    slider = widgets.FloatSlider(
        value=thresholds[first].value,
        min=0.0,
        max=1.0,
        step=0.01,
        description="threshold",
        continuous_update=False,
        readout_format=".2f",
    )
    counts, panel = widgets.HTML(), widgets.VBox()

    def redraw(_change: object = None) -> None:
        data = datasets[dropdown.value]
        counts.value = confusion_html(data, slider.value)
        panel.children = [roc_image(data, slider.value), clusters_box(data, slider.value)]

    def on_model(change: dict) -> None:
        slider.value = thresholds[change["new"]].value  # each model has its own scale of cosines
        redraw()

    dropdown.observe(on_model, names="value")
    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([dropdown, slider]), counts, panel])


def summary_html(datasets: dict[str, ExplorerData]) -> str:
    """Headline calibration figures of every model as an HTML table (static: survives HTML export)."""
    header = (
        "<tr><th>model</th><th>pairs same/diff</th><th>AUC</th><th>EER</th><th>EER thr.</th>"
        "<th>best acc. (thr.)</th><th>acc. at default (thr.)</th><th>margin</th><th>recommended</th></tr>"
    )
    rows = []
    for name, data in datasets.items():
        m = data.calibration.metrics
        rows.append(
            f"<tr><td>{name}</td><td>{m.n_genuine}/{m.n_impostor}</td><td>{m.auc:.4f}</td>"
            f"<td>{m.eer:.4f}</td><td>{m.eer_threshold:.3f}</td>"
            f"<td>{m.best_accuracy:.4f} ({m.best_accuracy_threshold:.3f})</td>"
            f"<td>{m.accuracy_at_current:.4f} ({m.current_threshold:.3f})</td><td>{m.margin:.3f}</td>"
            f"<td>{data.calibration.recommended_threshold:.3f}</td></tr>"
        )
    return f"<table>{header}{''.join(rows)}</table>"

"""Notebook 02, face thresholds: a threshold slider and a model dropdown driving live confusion counts, the
pairs that flip against the threshold in use, the number of clusters and the clusters themselves (thumbnails).

Distractor faces (people absent from the labels, from group photos) give the slider something to get wrong:
with only a handful of same-person pairs, nothing visible changes over a wide range of thresholds.

The notebook only calls these; all logic (and every callback) lives here (CONVENTIONS.md 9).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from IPython.display import HTML, display
from matplotlib.figure import Figure
from PIL import Image

from refbench.assets.crops import padded_box
from refbench.errors import InputNotFound, OptionError
from refbench.faces import create_face_analyzer
from refbench.identity import Threshold, cluster_faces
from refbench.identity.calibration import (
    Calibration,
    LabeledPair,
    calibrate,
    confusion_at,
    embed_images,
    find_distractor_faces,
    load_identities,
    pairs_from_identities,
)
from refbench.identity.metrics import SweepPoint, cluster_scores, threshold_sweep
from refbench.ingest import load_image_rgb
from refbench.pipelines.common import resolve_threshold
from refbench.settings import Settings
from refbench.workbench.live import Explorer, figure_image
from refbench.workbench.tables import html_table

THUMBNAIL_PX = 72
SWEEP = np.round(np.arange(0.05, 0.905, 0.01), 2)


@dataclass(frozen=True)
class ExplorerData:
    """One face model's calibration on a labelled set plus distractor faces, with a thumbnail per face.

    Faces are the labelled images that have one (in identities-file order), then the distractor faces; a
    distractor's identity is its own key (``file#index``): distractors are distinct people by definition.
    """

    calibration: Calibration
    files: list[str]  # labelled file names, then distractor keys
    identities: list[str]  # true person per face
    embeddings: np.ndarray  # (N, D)
    thumbnails: list[bytes]  # PNG face crop per face
    sweep: list[SweepPoint]
    n_labelled: int

    @cached_property
    def index(self) -> dict[str, int]:
        """Position of each file or distractor key."""
        return {name: i for i, name in enumerate(self.files)}

    @cached_property
    def thumbnail_uris(self) -> list[str]:
        """Each thumbnail as a ``data:`` URI for static HTML."""
        return ["data:image/png;base64," + base64.b64encode(png).decode() for png in self.thumbnails]


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
    distractors_dir: Path | None = None,
) -> ExplorerData:
    """Embed and calibrate the labelled images (at most ``max_images``) and the distractor faces with ``face_model``.

    Raises:
        InputNotFound: ``distractors_dir`` is given but is no folder.
    """
    if distractors_dir is not None and not Path(distractors_dir).is_dir():
        raise InputNotFound(f"distractor folder not found: {distractors_dir}")
    identities = load_identities(identities_file)
    if max_images is not None:
        identities = dict(list(identities.items())[:max_images])
    analyzer = create_face_analyzer(face_model, model_dir=model_dir)
    embedded = embed_images(identities, images_dir=images_dir, analyzer=analyzer)
    others = find_distractor_faces(Path(distractors_dir), analyzer=analyzer) if distractors_dir else []
    calibration = calibrate(
        pairs_from_identities(identities),
        images_dir=images_dir,
        analyzer=analyzer,
        current_threshold=current_threshold,
        source=str(identities_file),
        embedded=embedded,
        distractors={face.key: face.embedding for face in others},
    )
    files = [f for f in identities if f in embedded.embeddings]
    thumbnails = [face_thumbnail(load_image_rgb(images_dir / f), embedded.boxes[f]) for f in files]
    thumbnails += [face_thumbnail(load_image_rgb(face.path), face.xyxy) for face in others]
    embeddings = np.stack([embedded.embeddings[f] for f in files] + [face.embedding for face in others])
    labels = [identities[f] for f in files] + [face.key for face in others]
    names = files + [face.key for face in others]
    sweep = threshold_sweep(embeddings, labels, SWEEP)
    return ExplorerData(calibration, names, labels, embeddings, thumbnails, sweep, n_labelled=len(files))


def confusion_html(data: ExplorerData, threshold: float) -> str:
    """Confusion counts of the labelled pairs and cluster quality at ``threshold``, as an HTML table."""
    s = data.calibration.scores
    counts = confusion_at(s.scores, s.same, threshold)
    total = sum(counts.values())
    clusters = cluster_scores(data.identities, cluster_faces(data.embeddings, threshold=threshold))
    rows = [
        ("what", "value"),
        ("same person, accepted (TP)", counts["tp"]),
        ("same person, rejected (FN)", counts["fn"]),
        ("different, accepted (FP)", counts["fp"]),
        ("different, rejected (TN)", counts["tn"]),
        ("accuracy", f"{(counts['tp'] + counts['tn']) / max(total, 1):.4f}"),
        ("clusters / people", f"{clusters.n_clusters} / {clusters.n_identities}"),
        ("BCubed F1", f"{clusters.bcubed_f1:.4f}"),
        ("pairwise F1", f"{clusters.pairwise_f1:.4f}"),
    ]
    return html_table(rows, caption=f"{data.calibration.face_model} at {threshold:.2f}")


def flipped_pairs(data: ExplorerData, threshold: float, *, reference: float) -> list[tuple[LabeledPair, float]]:
    """Pairs whose decision at ``threshold`` differs from the one at ``reference``, by score.

    A pair is accepted when its cosine reaches the threshold, so the pairs that flip are those scored in
    ``[min, max)`` of the two thresholds.
    """
    low, high = sorted((threshold, reference))
    s = data.calibration.scores
    flips = [(pair, float(score)) for pair, score in zip(s.pairs, s.scores, strict=True) if low <= score < high]
    return sorted(flips, key=lambda item: item[1], reverse=True)


def errors_at(data: ExplorerData, threshold: float) -> list[tuple[LabeledPair, float]]:
    """Pairs decided wrongly at ``threshold`` (different people accepted, the same person rejected), worst first."""
    s = data.calibration.scores
    wrong = [(p, float(v)) for p, v in zip(s.pairs, s.scores, strict=True) if (v >= threshold) != p.same]
    return sorted(wrong, key=lambda item: abs(item[1] - threshold), reverse=True)


def pairs_table(data: ExplorerData, pairs: list[tuple[LabeledPair, float]], *, threshold: float, limit: int) -> str:
    """Pairs with both faces, cosine, truth and the decision at ``threshold`` (at most ``limit`` rows)."""
    rows = [
        f"<tr><td style='text-align:left'><img src='{data.thumbnail_uris[data.index[p.a]]}' height='48'> "
        f"<img src='{data.thumbnail_uris[data.index[p.b]]}' height='48'></td>"
        f"<td style='text-align:left'>{html.escape(p.a)}<br>{html.escape(p.b)}</td><td>{score:.3f}</td>"
        f"<td>{'same' if p.same else 'different'}</td><td>{'accepted' if score >= threshold else 'rejected'}</td>"
        f"<td>{'right' if (score >= threshold) == p.same else 'wrong'}</td></tr>"
        for p, score in pairs[:limit]
    ]
    head = "<tr><th>faces</th><th>files</th><th>cosine</th><th>truth</th><th>decision</th><th>now</th></tr>"
    more = f"<p>… and {len(pairs) - limit} more.</p>" if len(pairs) > limit else ""
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{more}"


def flips_html(data: ExplorerData, threshold: float, *, reference: float, limit: int = 12) -> str:
    """The pairs that change decision between ``reference`` (the threshold in use) and ``threshold``, with faces;
    at the threshold in use itself, the pairs it gets wrong."""
    flips = flipped_pairs(data, threshold, reference=reference)
    if not flips:
        wrong = errors_at(data, threshold)
        intro = f"<p>No pair changes decision between {reference:.2f} (in use) and {threshold:.2f}; move the slider. "
        if not wrong:
            return intro + f"Every labelled and distractor pair is decided right at {threshold:.2f}.</p>"
        return (
            intro
            + f"<b>{len(wrong)} pair(s) decided wrongly</b> at {threshold:.2f}:</p>"
            + pairs_table(data, wrong, threshold=threshold, limit=limit)
        )
    fixed = sum((score >= threshold) == pair.same for pair, score in flips)  # right now, so wrong before
    summary = (
        f"<p><b>{len(flips)} pair(s) flip</b> from {reference:.2f} (in use) to {threshold:.2f}: "
        f"{fixed} error(s) fixed, {len(flips) - fixed} new error(s).</p>"
    )
    return summary + pairs_table(data, flips, threshold=threshold, limit=limit)


def clusters_html(data: ExplorerData, threshold: float) -> str:
    """One row of face thumbnails per identity found at ``threshold``; single distractor faces are counted."""
    labels = cluster_faces(data.embeddings, threshold=threshold)
    rows, singles = [], 0
    for number, label in enumerate(dict.fromkeys(labels.tolist()), start=1):
        members = np.flatnonzero(labels == label)
        if len(members) == 1 and members[0] >= data.n_labelled:
            singles += 1
            continue
        names = sorted({data.identities[i] if i < data.n_labelled else "other person" for i in members})
        faces = "".join(f"<img src='{data.thumbnail_uris[i]}' height='56' style='margin:1px'>" for i in members)
        rows.append(
            f"<tr><td style='text-align:left'>identity {number}: {html.escape(', '.join(names))}</td>"
            f"<td style='text-align:left'>{faces}</td></tr>"
        )
    note = f"<p>… and {singles} distractor face(s) alone in their own cluster.</p>" if singles else ""
    return f"<table><caption>clusters at {threshold:.2f}</caption>{''.join(rows)}</table>{note}"


def threshold_figure(data: ExplorerData, threshold: float, *, reference: float) -> Figure:
    """Score distributions and the number of clusters against the threshold, both thresholds marked."""
    s = data.calibration.scores
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    scores_axes, clusters_axes = figure.subplots(1, 2)
    bins = np.linspace(min(-0.2, float(s.scores.min())), 1.0, 41)
    scores_axes.hist(s.impostor, bins=bins, alpha=0.6, density=True, label=f"different ({len(s.impostor)})")
    scores_axes.hist(s.genuine, bins=bins, alpha=0.6, density=True, label=f"same ({len(s.genuine)})")
    counts = [p.scores.n_clusters for p in data.sweep]
    clusters_axes.plot([p.threshold for p in data.sweep], counts, color="tab:green")
    people = data.sweep[0].scores.n_identities if data.sweep else 0
    clusters_axes.axhline(people, color="grey", linestyle=":", label=f"people ({people})")
    now = len(set(cluster_faces(data.embeddings, threshold=threshold).tolist()))
    clusters_axes.plot([threshold], [now], "o", color="crimson", label=f"{now} clusters at {threshold:.2f}")
    for axes in (scores_axes, clusters_axes):
        axes.axvline(reference, color="black", linestyle="--", label=f"in use {reference:.2f}")
        axes.axvline(threshold, color="crimson", label=f"chosen {threshold:.2f}")
        axes.legend(fontsize=7)
    scores_axes.set(xlabel="cosine of the pair's faces", ylabel="density", title="labelled and distractor pairs")
    clusters_axes.set(xlabel="clustering threshold", ylabel="clusters", title="identities found")
    return figure


def threshold_explorer(datasets: dict[str, ExplorerData], *, thresholds: dict[str, Threshold]) -> Explorer:
    """Model dropdown + threshold slider; confusion counts, score and cluster curves, flipping pairs and clusters.

    The slider starts at each model's threshold in use (``thresholds_in_use``); what flips is measured from it.
    """
    if not datasets:
        raise OptionError("threshold_explorer needs at least one face model's data")
    first = next(iter(datasets))
    controls = {
        "face_model": widgets.Dropdown(options=list(datasets), value=first, description="face model"),
        "threshold": widgets.FloatSlider(
            value=thresholds[first].value,
            min=0.0,
            max=1.0,
            step=0.01,
            description="threshold",
            continuous_update=False,
            readout_format=".2f",
        ),
    }

    def on_model(change: dict) -> None:
        controls["threshold"].value = thresholds[change["new"]].value  # each model has its own scale of cosines

    controls["face_model"].observe(on_model, names="value")

    def draw(face_model: str, threshold: float) -> None:
        data, reference = datasets[face_model], thresholds[face_model].value
        display(
            HTML(confusion_html(data, threshold)),
            figure_image(threshold_figure(data, threshold, reference=reference)),
            HTML(flips_html(data, threshold, reference=reference)),
            HTML(clusters_html(data, threshold)),
        )

    return Explorer(controls, draw)


def summary_html(datasets: dict[str, ExplorerData]) -> str:
    """Headline calibration figures of every model as an HTML table (static: survives HTML export)."""
    rows = [
        ("model", "pairs same/diff", "distractor faces", "AUC", "EER", "EER thr.", "best acc. (thr.)")
        + ("acc. at default (thr.)", "margin", "recommended"),
    ]
    for name, data in datasets.items():
        c, m = data.calibration, data.calibration.metrics
        rows.append(
            (name, f"{m.n_genuine}/{m.n_impostor}", c.n_distractor_faces, f"{m.auc:.4f}", f"{m.eer:.4f}")
            + (f"{m.eer_threshold:.3f}", f"{m.best_accuracy:.4f} ({m.best_accuracy_threshold:.3f})")
            + (f"{m.accuracy_at_current:.4f} ({m.current_threshold:.3f})", f"{m.margin:.3f}")
            + (f"{c.recommended_threshold:.3f}",)
        )
    return html_table(rows)

"""Figures of a calibration: ROC with the operating point, score histograms with the threshold, F1 sweep.

Figures are built with matplotlib's object API (``Figure``, no pyplot): no global backend is touched, files are
rendered by Agg, and notebooks show the same figures (``figure_png``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from refbench.identity.calibration import Calibration, confusion_at
from refbench.identity.metrics import SweepPoint


def _new_figure() -> tuple[Figure, object]:
    figure = Figure(figsize=(5, 4))
    return figure, figure.subplots()


def roc_figure(calibration: Calibration, *, threshold: float) -> Figure:
    """ROC curve (log FAR axis) with the operating point of ``threshold`` marked."""
    m, s = calibration.metrics, calibration.scores
    counts = confusion_at(s.scores, s.same, threshold)
    far = counts["fp"] / max(m.n_impostor, 1)
    tar = counts["tp"] / max(m.n_genuine, 1)
    floor = 0.5 / max(m.n_impostor, 1)  # where FAR = 0 is drawn on the log axis
    figure, axes = _new_figure()
    axes.step(np.maximum(m.fpr, floor), m.tpr, where="post", label=f"AUC {m.auc:.4f}, EER {m.eer:.3f}")
    axes.plot(
        [max(far, floor)], [tar], "o", color="crimson", label=f"threshold {threshold:.3f}: FAR {far:.3g}, TAR {tar:.3f}"
    )
    axes.set_xscale("log")
    axes.set(
        xlabel="false accept rate",
        ylabel="true accept rate",
        ylim=(0, 1.02),
        title=f"ROC {calibration.face_model} ({m.n_genuine} same / {m.n_impostor} different pairs)",
    )
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def histogram_figure(calibration: Calibration, *, threshold: float) -> Figure:
    """Same-person and different-person cosine histograms with the threshold as a line."""
    s = calibration.scores
    figure, axes = _new_figure()
    bins = np.linspace(min(-0.2, s.scores.min()), 1.0, 41)
    # densities: there are far more different-person pairs than same-person ones
    axes.hist(s.impostor, bins=bins, alpha=0.6, density=True, label=f"different ({len(s.impostor)})", color="tab:blue")
    axes.hist(s.genuine, bins=bins, alpha=0.6, density=True, label=f"same ({len(s.genuine)})", color="tab:orange")
    axes.axvline(threshold, color="crimson", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set(
        xlabel="cosine similarity of the largest faces",
        ylabel="density of pairs",
        title=f"{calibration.face_model}: margin {calibration.metrics.margin:.3f}",
    )
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def sweep_figure(points: Sequence[SweepPoint], *, threshold: float, face_model: str) -> Figure:
    """BCubed and pairwise F1 of the identity clustering against the clustering threshold."""
    figure, axes = _new_figure()
    thresholds = [p.threshold for p in points]
    axes.plot(thresholds, [p.scores.bcubed_f1 for p in points], label="BCubed F1")
    axes.plot(thresholds, [p.scores.pairwise_f1 for p in points], label="pairwise F1", linestyle=":")
    axes.axvline(threshold, color="crimson", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set(xlabel="clustering threshold (cosine)", ylabel="F1", ylim=(0, 1.02), title=f"{face_model}: clustering")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: Path) -> Path:
    """Write a figure as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def figure_png(figure: Figure) -> bytes:
    """A figure rendered as PNG bytes (for notebooks and widgets)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def save_calibration_plots(
    calibration: Calibration, folder: Path, *, threshold: float, sweep: Sequence[SweepPoint] | None = None
) -> list[Path]:
    """ROC, histogram (and F1 sweep when given) PNGs named after the calibration id, under ``folder``."""
    stem = folder / calibration.calibration_id
    paths = [
        save_figure(roc_figure(calibration, threshold=threshold), stem.with_name(f"{stem.name}-roc.png")),
        save_figure(histogram_figure(calibration, threshold=threshold), stem.with_name(f"{stem.name}-hist.png")),
    ]
    if sweep:
        paths.append(
            save_figure(
                sweep_figure(sweep, threshold=threshold, face_model=calibration.face_model),
                stem.with_name(f"{stem.name}-sweep.png"),
            )
        )
    return paths

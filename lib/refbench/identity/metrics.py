"""Cluster quality against ground-truth identities: BCubed, pairwise F1, purity, and a threshold sweep.

All counts come from scikit-learn's contingency matrix ``n[t, p]`` (items with true label t put in
predicted cluster p). With ``N`` items:

- BCubed precision = (1/N) * sum n[t, p]^2 / |p|,  recall = (1/N) * sum n[t, p]^2 / |t|  (Bagga & Baldwin).
- Pairwise precision = same-cluster pairs that are same-person / same-cluster pairs; recall the other way.
- Purity = (1/N) * sum over predicted clusters of their largest true group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refbench.errors import CalibrationError
from refbench.identity import cluster_faces


@dataclass(frozen=True)
class ClusterScores:
    """Quality of one clustering of N items."""

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    purity: float
    n_items: int
    n_clusters: int
    n_identities: int


@dataclass(frozen=True)
class SweepPoint:
    """Cluster quality at one clustering threshold."""

    threshold: float
    scores: ClusterScores


def _contingency(labels_true: Sequence, labels_pred: Sequence) -> np.ndarray:
    if len(labels_true) != len(labels_pred):
        raise CalibrationError(f"labels differ in length: {len(labels_true)} true vs {len(labels_pred)} predicted")
    if len(labels_true) == 0:
        raise CalibrationError("no items to score")
    from sklearn.metrics.cluster import contingency_matrix

    return contingency_matrix(np.asarray(labels_true), np.asarray(labels_pred)).astype(np.float64)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def bcubed(labels_true: Sequence, labels_pred: Sequence) -> tuple[float, float, float]:
    """BCubed (precision, recall, F1) of predicted labels (N,) against true labels (N,)."""
    n = _contingency(labels_true, labels_pred)
    total = n.sum()
    precision = float((n**2 / n.sum(axis=0, keepdims=True)).sum() / total)
    recall = float((n**2 / n.sum(axis=1, keepdims=True)).sum() / total)
    return precision, recall, _f1(precision, recall)


def pairwise_f1(labels_true: Sequence, labels_pred: Sequence) -> tuple[float, float, float]:
    """Pairwise (precision, recall, F1) over all unordered item pairs; 1.0 where a ratio has no pairs at all."""
    n = _contingency(labels_true, labels_pred)
    together = float((n * (n - 1) / 2).sum())
    predicted = float((n.sum(axis=0) * (n.sum(axis=0) - 1) / 2).sum())
    actual = float((n.sum(axis=1) * (n.sum(axis=1) - 1) / 2).sum())
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    return precision, recall, _f1(precision, recall)


def purity(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Fraction of items that belong to their predicted cluster's majority identity."""
    n = _contingency(labels_true, labels_pred)
    return float(n.max(axis=0).sum() / n.sum())


def cluster_scores(labels_true: Sequence, labels_pred: Sequence) -> ClusterScores:
    """Every cluster-quality figure of predicted labels (N,) against true labels (N,)."""
    bp, br, bf = bcubed(labels_true, labels_pred)
    pp, pr, pf = pairwise_f1(labels_true, labels_pred)
    return ClusterScores(
        bp,
        br,
        bf,
        pp,
        pr,
        pf,
        purity(labels_true, labels_pred),
        len(labels_true),
        len(set(np.asarray(labels_pred).tolist())),
        len(set(np.asarray(labels_true).tolist())),
    )


def threshold_sweep(embeddings: np.ndarray, labels_true: Sequence, thresholds: Sequence[float]) -> list[SweepPoint]:
    """Cluster ``embeddings`` (N, D) with ``identity.cluster_faces`` at each threshold and score each clustering."""
    return [
        SweepPoint(float(t), cluster_scores(labels_true, cluster_faces(embeddings, threshold=float(t))))
        for t in thresholds
    ]


def best_sweep_point(points: Sequence[SweepPoint]) -> SweepPoint:
    """The point of highest BCubed F1; ties go to the middle of the tied run (the most robust choice)."""
    if not points:
        raise CalibrationError("empty threshold sweep")
    f1 = np.array([p.scores.bcubed_f1 for p in points])
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    return points[int(best[len(best) // 2])]


def largest_face_scores(identities: dict[str, str], largest: dict[str, str | None]) -> ClusterScores:
    """Score a registry's identities: the largest face of each labelled image against its true person.

    Args:
        identities: image file name -> person (e.g. ``identities.csv``); images the registry lacks are ignored.
        largest: image file name -> identity id of its largest face (``None``: not clustered).
    """
    labelled = [
        (identities[file], identity or f"unclustered:{file}")
        for file, identity in largest.items()
        if file in identities
    ]
    if not labelled:
        raise CalibrationError("no labelled image has a face in this workspace")
    return cluster_scores([t for t, _ in labelled], [p for _, p in labelled])

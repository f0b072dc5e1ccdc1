"""Face identities: cosine similarities, agglomerative clustering (average linkage) and stable tags.

Greedy "compare with the first member" grouping depends on the order of the photos and is
not transitive; average linkage merges two groups only when their *mean* pairwise
similarity clears the threshold.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from refbench.errors import OptionError, ShapeError
from refbench.identity.thresholds import DEFAULT_THRESHOLDS, Threshold, choose_threshold, default_threshold
from refbench.types import FaceSet, Identity

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Threshold",
    "build_identities",
    "choose_threshold",
    "cluster_faces",
    "default_threshold",
    "similarity_matrix",
    "stable_tags",
]


def similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarities (N, N) of L2-normalized embeddings (N, D)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ShapeError(f"embeddings: expected shape (N, D), got {embeddings.shape}")
    return np.clip(embeddings @ embeddings.T, -1.0, 1.0)


def check_threshold(threshold: float) -> float:
    """A cosine threshold, or an ``OptionError`` saying why it is not one."""
    if not -1.0 <= threshold <= 1.0:
        raise OptionError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    return float(threshold)


def cluster_faces(embeddings: np.ndarray, *, threshold: float) -> np.ndarray:
    """Cluster faces into identities.

    Args:
        embeddings: (N, D) L2-normalized face embeddings.
        threshold: cosine similarity a group's mean pairwise similarity must reach to merge.

    Returns:
        (N,) int labels, numbered by first appearance (the first face is identity 0).
    """
    from sklearn.cluster import AgglomerativeClustering  # sklearn costs ~1.7 s to import: only when clustering

    check_threshold(threshold)
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    distance = 1.0 - similarity_matrix(embeddings)
    np.fill_diagonal(distance, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return _renumber(model.fit_predict(distance))


def _renumber(labels: np.ndarray) -> np.ndarray:
    order = {label: i for i, label in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[label] for label in labels.tolist()], dtype=int)


def stable_tags(labels: np.ndarray, previous: Sequence[str]) -> dict[int, str]:
    """CHAR tag per cluster label: a cluster inherits the old tag most of its faces had ("" for none).

    Clusters with the strongest claim pick first; a tag goes to one cluster only; new clusters get
    numbers after the highest tag ever kept.
    """
    votes: dict[int, Counter] = defaultdict(Counter)
    for label, tag in zip(labels.tolist(), previous, strict=True):
        if tag:
            votes[label][tag] += 1
    taken: set[str] = set()
    tags: dict[int, str] = {}
    for label in sorted(votes, key=lambda lb: -max(votes[lb].values())):
        for tag, _ in votes[label].most_common():
            if tag not in taken:
                tags[label] = tag
                taken.add(tag)
                break
    next_number = max((int(t.split("_")[1]) for t in taken), default=0) + 1
    for label in dict.fromkeys(labels.tolist()):
        if label not in tags:
            tags[label] = f"CHAR_{next_number:02d}"
            next_number += 1
    return tags


def build_identities(face_set: FaceSet, *, threshold: float) -> list[Identity]:
    """Cluster every face of a face set; each identity keeps the tag most of its faces had and its best face.

    The best face is the one of highest ``quality_score`` (the first of ties, in ingest order).
    """
    if not len(face_set):
        return []
    faces = face_set.faces
    labels = cluster_faces(face_set.embeddings, threshold=threshold)
    tags = stable_tags(labels, [str(t) for t in faces.data["identity_tag"]])
    quality = np.asarray(faces.data["quality_score"], dtype=np.float64)
    ids = face_set.face_ids
    identities = []
    for label, tag in tags.items():
        members = np.flatnonzero(labels == label)
        best = members[int(np.argmax(quality[members]))]
        identities.append(
            Identity(
                identity_id=f"{face_set.face_model}/{tag}",
                face_model=face_set.face_model,
                tag=tag,
                threshold=threshold,
                best_face_id=ids[best],
                face_ids=tuple(ids[i] for i in members),
            )
        )
    return identities

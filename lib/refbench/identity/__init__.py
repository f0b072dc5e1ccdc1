"""Face identities: cosine similarities, agglomerative clustering (average linkage) and stable tags.

Greedy "compare with the first member" grouping depends on the order of the photos and is
not transitive; average linkage merges two groups only when their *mean* pairwise
similarity clears the threshold. Clustering runs on the graph of pairs above the threshold with each
cluster's embedding sum (``refbench.identity.linkage``): the same partition as a dense F×F average
linkage, in memory that grows with the pairs, and with the user's constraints.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from refbench.errors import ShapeError
from refbench.identity.linkage import (
    MAX_PAIRS_PER_FACE,
    LinkConstraints,
    average_linkage,
    first_appearance,
    refine_over_means,
    threshold_pairs,
)
from refbench.identity.thresholds import (
    DEFAULT_THRESHOLDS,
    Threshold,
    check_threshold,
    choose_threshold,
    default_threshold,
)
from refbench.types import FaceSet, Identity

RELINK_K = 32  # nearest clustered faces each new face is compared with

if TYPE_CHECKING:
    from refbench.curation import ResolvedCuration, RowPin

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Threshold",
    "build_identities",
    "choose_threshold",
    "cluster_faces",
    "cluster_faces_dense",
    "neighbourhood",
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


def cluster_faces(
    embeddings: np.ndarray, *, threshold: float, constraints: LinkConstraints | None = None
) -> np.ndarray:
    """Cluster faces into identities by average linkage.

    The graph of pairs above the threshold is computed exactly, in blocks (N²·D/2 multiply-adds, memory that grows
    with the pairs, not N²), and gives the same partition as ``cluster_faces_dense``. A face with more than
    ``MAX_PAIRS_PER_FACE`` such pairs (a person with many photos) keeps its most similar ones, and the clusters
    are then refined over their means (``refine_over_means``): no longer exact in principle, but it keeps a
    thousand-photo person's pairs from filling memory.

    Args:
        embeddings: (N, D) L2-normalized face embeddings.
        threshold: cosine similarity a group's mean pairwise similarity must exceed to merge.
        constraints: must-links merged first and cannot-links never joined (``refbench.curation``).

    Returns:
        (N,) int labels, numbered by first appearance (the first face is identity 0).
    """
    check_threshold(threshold)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    graph = threshold_pairs(embeddings, threshold=threshold, max_per_row=MAX_PAIRS_PER_FACE)
    labels = average_linkage(embeddings, threshold=threshold, pairs=graph.pairs, constraints=constraints)
    if graph.capped:
        labels = refine_over_means(embeddings, labels, threshold=threshold, pairs=graph.pairs, constraints=constraints)
    return labels


def cluster_faces_dense(embeddings: np.ndarray, *, threshold: float) -> np.ndarray:
    """The reference: scikit-learn's average linkage on the dense F×F distance matrix (F² memory and time).

    ``cluster_faces`` gives the same partition; tests and ``make bench`` compare the two.
    """
    from sklearn.cluster import AgglomerativeClustering  # sklearn costs ~1.7 s to import: only when asked

    check_threshold(threshold)
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    distance = 1.0 - similarity_matrix(embeddings)
    np.fill_diagonal(distance, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return first_appearance(model.fit_predict(distance))


def tag_number(tag: str) -> int:
    """The number of a ``PREFIX_NN`` tag (0 when it has none)."""
    _, _, number = tag.partition("_")
    return int(number) if number.isdigit() else 0


def stable_tags(
    labels: np.ndarray,
    previous: Sequence[str],
    *,
    pins: Sequence[RowPin] = (),
    first_free: int = 1,
    reserved: Collection[str] = (),
) -> dict[int, str]:
    """CHAR tag per cluster label: pinned tags first, then the old tag most of its faces had ("" for none).

    A pinned tag (a user's correction) goes to the cluster holding most of its pinned faces, latest pin
    first; each tag is placed at its latest pin only. Then clusters with the strongest claim pick an old tag;
    a tag goes to one cluster only; new clusters get numbers after both the highest tag kept and
    ``first_free - 1`` (so that a tag once given to someone is never given to someone else). ``reserved`` tags
    belong to identities outside these faces (a partial re-link) and are never handed out.
    """
    tags: dict[int, str] = {}
    taken: set[str] = set(reserved)
    for pin in sorted(pins, key=lambda p: -p.seq):
        if pin.tag in taken:
            continue
        taken.add(pin.tag)
        cluster = Counter(labels[pin.rows].tolist()).most_common(1)[0][0]
        tags.setdefault(cluster, pin.tag)
    votes: dict[int, Counter] = defaultdict(Counter)
    for label, tag in zip(labels.tolist(), previous, strict=True):
        if tag and label not in tags:
            votes[label][tag] += 1
    for label in sorted(votes, key=lambda lb: -max(votes[lb].values())):
        for tag, _ in votes[label].most_common():
            if tag not in taken:
                tags[label] = tag
                taken.add(tag)
                break
    next_number = max((tag_number(t) for t in taken), default=0) + 1
    next_number = max(next_number, first_free)
    for label in dict.fromkeys(labels.tolist()):
        if label not in tags:
            tags[label] = f"CHAR_{next_number:02d}"
            next_number += 1
    return tags


def build_identities(
    face_set: FaceSet,
    *,
    threshold: float,
    curation: ResolvedCuration | None = None,
    first_free: int = 1,
    reserved: Collection[str] = (),
) -> list[Identity]:
    """Cluster every face of a face set; each identity keeps its pinned or majority tag and its best face.

    The best face is the user's reference when it belongs to the identity, else the one of highest
    ``quality_score`` (the first of ties, in ingest order). ``reserved``: tags of identities outside the set.
    """
    if not len(face_set):
        return []
    faces = face_set.faces
    constraints = curation.constraints if curation else None
    labels = cluster_faces(face_set.embeddings, threshold=threshold, constraints=constraints)
    tags = stable_tags(
        labels,
        [str(t) for t in faces.data["identity_tag"]],
        pins=curation.pins if curation else (),
        first_free=first_free,
        reserved=reserved,
    )
    references = curation.references if curation else {}
    quality = np.asarray(faces.data["quality_score"], dtype=np.float64)
    ids = np.asarray(face_set.face_ids, dtype=object)
    identities = []
    for label, members in _members(labels).items():
        tag = tags[label]
        pinned = references.get(tag)
        best = pinned if pinned is not None and labels[pinned] == label else members[int(np.argmax(quality[members]))]
        identities.append(
            Identity(
                identity_id=f"{face_set.face_model}/{tag}",
                face_model=face_set.face_model,
                tag=tag,
                threshold=threshold,
                best_face_id=str(ids[best]),
                face_ids=tuple(ids[members].tolist()),
            )
        )
    return identities


def neighbourhood(
    embeddings: np.ndarray, tags: Sequence[str], seeds: np.ndarray, *, threshold: float, k: int = RELINK_K
) -> np.ndarray:
    """Rows to cluster again when the ``seeds`` rows are new or changed: the seeds and every face of each identity
    that holds a seed or one of a seed's ``k`` most similar clustered faces above ``threshold``.

    Average linkage only merges clusters joined by a pair above the threshold, so identities no seed comes near
    keep their faces. Searched with ``refbench.vectors`` (exact below a million faces).
    """
    from refbench.vectors import create_index

    tags = np.asarray(tags, dtype=object)
    others = np.setdiff1d(np.flatnonzero(tags != ""), seeds)
    touched = set(tags[seeds].tolist()) - {""}
    if len(others) and len(seeds):
        index = create_index(embeddings.shape[1], expected=len(others))
        index.add(embeddings[others])
        found = index.search(embeddings[seeds], k=k)
        hits = found.rows[(found.scores > threshold) & (found.rows >= 0)]
        touched |= set(tags[others[hits]].tolist())
    return np.union1d(seeds, np.flatnonzero(np.isin(tags, list(touched))))


def _members(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of each label, in row order, labels in order of first appearance (one sort, not one pass per label)."""
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    groups = dict(zip(values.tolist(), np.split(order, starts[1:]), strict=True))
    return {label: groups[label] for label in dict.fromkeys(labels.tolist())}

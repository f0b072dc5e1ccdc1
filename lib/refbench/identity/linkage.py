"""Average-linkage clustering on a sparse graph, with must-link and cannot-link constraints.

For L2-normalized embeddings the mean pairwise cosine of two groups X and Y is ``(ΣX · ΣY) / (|X| |Y|)``:
average linkage needs each cluster's sum and size, never an F×F matrix. Two groups whose mean similarity
clears the threshold share at least one pair that clears it, so the only candidates are clusters joined by
an edge of the threshold graph (every pair above the threshold). Merging the most similar allowed candidate
first, until none clears the threshold, is scikit-learn's average linkage cut at that threshold (UPGMA is
reducible, so the greedy order and the nearest-neighbour chain agree); must-linked rows start in one cluster
and clusters that a cannot-link separates are never merged.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from refbench.errors import ConstraintConflict, ShapeError

NO_COLOUR = -1


@dataclass(frozen=True)
class LinkConstraints:
    """What a user asserted about N faces, as row labels.

    Attributes:
        must: (N,) int; rows with the same value start in one cluster (must-links are merged first).
        exclusive: cannot-link rules, each (N,) int: two rows with different non-negative values in one rule
            never share a cluster (``-1``: the rule says nothing about that row).
    """

    must: np.ndarray
    exclusive: tuple[np.ndarray, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.must)
        for rule in self.exclusive:
            if rule.shape != (n,):
                raise ShapeError(f"exclusive rule: expected shape ({n},), got {rule.shape}")

    @classmethod
    def none(cls, n: int) -> LinkConstraints:
        """No constraint on ``n`` rows."""
        return cls(np.arange(n))


def threshold_pairs(embeddings: np.ndarray, *, threshold: float, block_bytes: int = 64 << 20) -> np.ndarray:
    """Every pair ``i < j`` whose cosine exceeds ``threshold``, exactly, as (P, 2) int64.

    Blocks of rows against the rows after them: memory stays at ``block_bytes`` of similarities.
    """
    n = len(embeddings)
    rows = max(1, block_bytes // (4 * max(n, 1)))
    found = [np.zeros((0, 2), np.int64)]
    for start in range(0, n, rows):
        block = embeddings[start : start + rows] @ embeddings[start:].T
        i, j = np.nonzero(np.triu(block, 1) > threshold)
        found.append(np.column_stack([i + start, j + start]))
    return np.concatenate(found)


def average_linkage(
    embeddings: np.ndarray, *, threshold: float, pairs: np.ndarray, constraints: LinkConstraints | None = None
) -> np.ndarray:
    """Cluster rows by average linkage, merging while a pair's mean cosine exceeds ``threshold``.

    Args:
        embeddings: (N, D) L2-normalized.
        threshold: cosine a merge's mean pairwise similarity must exceed.
        pairs: (P, 2) row pairs; must include every pair above ``threshold`` for the exact result
            (``threshold_pairs``), or a k-nearest-neighbour graph's edges for an approximation.
        constraints: must-links and cannot-links; none by default.

    Returns:
        (N,) int labels numbered by first appearance.

    Raises:
        ConstraintConflict: a must-link group holds two rows a cannot-link separates.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    constraints = constraints or LinkConstraints.none(n)
    _, group = np.unique(constraints.must, return_inverse=True)
    clusters = _Clusters(embeddings, group, constraints.exclusive)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a, b = group[pairs[:, 0]], group[pairs[:, 1]]
    edges = np.unique(np.sort(np.column_stack([a, b])[a != b], axis=1), axis=0)
    clusters.link(edges)
    heap = [(-s, int(x), int(y), 0, 0) for x, y, s in zip(*edges.T, clusters.similarity(edges), strict=True)]
    heap = [entry for entry in heap if -entry[0] > threshold]
    heapq.heapify(heap)
    while heap:
        _, x, y, version_x, version_y = heapq.heappop(heap)
        if clusters.version[x] != version_x or clusters.version[y] != version_y or clusters.conflict(x, y):
            continue
        for similarity, other in clusters.merge(x, y):
            if similarity > threshold:
                heapq.heappush(heap, (-similarity, x, other, clusters.version[x], clusters.version[other]))
    return _first_appearance(clusters.root_of(group))


class _Clusters:
    """Sums, sizes, neighbours and cannot-link colours of the current clusters (ids of the initial groups)."""

    def __init__(self, embeddings: np.ndarray, group: np.ndarray, exclusive: tuple[np.ndarray, ...]) -> None:
        k = int(group.max()) + 1
        self.sums = np.zeros((k, embeddings.shape[1]), np.float64)
        np.add.at(self.sums, group, embeddings)
        self.sizes = np.bincount(group, minlength=k).astype(np.float64)
        self.version = np.zeros(k, dtype=np.int64)
        self.parent = np.arange(k)
        self.neighbours: list[set[int]] = [set() for _ in range(k)]
        self.colours: dict[int, dict[int, int]] = {}
        for rule_id, rule in enumerate(exclusive):
            for row in np.flatnonzero(rule > NO_COLOUR):
                held = self.colours.setdefault(int(group[row]), {})
                if held.setdefault(rule_id, int(rule[row])) != rule[row]:
                    raise ConstraintConflict(
                        f"row {row} is must-linked to a row that cannot-link rule {rule_id} separates"
                    )

    def link(self, edges: np.ndarray) -> None:
        """Record candidate pairs (E, 2) of cluster ids."""
        for x, y in edges.tolist():
            self.neighbours[x].add(y)
            self.neighbours[y].add(x)

    def similarity(self, edges: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
        """Mean pairwise cosine of each pair of clusters (E,), from their sums and sizes."""
        out = np.empty(len(edges))
        for start in range(0, len(edges), chunk):
            x, y = edges[start : start + chunk].T
            out[start : start + chunk] = np.einsum("ij,ij->i", self.sums[x], self.sums[y]) / (
                self.sizes[x] * self.sizes[y]
            )
        return out

    def conflict(self, x: int, y: int) -> bool:
        """Whether a cannot-link separates clusters ``x`` and ``y``."""
        cx, cy = self.colours.get(x), self.colours.get(y)
        if not cx or not cy:
            return False
        small, large = (cx, cy) if len(cx) <= len(cy) else (cy, cx)
        return any(large.get(rule, colour) != colour for rule, colour in small.items())

    def merge(self, x: int, y: int) -> list[tuple[float, int]]:
        """Merge ``y`` into ``x``; returns (mean similarity, cluster) for each neighbour of the merged cluster."""
        self.sums[x] += self.sums[y]
        self.sizes[x] += self.sizes[y]
        self.parent[y] = x
        self.version[x] += 1
        self.version[y] = -1
        if y in self.colours:
            self.colours.setdefault(x, {}).update(self.colours.pop(y))
        for other in self.neighbours[y]:
            self.neighbours[other].discard(y)
            if other != x:
                self.neighbours[other].add(x)
        self.neighbours[x] |= self.neighbours[y]
        self.neighbours[x] -= {x, y}
        self.neighbours[y] = set()
        if not self.neighbours[x]:
            return []
        others = np.fromiter(self.neighbours[x], dtype=np.int64)
        similarity = self.sums[others] @ self.sums[x] / (self.sizes[others] * self.sizes[x])
        return list(zip(similarity.tolist(), others.tolist(), strict=True))

    def root_of(self, group: np.ndarray) -> np.ndarray:
        """The final cluster of each row, given its initial group."""
        root = self.parent.copy()
        while not np.array_equal(root, root[root]):
            root = root[root]
        return root[group]


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered so that the first row is cluster 0, the next new cluster 1, ..."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse]

"""Vector search over L2-normalized embeddings (cosine = inner product), shared by face identities and the asset
library: one small interface, exact below a size and approximate above, exact with numpy's BLAS, approximate with faiss.

- ``create_index``: ``FlatIndex`` (exact, brute force with BLAS) below ``EXACT_SEARCH_MAX`` vectors, ``HnswIndex``
  (faiss HNSW) above, where a brute-force query reads every vector.
- ``knn_pairs``: every vector's k nearest others above a score, as pairs (what ``refbench.identity`` searches
  over cluster means with).

Approximate indexes are for queries, not for clustering's graph: on 50k identity-structured 512-d face vectors
(same-person cosines 0.3-0.8, as ArcFace's), faiss HNSW (M 16-32, efSearch up to 256), IVF (up to 32 of 894
lists probed) and usearch i8 / f16 found only 20-25% of the same-person pairs above 0.3 of people with few
photos, and the clustering lost them (BCubed F1 0.69 at 100k). ``refbench.identity`` computes that graph
exactly instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from refbench.errors import ShapeError

EXACT_SEARCH_MAX = 1_000_000  # flat search below this many vectors (a query costs N·D), HNSW above


@dataclass(frozen=True)
class Neighbours:
    """The answer to Q queries: ``rows`` (Q, k) int64 of the indexed vectors (-1: none), best first, and their
    ``scores`` (Q, k) float32 cosines."""

    rows: np.ndarray
    scores: np.ndarray


class VectorIndex(Protocol):
    """Inner-product search over rows added in order (row i is the i-th vector added)."""

    dim: int

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, dim) float32 vectors."""
        ...

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """The ``k`` highest inner products of each of (Q, dim) queries."""
        ...

    def __len__(self) -> int: ...


def _float32(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ShapeError(f"vectors: expected shape (N, {dim}), got {vectors.shape}")
    return vectors


class FlatIndex:
    """Exact search: every query against every vector with one BLAS product per block of queries, then a partial
    sort. Faster than faiss ``IndexFlatIP`` for single queries (100k × 512: 9 ms against 12-15 ms on 2 cores; faiss
    scans without BLAS below 20 queries) and as fast for batches."""

    def __init__(self, dim: int, *, block_bytes: int = 64 << 20) -> None:
        self.dim, self.block_bytes = dim, block_bytes
        self._parts: list[np.ndarray] = []

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, dim) vectors."""
        self._parts.append(_float32(vectors, self.dim))

    def _vectors(self) -> np.ndarray:
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0] if self._parts else np.zeros((0, self.dim), np.float32)

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """The ``k`` best rows of each query, exactly, best first."""
        queries, base = _float32(queries, self.dim), self._vectors()
        k = min(k, len(base))
        rows, scores = np.full((len(queries), k), -1, np.int64), np.zeros((len(queries), k), np.float32)
        step = max(1, self.block_bytes // (4 * max(len(base), 1)))
        for start in range(0, len(queries) if k else 0, step):
            block = queries[start : start + step] @ base.T
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
            best = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-best, axis=1, kind="stable")
            rows[start : start + step] = np.take_along_axis(top, order, axis=1)
            scores[start : start + step] = np.take_along_axis(best, order, axis=1)
        return Neighbours(rows, scores)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)


class HnswIndex:
    """Approximate search (faiss ``IndexHNSWFlat``): a few hundred distance computations per query."""

    def __init__(self, dim: int, *, links: int = 32, ef_construction: int = 80, ef_search: int = 128) -> None:
        import faiss

        self.dim = dim
        self._index = faiss.IndexHNSWFlat(dim, links, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction, self._index.hnsw.efSearch = ef_construction, ef_search

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, dim) vectors."""
        self._index.add(_float32(vectors, self.dim))

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """About the ``k`` best rows of each query, best first (-1 where fewer were found)."""
        scores, rows = self._index.search(_float32(queries, self.dim), min(k, max(len(self), 1)))
        return Neighbours(rows.astype(np.int64), scores)

    def __len__(self) -> int:
        return int(self._index.ntotal)


def create_index(dim: int, *, expected: int, exact_max: int = EXACT_SEARCH_MAX) -> VectorIndex:
    """An index for about ``expected`` vectors: exact below ``exact_max``, HNSW above."""
    return FlatIndex(dim) if expected < exact_max else HnswIndex(dim)


def knn_pairs(vectors: np.ndarray, *, k: int, min_score: float) -> np.ndarray:
    """Pairs (P, 2) ``i, j`` where ``j`` is one of the ``k`` highest inner products of row ``i`` among the other rows
    and exceeds ``min_score`` (each undirected pair may appear twice); exact below ``EXACT_SEARCH_MAX`` rows."""
    n, dim = vectors.shape
    if n < 2:
        return np.zeros((0, 2), np.int64)
    vectors = _float32(vectors, dim)
    index = create_index(dim, expected=n)
    index.add(vectors)
    found = index.search(vectors, k=k + 1)
    rows = np.repeat(np.arange(n), found.rows.shape[1])
    cols, scores = found.rows.ravel(), found.scores.ravel()
    keep = (cols >= 0) & (cols != rows) & (scores > min_score)
    return np.column_stack([rows[keep], cols[keep]])

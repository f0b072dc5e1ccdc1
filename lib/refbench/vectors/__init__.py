"""Vector search over L2-normalized embeddings (cosine = inner product), shared by face identities and the asset
library: one small interface, exact below a size and approximate above, all from faiss.

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
    """Exact search (faiss ``IndexFlatIP``): every query against every vector, with BLAS."""

    def __init__(self, dim: int) -> None:
        import faiss

        self.dim, self._index = dim, faiss.IndexFlatIP(dim)

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, dim) vectors."""
        self._index.add(_float32(vectors, self.dim))

    def search(self, queries: np.ndarray, *, k: int) -> Neighbours:
        """The ``k`` best rows of each query, exactly."""
        scores, rows = self._index.search(_float32(queries, self.dim), min(k, max(len(self), 1)))
        return Neighbours(rows.astype(np.int64), scores)

    def __len__(self) -> int:
        return int(self._index.ntotal)


class HnswIndex(FlatIndex):
    """Approximate search (faiss ``IndexHNSWFlat``): a few hundred distance computations per query."""

    def __init__(self, dim: int, *, links: int = 32, ef_construction: int = 80, ef_search: int = 96) -> None:
        import faiss

        self.dim = dim
        self._index = faiss.IndexHNSWFlat(dim, links, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction, self._index.hnsw.efSearch = ef_construction, ef_search


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

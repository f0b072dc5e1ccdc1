"""Nearest neighbours by cosine over L2-normalised vectors: exact (numpy) below a crossover, HNSW (faiss) above.

At the library sizes this workbench sees, exact search is one matrix-vector product and needs no build;
``make bench`` measures where HNSW starts to pay (query time vs build time and recall) and
``DEFAULT_CROSSOVER`` is set from it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from refbench.errors import ShapeError

DEFAULT_CROSSOVER = 200_000  # vectors; see README "Asset library" for the measurement


class VectorIndex(Protocol):
    """Top-k inner products (cosines for unit vectors) of one query against the indexed rows."""

    kind: str

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, *, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores (m,), row ids (m,)), best first, m ≤ k; ``allowed`` is an optional (N,) bool mask."""
        ...


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ShapeError(f"vectors: expected shape (N, D), got {vectors.shape}")
    return vectors


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first (argpartition, then a sort of k)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class ExactIndex:
    """Brute force: every row scored, the best ``k`` kept."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = _as_matrix(vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Inner products of ``query`` (D,) with every row, (N,)."""
        return self.vectors @ np.asarray(query, dtype=np.float32)

    def search(self, query: np.ndarray, *, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        ids = top_k(scores, k)
        ids = ids[np.isfinite(scores[ids])]
        return scores[ids], ids


class HnswIndex:
    """faiss ``IndexHNSWFlat`` on inner product; a type filter over-fetches, then falls back to exact search."""

    kind = "hnsw"

    def __init__(self, vectors: np.ndarray, *, m: int = 32, ef_construction: int = 80, ef_search: int = 64) -> None:
        import faiss

        self.vectors = _as_matrix(vectors)
        self.index = faiss.IndexHNSWFlat(self.vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.index.add(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, *, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        fetch = k if allowed is None else min(len(self), k * 10)
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32)[None], fetch)
        keep = ids[0] >= 0
        scores, ids = scores[0][keep], ids[0][keep]
        if allowed is not None:
            mask = allowed[ids]
            if mask.sum() < min(k, int(allowed.sum())):  # a rare type: search its rows exactly
                rows = np.flatnonzero(allowed)
                sub_scores, sub = ExactIndex(self.vectors[rows]).search(query, k=k)
                return sub_scores, rows[sub]
            scores, ids = scores[mask], ids[mask]
        return scores[:k], ids[:k]


def build_index(vectors: np.ndarray, *, crossover: int = DEFAULT_CROSSOVER) -> VectorIndex:
    """Exact search below ``crossover`` rows, HNSW from there on."""
    return ExactIndex(vectors) if len(vectors) < crossover else HnswIndex(vectors)

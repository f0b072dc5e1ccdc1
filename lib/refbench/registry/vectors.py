"""Vector search inside DuckDB: brute force with ``array_cosine_similarity``, the query bound as text.

Binding a 512-float query as a Python list costs DuckDB ~36 ms per statement at 100k rows (of ~97 ms); cast from
its text form (``float_array``) it costs ~1 ms. ``make bench`` measures both side by side with faiss
(``refbench.vectors``), which is what the pipelines search with.
"""

from __future__ import annotations

import duckdb
import numpy as np

from refbench.registry.connection import float_array, insert_frame


class DuckVectors:
    """An in-memory DuckDB table of (row, vector) for measuring DuckDB's own search."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.dim = vectors.shape[1]
        self._con = duckdb.connect()
        self._con.execute(f"CREATE TABLE v (i INTEGER, e FLOAT[{self.dim}])")
        insert_frame(self._con, "v", {"i": np.arange(len(vectors)), "e": list(np.asarray(vectors, np.float32))})

    def search(self, query: np.ndarray, *, k: int, bind: str = "text") -> list[int]:
        """Rows of the ``k`` most similar vectors; ``bind``: ``text`` (cast from its text form) or ``list``."""
        value = float_array(query) if bind == "text" else np.asarray(query, np.float32).tolist()
        rows = self._con.execute(
            f"SELECT i FROM v ORDER BY array_cosine_similarity(e, ?::FLOAT[{self.dim}]) DESC LIMIT ?", [value, k]
        ).fetchall()
        return [int(r[0]) for r in rows]

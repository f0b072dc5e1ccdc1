"""Files a run wrote (contact sheets, plots, reports): the ``artifacts`` table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from refbench.registry.connection import insert_rows


class Artifacts:
    """The ``artifacts`` table (one row per path: a path written again keeps its first row)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def add(self, paths: Sequence[Path], *, kind: str, run_id: str | None) -> None:
        """Record files of one kind written by a run."""
        insert_rows(self._con, "artifacts", [{"path": str(p), "kind": kind, "run_id": run_id} for p in paths])

    def record(self, path: Path, *, kind: str, run_id: str | None, signature: str) -> None:
        """Record a file a run (re)wrote, with a digest of what it shows."""
        self._con.execute(
            "INSERT INTO artifacts (path, kind, run_id, signature) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
            " SET run_id = excluded.run_id, signature = excluded.signature, created_at = now()",
            [str(path), kind, run_id, signature],
        )

    def signatures(self) -> dict[Path, str]:
        """Path → digest of every file recorded with one."""
        rows = self._con.execute("SELECT path, signature FROM artifacts WHERE signature IS NOT NULL").fetchall()
        return {Path(path): signature for path, signature in rows}

    def latest(self, kind: str) -> Path | None:
        """The newest file of a kind, or ``None``."""
        row = self._con.execute(
            "SELECT path FROM artifacts WHERE kind = ? ORDER BY created_at DESC LIMIT 1", [kind]
        ).fetchone()
        return None if row is None else Path(row[0])

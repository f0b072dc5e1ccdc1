"""Files a run wrote (contact sheets, plots, reports): the ``artifacts`` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from refbench.registry.connection import insert_rows


@dataclass(frozen=True)
class Artifact:
    """One file a run wrote."""

    path: Path
    kind: str  # contact_sheet | contact_sheet_page | calibration_plot | report_notebook | report_html | ...
    run_id: str | None


class Artifacts:
    """The ``artifacts`` table (one row per path: a path written again keeps its first row)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def add(self, paths: Sequence[Path], *, kind: str, run_id: str | None) -> None:
        """Record files of one kind written by a run."""
        insert_rows(self._con, "artifacts", [{"path": str(p), "kind": kind, "run_id": run_id} for p in paths])

    def latest(self, kind: str) -> Path | None:
        """The newest file of a kind, or ``None``."""
        row = self._con.execute(
            "SELECT path FROM artifacts WHERE kind = ? ORDER BY created_at DESC LIMIT 1", [kind]
        ).fetchone()
        return None if row is None else Path(row[0])

    def list(self, *, run_id: str | None = None, kind: str | None = None) -> list[Artifact]:
        """Recorded files (of one run and/or kind), oldest first."""
        rows = self._con.execute(
            "SELECT path, kind, run_id FROM artifacts WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR kind = ?)"
            " ORDER BY created_at, path",
            [run_id, run_id, kind, kind],
        ).fetchall()
        return [Artifact(Path(p), k, r) for p, k, r in rows]

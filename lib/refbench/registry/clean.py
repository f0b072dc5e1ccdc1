"""Clean reference sheets (``clean_references``): derived files beside the originals, one primary per tag."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from refbench.clean import CleanResult
from refbench.credentials import redact
from refbench.registry.connection import insert_rows, now, transaction


@dataclass(frozen=True)
class StoredClean:
    """A stored clean reference; ``is_primary`` marks the one selection uses for its tag."""

    clean_id: str
    tag: str
    tier: int
    method: str
    path: Path
    status: str
    similarity: float | None
    attempts: int | None
    is_primary: bool
    run_id: str | None
    message: str | None
    cost: float | None = None  # what making it took, in ``cost_unit`` (seconds for local tiers, USD for tier 4)
    cost_unit: str | None = None
    view: str | None = None  # tier 4: the view it shows


class CleanReferences:
    """The ``clean_references`` table."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save(self, results: Sequence[CleanResult], *, run_id: str | None = None) -> None:
        """Insert result rows; the last ``ok`` result of each tag that shows no single view becomes its primary clean
        reference (a tier-4 view sheet is used by asking for its view)."""
        saved_at = now()
        rows = [
            {
                "clean_id": uuid.uuid4().hex,
                "asset_id": r.asset_id,
                "tag": r.tag,
                "tier": r.tier,
                "method": r.method,
                "path": str(r.path),
                "prompt": r.prompt,
                "similarity": r.similarity,
                "threshold": r.threshold,
                "attempts": r.attempts,
                "cost": r.cost,
                "cost_unit": r.cost_unit,
                "is_primary": False,
                "status": r.status,
                "message": redact(r.message),
                "run_id": run_id,
                "view": r.view,
                "created_at": saved_at + timedelta(microseconds=index),  # keeps the order of one save
            }
            for index, r in enumerate(results)
        ]
        primary = {row["tag"]: row["clean_id"] for row in rows if row["status"] == "ok" and row["view"] is None}
        with transaction(self._con):
            insert_rows(self._con, "clean_references", rows)
            for tag, clean_id in primary.items():
                self._con.execute(
                    "UPDATE clean_references SET is_primary = (clean_id = ?) WHERE tag = ?", [clean_id, tag]
                )

    def list(self, *, tag: str | None = None, run_id: str | None = None) -> list[StoredClean]:
        """Stored clean references (of one tag or run, or all), oldest first (rows saved together in their order)."""
        rows = self._con.execute(
            "SELECT clean_id, tag, tier, method, path, status, similarity, attempts, is_primary, run_id, message,"
            " cost, cost_unit, view FROM clean_references WHERE (? IS NULL OR tag = ?) AND (? IS NULL OR run_id = ?)"
            " ORDER BY created_at, clean_id",
            [tag, tag, run_id, run_id],
        ).fetchall()
        return [StoredClean(*r[:4], Path(r[4]), *r[5:]) for r in rows]

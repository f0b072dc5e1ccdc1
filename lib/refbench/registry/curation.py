"""Curation events (``curation_events``) and the asset overrides they project onto ``assets``.

Events are the truth; ``Assets.apply_overrides`` rewrites the override columns from a replay after every
change, so an undone event leaves nothing behind.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from refbench.curation import CurationEvent
from refbench.registry.connection import count, now


class CurationLog:
    """The ``curation_events`` table: corrections in the order they were made."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def add(
        self, kind: str, payload: dict[str, Any], *, command: str, face_model: str | None, run_id: str | None
    ) -> CurationEvent:
        """Store one event; returns it with its sequence number."""
        created = now()
        seq = self._con.execute(
            "INSERT INTO curation_events (seq, kind, face_model, payload, command, run_id, created_at)"
            " SELECT coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM curation_events RETURNING seq",
            [kind, face_model, json.dumps(payload), command, run_id, created],
        ).fetchone()[0]
        return CurationEvent(int(seq), kind, payload, command, face_model, created, False, run_id)

    def events(self) -> list[CurationEvent]:
        """Every event, undone ones included, oldest first."""
        rows = self._con.execute(
            "SELECT seq, kind, payload, command, face_model, created_at, undone_at IS NOT NULL, run_id"
            " FROM curation_events ORDER BY seq"
        ).fetchall()
        return [
            CurationEvent(int(seq), kind, json.loads(payload), command, model, created, undone, run_id)
            for seq, kind, payload, command, model, created, undone, run_id in rows
        ]

    def undo_latest(self, *, run_id: str) -> CurationEvent | None:
        """Mark the newest event that is not undone as undone; returns it (``None``: nothing to undo)."""
        active = [e for e in self.events() if not e.undone]
        if not active:
            return None
        event = active[-1]
        self._con.execute(
            "UPDATE curation_events SET undone_at = ?, undone_by = ? WHERE seq = ?", [now(), run_id, event.seq]
        )
        return event

    def count(self) -> int:
        """Stored events (undone ones included)."""
        return count(self._con, "curation_events")

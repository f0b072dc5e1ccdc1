"""Reference selections per scene (every candidate with its reason) and generation requests with their checks."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import duckdb

from refbench.credentials import redact
from refbench.errors import UnknownNameError
from refbench.generation.plan import ScenePlan
from refbench.registry.connection import count, insert_rows, now, transaction
from refbench.select.selection import Selection


@dataclass(frozen=True)
class StoredRequest:
    """A generation request as stored: its status and, once submitted, its outputs or error."""

    request_id: str
    scene_id: str
    selection_id: str | None
    generator: str
    model: str
    mode: str
    valid: bool
    status: str
    request: dict
    checks: list[dict]
    operation_name: str | None
    outputs: list[str]
    error: str | None


@dataclass(frozen=True)
class StoredSelection:
    """A stored selection of one scene: the chosen tags in slot order and the user's overrides."""

    selection_id: str
    scene_id: str
    shot_type: str
    max_refs: int
    tags: list[str]
    pins: list[str]
    unpins: list[str]
    run_id: str | None


@dataclass(frozen=True)
class StoredSlot:
    """One stored candidate of a selection: chosen (``slot`` 1..n) or dropped (``slot`` None), with why."""

    tag: str
    slot: int | None
    role: str
    variant: str | None
    image_path: str
    quality: float | None
    pinned: bool
    reason: str


class Plans:
    """The ``scene_selections``, ``selection_slots`` and ``generation_requests`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save_selection(self, selection: Selection, *, run_id: str | None = None) -> str:
        """Store a selection and every candidate's reason; returns the new ``selection_id``."""
        selection_id = f"{selection.scene_id}-{uuid.uuid4().hex[:10]}"
        with transaction(self._con):
            self._con.execute(
                "INSERT INTO scene_selections (selection_id, scene_id, shot_type, max_refs, tags, pins, unpins, run_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    selection_id,
                    selection.scene_id,
                    selection.shot_type.value,
                    selection.max_refs,
                    selection.tags,
                    selection.pins,
                    selection.unpins,
                    run_id,
                    now(),
                ],
            )
            rows = [
                {
                    "selection_id": selection_id,
                    "tag": s.tag,
                    "slot": s.slot,
                    "role": s.role.value,
                    "variant": s.variant or None,
                    "image_path": str(s.image_path),
                    "quality": s.quality,
                    "pinned": s.pinned,
                    "reason": s.reason,
                }
                for s in selection.chosen + selection.dropped
            ]
            insert_rows(self._con, "selection_slots", rows)
        return selection_id

    def save(self, plan: ScenePlan, *, run_id: str | None = None) -> ScenePlan:
        """Store the selection and the request with its check results; fills the plan's ids."""
        plan.selection_id = self.save_selection(plan.selection, run_id=run_id)
        plan.request_id = f"{plan.scene.scene_id}-{uuid.uuid4().hex[:10]}"
        insert_rows(
            self._con,
            "generation_requests",
            [
                {
                    "request_id": plan.request_id,
                    "scene_id": plan.scene.scene_id,
                    "selection_id": plan.selection_id,
                    "generator": "veo",
                    "model": plan.request.model,
                    "mode": plan.request.mode,
                    "request": json.dumps(plan.request.to_json()),
                    "valid": plan.valid,
                    "checks": json.dumps([c.__dict__ for c in plan.checks]),
                    "status": "planned" if plan.valid else "refused",
                    "run_id": run_id,
                }
            ],
        )
        return plan

    def mark_done(self, request_id: str, *, operation_name: str, outputs: list[str]) -> None:
        """A submitted request finished with these outputs (files or URIs)."""
        self._con.execute(
            "UPDATE generation_requests SET status = 'done', operation_name = ?, outputs = ?, error = NULL"
            " WHERE request_id = ?",
            [operation_name, outputs, request_id],
        )

    def mark_failed(self, request_id: str, *, error: str, operation_name: str | None = None) -> None:
        """A submitted request failed (refused, operation error, polling ran out, connection lost)."""
        self._con.execute(
            "UPDATE generation_requests SET status = 'failed', error = ?,"
            " operation_name = coalesce(?, operation_name) WHERE request_id = ?",
            [redact(error), operation_name, request_id],
        )

    def requests(self, *, run_id: str | None = None) -> list[StoredRequest]:
        """Stored generation requests (of one run, or all), oldest first."""
        rows = self._con.execute(
            "SELECT request_id, scene_id, selection_id, generator, model, mode, valid, status, request, checks,"
            " operation_name, coalesce(outputs, []), error FROM generation_requests"
            " WHERE ? IS NULL OR run_id = ? ORDER BY created_at, request_id",
            [run_id, run_id],
        ).fetchall()
        return [StoredRequest(*r[:8], json.loads(r[8]), json.loads(r[9]), r[10], list(r[11]), r[12]) for r in rows]

    def selection(self, selection_id: str) -> StoredSelection:
        """One stored selection by id.

        Raises:
            UnknownNameError: no selection has that id.
        """
        row = self._con.execute(
            "SELECT selection_id, scene_id, shot_type, max_refs, tags, pins, unpins, run_id FROM scene_selections"
            " WHERE selection_id = ?",
            [selection_id],
        ).fetchone()
        if row is None:
            raise UnknownNameError("selection", selection_id, [])
        return StoredSelection(*row[:4], list(row[4]), list(row[5]), list(row[6]), row[7])

    def slots(self, selection_id: str) -> list[StoredSlot]:
        """The stored candidates of one selection (chosen in slot order, then dropped)."""
        rows = self._con.execute(
            "SELECT tag, slot, role, variant, image_path, quality, pinned, reason FROM selection_slots"
            " WHERE selection_id = ? ORDER BY slot NULLS LAST, tag",
            [selection_id],
        ).fetchall()
        return [StoredSlot(*r) for r in rows]

    def selections(self) -> int:
        """Stored selections."""
        return count(self._con, "scene_selections")

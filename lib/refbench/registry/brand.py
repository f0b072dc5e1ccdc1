"""Brand tables: ``logo_verdicts`` and ``logo_preferences`` (view ``v_logos``), ``overlays`` and ``plan_costs``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from refbench.brand.logos import LogoVerdict
from refbench.generation.costs import CostLine
from refbench.registry.connection import insert_rows, now
from refbench.types import Detections


@dataclass(frozen=True)
class StoredLogo:
    """One row of ``v_logos``: an asset's verdict and its position preference."""

    tag: str
    name: str
    asset_type: str
    is_logo: bool
    confidence: float
    reasons: list[str]
    position_preference: str
    crop_path: Path
    asset_id: str
    text_read: bool


@dataclass(frozen=True)
class OverlayRecord:
    """One overlay made: which logo on which target, where and how."""

    logo: str
    target: str
    out_path: str
    kind: str  # image | video
    xywh: tuple[int, int, int, int]
    corner: str
    reason: str
    width_px: int
    resampling: str
    opacity: float
    blend: str
    logo_asset_id: str | None = None
    frames: int | None = None


class Brand:
    """The brand tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save_verdict(self, asset_id: str, verdict: LogoVerdict, *, content_sha256: str, run_id: str | None) -> None:
        """Store (or replace) an asset's logo verdict."""
        self._con.execute(
            "INSERT OR REPLACE INTO logo_verdicts (asset_id, content_sha256, is_logo, confidence, reasons, evidence,"
            " text_read, run_id, judged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                asset_id,
                content_sha256,
                verdict.is_logo,
                verdict.confidence,
                list(verdict.reasons),
                json.dumps(verdict.to_json()["evidence"]),
                verdict.evidence.text_area_frac is not None,
                run_id,
                now(),
            ],
        )

    def judged(self) -> dict[str, str]:
        """Asset id → content sha256 of the crop its verdict was made on."""
        return dict(self._con.execute("SELECT asset_id, content_sha256 FROM logo_verdicts").fetchall())

    def stored_text(self, asset_id: str, *, content_sha256: str) -> Detections | None:
        """The library's OCR lines of an asset's current crop (``data['text']``); ``None`` when its index has no OCR
        of this crop (not indexed, indexed with ``--no-ocr``, or the crop changed since)."""
        read = self._con.execute(
            "SELECT ocr_engine IS NOT NULL FROM asset_index WHERE asset_id = ? AND content_sha256 = ?",
            [asset_id, content_sha256],
        ).fetchone()
        if read is None or not read[0]:
            return None
        rows = self._con.execute(
            "SELECT bbox, confidence, text FROM asset_ocr WHERE asset_id = ? ORDER BY line", [asset_id]
        ).fetchall()
        if not rows:
            return Detections.empty().with_data(text=np.array([], dtype=object))
        return Detections(
            np.array([r[0] for r in rows], np.float32),
            np.array([r[1] for r in rows], np.float32),
            np.zeros(len(rows), np.int32),
            {"text": np.array([r[2] for r in rows], dtype=object)},
        )

    def logos(self, *, only_logos: bool = False) -> list[StoredLogo]:
        """Judged active assets (``v_logos``), logos first, then by confidence."""
        rows = self._con.execute(
            "SELECT tag, name, asset_type, is_logo, confidence, reasons, position_preference, crop_path, asset_id,"
            " text_read FROM v_logos WHERE is_logo OR NOT ? ORDER BY is_logo DESC, confidence DESC, tag",
            [only_logos],
        ).fetchall()
        return [StoredLogo(*r[:5], list(r[5]), r[6], Path(r[7]), r[8], r[9]) for r in rows]

    def set_preference(self, asset_id: str, corner: str) -> None:
        """Where this logo goes by default (``auto`` or a corner)."""
        self._con.execute(
            "INSERT OR REPLACE INTO logo_preferences (asset_id, corner, set_at) VALUES (?, ?, ?)",
            [asset_id, corner, now()],
        )

    def preference(self, asset_id: str) -> str:
        """An asset's position preference (``auto`` when none was set)."""
        row = self._con.execute("SELECT corner FROM logo_preferences WHERE asset_id = ?", [asset_id]).fetchone()
        return "auto" if row is None else str(row[0])

    def save_overlay(self, record: OverlayRecord, *, run_id: str | None) -> str:
        """Store one overlay; returns its id."""
        overlay_id = f"overlay-{uuid.uuid4().hex[:12]}"
        insert_rows(self._con, "overlays", [{"overlay_id": overlay_id, "run_id": run_id, **record.__dict__}])
        return overlay_id

    def overlays(self) -> list[OverlayRecord]:
        """Every overlay made, oldest first."""
        rows = self._con.execute(
            "SELECT logo, target, out_path, kind, xywh, corner, reason, width_px, resampling, opacity, blend,"
            " logo_asset_id, frames FROM overlays ORDER BY created_at, overlay_id"
        ).fetchall()
        return [OverlayRecord(*r[:4], tuple(r[4]), *r[5:]) for r in rows]

    def save_costs(self, lines: Sequence[CostLine], *, run_id: str, tier: str | None, table_date: str) -> int:
        """Store a plan's cost lines."""
        rows = [
            {
                "run_id": run_id,
                "scene_id": line.scene_id or "",
                "item": line.item,
                "model": line.model,
                "variant": line.variant,
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_usd": line.unit_usd,
                "usd": line.usd,
                "tier": tier,
                "price_table_date": table_date,
            }
            for line in lines
        ]
        return insert_rows(self._con, "plan_costs", rows)

    def costs(self, run_id: str) -> list[CostLine]:
        """The cost lines stored with a plan run, in scene order."""
        rows = self._con.execute(
            "SELECT scene_id, item, model, variant, quantity, unit, unit_usd FROM plan_costs WHERE run_id = ?"
            " ORDER BY rowid",
            [run_id],
        ).fetchall()
        return [CostLine(*r) for r in rows]

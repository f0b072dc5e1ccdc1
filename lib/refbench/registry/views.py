"""View sheets: ``view_sheets`` and ``view_sheet_images``, read back through ``v_character_views``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from refbench.faces.pose import View
from refbench.identity.views import ViewImage, ViewSheet
from refbench.registry.connection import insert_rows, now, transaction


@dataclass(frozen=True)
class StoredViewSheet:
    """A stored sheet: the views it holds, its PNG and the run that made it."""

    sheet_id: str
    sheet: ViewSheet
    path: Path
    run_id: str | None
    created_at: datetime


class ViewSheets:
    """The ``view_sheets`` and ``view_sheet_images`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save(self, sheet: ViewSheet, *, path: Path, identity_id: str | None, n_faces: int, run_id: str | None) -> str:
        """Store a sheet and its images (one transaction); returns its id. The newest sheet of a tag is the one read."""
        sheet_id = f"views-{uuid.uuid4().hex[:12]}"
        head = {
            "sheet_id": sheet_id,
            "tag": sheet.tag,
            "identity_id": identity_id,
            "face_model": sheet.face_model,
            "path": str(path),
            "n_faces": n_faces,
            "missing": [v.value for v in sheet.missing],
            "run_id": run_id,
            "created_at": now(),
        }
        images = [
            {
                "sheet_id": sheet_id,
                "view": image.view.value,
                "source": image.source,
                "path": str(image.path),
                "yaw": image.yaw,
                "width_frac": image.width_frac,
                "quality_score": image.quality,
                "similarity": image.similarity,
                "face_id": image.face_id,
                "image_file": image.image_file,
                "n_candidates": sheet.counts.get(image.view, 0),
            }
            for image in sheet.images.values()
        ]
        with transaction(self._con):
            insert_rows(self._con, "view_sheets", [head])
            insert_rows(self._con, "view_sheet_images", images)
        return sheet_id

    def latest(self, tag: str) -> StoredViewSheet | None:
        """The newest sheet of ``tag`` (``None`` when it has none)."""
        head = self._con.execute(
            "SELECT sheet_id, face_model, path, run_id, created_at FROM view_sheets WHERE tag = ?"
            " ORDER BY created_at DESC, sheet_id DESC LIMIT 1",
            [tag],
        ).fetchone()
        if head is None:
            return None
        sheet_id, face_model, path, run_id, created_at = head
        cursor = self._con.execute(
            "SELECT view, source, path, yaw, width_frac, quality_score, face_id, image_file, similarity, n_candidates"
            " FROM view_sheet_images WHERE sheet_id = ?",
            [sheet_id],
        )
        images, counts = {}, dict.fromkeys(View, 0)  # a view without an image had no face
        for view, source, image_path, yaw, width, quality, face_id, image_file, similarity, n in cursor.fetchall():
            images[View(view)] = ViewImage(
                View(view), Path(image_path), source, yaw, width, quality, face_id, image_file, similarity
            )
            counts[View(view)] = n or 0
        return StoredViewSheet(sheet_id, ViewSheet(tag, face_model, images, counts), Path(path), run_id, created_at)

    def images_by_tag(self) -> dict[str, dict[str, Path]]:
        """Tag → view name → image path of each tag's newest sheet (``v_character_views``)."""
        views: dict[str, dict[str, Path]] = {}
        for tag, view, path in self._con.execute("SELECT tag, view, path FROM v_character_views").fetchall():
            views.setdefault(tag, {})[view] = Path(path)
        return views

    def count(self, tag: str | None = None) -> int:
        """Stored sheets (of one tag, or all)."""
        row = self._con.execute("SELECT count(*) FROM view_sheets WHERE ? IS NULL OR tag = ?", [tag, tag]).fetchone()
        return int(row[0])

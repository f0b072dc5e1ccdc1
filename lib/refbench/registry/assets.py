"""Assets: the ``assets`` table and the ``v_assets`` view, read back as one ``AssetSet``.

An asset keeps its tag once given. Characters mirror the identities of the manifest's face model;
objects and environments are added by the manifest from the rules in ``refbench.assets``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from refbench.registry.connection import insert_rows
from refbench.registry.views import ViewSheets
from refbench.types import Asset, AssetSet, FaceQuality

SCENE_MIN_CONFIDENCE = 0.5  # objects counted as "in the scene" of an environment

_ASSETS_SQL = """
SELECT v.asset_id, v.tag, v.asset_type, v.name, v.crop_path, v.source_image_id, v.quality_score, v.detection_id,
       v.identity_id, v.reverse_prompt, v.visual_description, v.suggested_name, v.suitability, v.source_image_file,
       v.source_image_path, i.width, i.height, d.class_name, d.confidence, d.bbox AS object_bbox,
       f.bbox AS face_bbox, f.width_frac, f.yaw, f.sharpness, f.exposure, f.quality_score AS face_quality,
       f.det_score, idt.n_faces, v.named_by_user
FROM v_assets v
JOIN images i ON i.image_id = v.source_image_id
LEFT JOIN detections d ON d.detection_id = v.detection_id
LEFT JOIN identities idt ON idt.identity_id = v.identity_id
LEFT JOIN faces f ON f.face_id = idt.best_face_id
ORDER BY v.tag
"""

# Character tag → crop of the most confident person box that contains its best face's centre.
_FULL_BODY_SQL = """
SELECT a.tag, d.crop_path FROM assets a JOIN identities i ON i.identity_id = a.identity_id
JOIN faces f ON f.face_id = i.best_face_id
JOIN detections d ON d.image_id = f.image_id AND d.class_name = 'person' AND d.crop_path IS NOT NULL
WHERE a.active AND (f.bbox[1] + f.bbox[3]) / 2 BETWEEN d.bbox[1] AND d.bbox[3]
AND (f.bbox[2] + f.bbox[4]) / 2 BETWEEN d.bbox[2] AND d.bbox[4]
ORDER BY a.tag, d.confidence DESC
"""


class Assets:
    """The ``assets`` table."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def list(self) -> AssetSet:
        """Every active asset with its facts: source image, detector class and box, best face, full-body crop,
        primary clean sheet, and what else its photo holds."""
        full_body: dict[str, Path] = {}
        for tag, crop in self._con.execute(_FULL_BODY_SQL).fetchall():
            full_body.setdefault(tag, Path(crop))
        clean = {
            tag: (Path(path), tier)
            for tag, path, tier in self._con.execute(
                "SELECT tag, path, tier FROM clean_references WHERE is_primary AND status = 'ok'"
            ).fetchall()
        }
        views = ViewSheets(self._con).images_by_tag()
        scene_objects = self._scene_objects()
        scene_faces = dict(
            self._con.execute(
                "SELECT image_id, max(n) FROM (SELECT image_id, face_model, count(*) AS n FROM faces GROUP BY ALL)"
                " GROUP BY image_id"
            ).fetchall()
        )
        cursor = self._con.execute(_ASSETS_SQL)
        names = [d[0] for d in cursor.description]
        assets = {}
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            image_id = row["source_image_id"]
            assets[row["tag"]] = _asset(
                row,
                full_body=full_body.get(row["tag"]),
                clean=clean.get(row["tag"], (None, None)),
                scene_objects=scene_objects.get(image_id, {}),
                scene_faces=int(scene_faces.get(image_id, 0)),
                views=views.get(row["tag"], {}),
            )
        return AssetSet(assets)

    def _scene_objects(self) -> dict[str, dict[str, int]]:
        rows = self._con.execute(
            "SELECT image_id, class_name, count(*) FROM detections WHERE confidence >= ? GROUP BY ALL ORDER BY ALL",
            [SCENE_MIN_CONFIDENCE],
        ).fetchall()
        scenes: dict[str, dict[str, int]] = {}
        for image_id, class_name, n in rows:
            scenes.setdefault(image_id, {})[class_name] = int(n)
        return scenes

    def ids(self) -> set[str]:
        """Ids of every asset ever registered (active or not)."""
        return {r[0] for r in self._con.execute("SELECT asset_id FROM assets").fetchall()}

    def last_tag_numbers(self) -> dict[str, int]:
        """Tag prefix → the highest number handed out so far (``PROP`` → 7 after ``PROP_07``)."""
        rows = self._con.execute(
            "SELECT split_part(tag, '_', 1), max(CAST(split_part(tag, '_', 2) AS INTEGER)) FROM assets GROUP BY 1"
        ).fetchall()
        return dict(rows)

    def counts_by_type(self) -> dict[str, int]:
        """Active assets per type (the user's type where given), by type name; excluded ones are not counted."""
        return dict(self._con.execute("SELECT asset_type, count(*) FROM v_assets GROUP BY 1 ORDER BY 1").fetchall())

    def apply_overrides(
        self,
        *,
        names: dict[str, str],
        types: dict[str, str],
        excluded_tags: set[str] | frozenset[str],
        excluded_images: set[str] | frozenset[str],
    ) -> None:
        """Rewrite the user's names, types and exclusions (by tag; images exclude every asset made from them)."""
        self._con.execute("UPDATE assets SET user_name = NULL, user_type = NULL, excluded = FALSE")
        for column, values in (("user_name", names), ("user_type", types)):
            if values:
                self._con.execute(
                    f"UPDATE assets SET {column} = m.value FROM (SELECT unnest(?) AS tag, unnest(?) AS value) m"
                    " WHERE assets.tag = m.tag",
                    [list(values), list(values.values())],
                )
        if excluded_tags or excluded_images:
            self._con.execute(
                "UPDATE assets SET excluded = TRUE WHERE list_contains(?, tag) OR list_contains(?, source_image_id)",
                [sorted(excluded_tags), sorted(excluded_images)],
            )

    def descriptions_of(self, tag: str) -> dict[str, object]:
        """The description columns of the asset shown under ``tag`` (what ``describe`` may change)."""
        cursor = self._con.execute(
            "SELECT reverse_prompt, visual_description, suggested_name, suitability FROM v_assets WHERE tag = ?", [tag]
        )
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row or (None,) * 4, strict=True))

    def restore_descriptions(self, asset_id: str, columns: dict[str, object]) -> None:
        """Put back description columns saved by ``descriptions_of`` (undoing a re-description)."""
        self._con.execute(
            "UPDATE assets SET reverse_prompt = ?, visual_description = ?, suggested_name = ?, suitability = ?"
            " WHERE asset_id = ?",
            [
                columns.get("reverse_prompt"),
                columns.get("visual_description"),
                columns.get("suggested_name"),
                columns.get("suitability"),
                asset_id,
            ],
        )

    def sync_characters(self, face_model: str) -> None:
        """One active CHAR asset per identity of ``face_model``, showing its best face; the others go inactive."""
        self._con.execute("UPDATE assets SET active = FALSE WHERE asset_type = 'character'")
        self._con.execute(
            "INSERT INTO assets (asset_id, tag, asset_type, name, source_image_id, identity_id, crop_path,"
            " quality_score, active)"
            " SELECT d.identity_id, d.tag, 'character', 'character ' || split_part(d.tag, '_', 2), f.image_id,"
            "        d.identity_id, f.crop_path, f.quality_score, TRUE"
            " FROM identities d JOIN faces f ON f.face_id = d.best_face_id WHERE d.face_model = ?"
            " ON CONFLICT (asset_id) DO UPDATE SET source_image_id = excluded.source_image_id,"
            " crop_path = excluded.crop_path, quality_score = excluded.quality_score, active = TRUE",
            [face_model],
        )

    def add(self, assets: Sequence[Asset]) -> int:
        """Register new assets (existing ids are left as they are); returns how many were added."""
        return insert_rows(
            self._con,
            "assets",
            [
                {
                    "asset_id": a.asset_id,
                    "tag": a.tag,
                    "asset_type": a.asset_type,
                    "name": a.name,
                    "source_image_id": a.source_image_id,
                    "detection_id": a.detection_id,
                    "identity_id": a.identity_id,
                    "crop_path": str(a.crop_path),
                    "quality_score": a.quality,
                }
                for a in assets
            ],
        )


def _asset(
    row: dict,
    *,
    full_body: Path | None,
    clean: tuple[Path | None, int | None],
    scene_objects: dict[str, int],
    scene_faces: int,
    views: dict[str, Path],
) -> Asset:
    character = row["asset_type"] == "character"
    face = None
    if character and row["width_frac"] is not None:
        face = FaceQuality(
            float(row["width_frac"]),
            float(row["yaw"]),
            float(row["sharpness"]),
            float(row["exposure"]),
            float(row["face_quality"]),
            float(row["det_score"]),
        )
    bbox = row["face_bbox"] if character else row["object_bbox"]
    return Asset(
        asset_id=row["asset_id"],
        tag=row["tag"],
        asset_type=row["asset_type"],
        name=row["name"],
        crop_path=Path(row["crop_path"]),
        source_image_id=row["source_image_id"],
        quality=None if row["quality_score"] is None else float(row["quality_score"]),
        detection_id=row["detection_id"],
        identity_id=row["identity_id"],
        reverse_prompt=row["reverse_prompt"],
        visual_description=row["visual_description"],
        suggested_name=row["suggested_name"],
        suitability=row["suitability"],
        source_image_file=row["source_image_file"],
        source_image_path=Path(row["source_image_path"]) if row["source_image_path"] else None,
        image_wh=(int(row["width"]), int(row["height"])),
        class_name=row["class_name"],
        bbox_xyxy=tuple(float(v) for v in bbox) if bbox is not None else None,
        confidence=None if row["confidence"] is None else float(row["confidence"]),
        face=face,
        n_faces=int(row["n_faces"] or 0),
        named_by_user=bool(row["named_by_user"]),
        scene_objects=scene_objects,
        scene_faces=scene_faces,
        full_body_path=full_body,
        clean_path=clean[0],
        clean_tier=clean[1],
        views=views,
    )

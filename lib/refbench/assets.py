"""Assets: the tagged references a story can use (CHAR_, PROP_, VEH_, ANIM_, ENV_).

Characters come from identities, props/vehicles/animals from object detections, environments
from photos where nothing dominates the frame. An asset keeps its tag once given; a re-run only
adds what is new. Each kind is written as one multi-row statement, inside the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np

from refbench import store
from refbench.crops import save_scaled

VEHICLES = {"bicycle", "car", "motorbike", "motorcycle", "aeroplane", "airplane", "bus", "train", "truck", "boat"}
ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
ASSET_PREFIX = {"character": "CHAR", "prop": "PROP", "vehicle": "VEH", "animal": "ANIM", "environment": "ENV"}
MIN_ASSET_CONFIDENCE = 0.5
MIN_ASSET_AREA_FRAC = 0.01
# An image is a scene (ENV) when nothing in it dominates the frame.
ENV_MAX_FACE_WIDTH_FRAC = 0.08
ENV_MAX_OBJECT_AREA_FRAC = 0.25


def asset_type_of(class_name: str) -> str | None:
    """Asset type of a COCO class; ``None`` for people (characters come from faces)."""
    if class_name == "person":
        return None
    return "vehicle" if class_name in VEHICLES else "animal" if class_name in ANIMALS else "prop"


class TagCounter:
    """Hands out the next free ``PREFIX_NN`` tags; reads the registry once, not once per tag."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "SELECT split_part(tag, '_', 1), max(CAST(split_part(tag, '_', 2) AS INTEGER)) FROM assets GROUP BY 1"
        ).fetchall()
        self.last = {prefix: number for prefix, number in rows}

    def next(self, prefix: str) -> str:
        """The next tag for ``prefix``, e.g. ``PROP_07``."""
        self.last[prefix] = self.last.get(prefix, 0) + 1
        return f"{prefix}_{self.last[prefix]:02d}"


def register_assets(
    con: duckdb.DuckDBPyConnection, *, face_model: str, detector: str, files_dir: Path
) -> dict[str, int]:
    """Create or refresh CHAR/PROP/VEH/ANIM/ENV assets; existing assets keep their tags.

    Returns:
        Active assets per type.
    """
    _register_characters(con, face_model=face_model)
    tags = TagCounter(con)
    store.insert_rows(con, "assets", _object_rows(con, detector=detector, tags=tags))
    store.insert_rows(
        con, "assets", _environment_rows(con, face_model=face_model, detector=detector, files_dir=files_dir, tags=tags)
    )
    return dict(con.execute("SELECT asset_type, count(*) FROM assets WHERE active GROUP BY 1 ORDER BY 1").fetchall())


def _register_characters(con: duckdb.DuckDBPyConnection, *, face_model: str) -> None:
    """One active CHAR asset per identity of ``face_model``, showing its best face; others go inactive."""
    con.execute("UPDATE assets SET active = FALSE WHERE asset_type = 'character'")
    con.execute(
        "INSERT INTO assets (asset_id, tag, asset_type, name, source_image_id, identity_id, crop_path,"
        " quality_score, active)"
        " SELECT d.identity_id, d.tag, 'character', 'character ' || split_part(d.tag, '_', 2), f.image_id,"
        "        d.identity_id, f.crop_path, f.quality_score, TRUE"
        " FROM identities d JOIN faces f ON f.face_id = d.best_face_id WHERE d.face_model = ?"
        " ON CONFLICT (asset_id) DO UPDATE SET source_image_id = excluded.source_image_id,"
        " crop_path = excluded.crop_path, quality_score = excluded.quality_score, active = TRUE",
        [face_model],
    )


def _object_rows(con: duckdb.DuckDBPyConnection, *, detector: str, tags: TagCounter) -> list[dict]:
    """New PROP/VEH/ANIM assets: confident, not tiny, and not mostly inside a kept box of the same class."""
    rows = con.execute(
        "SELECT d.detection_id, d.class_name, d.image_id, d.crop_path, d.confidence, d.bbox FROM detections d"
        " JOIN images i USING (image_id) WHERE d.detector = ? AND d.confidence >= ?"
        " AND (d.bbox[3] - d.bbox[1]) * (d.bbox[4] - d.bbox[2]) >= ? * i.width * i.height"
        " ORDER BY i.ingested_at, i.file_name, d.confidence DESC",
        [detector, MIN_ASSET_CONFIDENCE, MIN_ASSET_AREA_FRAC],
    ).fetchall()
    existing = {r[0] for r in con.execute("SELECT asset_id FROM assets").fetchall()}
    kept: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    new = []
    for detection_id, class_name, image_id, crop_path, confidence, bbox in rows:
        box, key = np.asarray(bbox), (image_id, class_name)
        if (asset_type := asset_type_of(class_name)) is None or _mostly_inside(box, kept[key]):
            continue
        kept[key].append(box)
        if detection_id in existing:
            continue
        new.append(
            {
                "asset_id": detection_id,
                "tag": tags.next(ASSET_PREFIX[asset_type]),
                "asset_type": asset_type,
                "name": class_name,
                "source_image_id": image_id,
                "detection_id": detection_id,
                "crop_path": crop_path,
                "quality_score": confidence,
            }
        )
    return new


def _mostly_inside(box: np.ndarray, others: list[np.ndarray], *, fraction: float = 0.7) -> bool:
    """Whether ``fraction`` of ``box`` (4,) lies inside one of ``others``: a part of an object already kept.

    NMS keeps such boxes (their IoU is low), but a tie's knot is no second tie.
    """
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-6)
    for other in others:
        overlap = np.clip(np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]), 0, None)
        if overlap[0] * overlap[1] / area >= fraction:
            return True
    return False


def _environment_rows(
    con: duckdb.DuckDBPyConnection, *, face_model: str, detector: str, files_dir: Path, tags: TagCounter
) -> list[dict]:
    """New ENV assets: processed photos with no large face and no dominant object, as upright scaled copies."""
    rows = con.execute(
        "SELECT i.image_id, i.file_name, i.stored_path FROM images i"
        " WHERE i.image_id NOT IN (SELECT asset_id FROM assets)"
        " AND coalesce((SELECT max(f.width_frac) FROM faces f WHERE f.image_id = i.image_id"
        "               AND f.face_model = ?), 0) < ?"
        " AND coalesce((SELECT max((d.bbox[3] - d.bbox[1]) * (d.bbox[4] - d.bbox[2])) FROM detections d"
        "               WHERE d.image_id = i.image_id AND d.detector = ? AND d.confidence >= ?), 0)"
        "     < ? * i.width * i.height"
        " AND i.image_id IN (SELECT image_id FROM processed WHERE backend = ?)"
        " ORDER BY i.ingested_at, i.file_name",
        [face_model, ENV_MAX_FACE_WIDTH_FRAC, detector, MIN_ASSET_CONFIDENCE, ENV_MAX_OBJECT_AREA_FRAC, detector],
    ).fetchall()
    return [
        {
            "asset_id": image_id,
            "tag": tags.next("ENV"),
            "asset_type": "environment",
            "name": Path(file_name).stem.replace("_", " "),
            "source_image_id": image_id,
            "crop_path": str(
                save_scaled(Path(stored_path), files_dir / "crops" / "environments" / f"{image_id[:20]}.jpg")
            ),
            "quality_score": None,
        }
        for image_id, file_name, stored_path in rows
    ]

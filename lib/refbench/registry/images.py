"""Images and what the per-image stages found in them: ``images``, ``processed``, ``detections``, ``faces``,
and the files that were refused (``rejections``).

Writes go through ``ImageWriter``, which batches rows (one transaction per batch of images); the
embedding's zero-padding to ``FLOAT[512]`` happens here and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np

from refbench.errors import UnknownNameError
from refbench.ingest import FileStat, storable
from refbench.registry.connection import Batch, count, detections_from_columns, float_array, insert_rows, transaction
from refbench.types import (
    EMBEDDING_DIM,
    Detections,
    ImageAnalysis,
    ImageRecord,
    Rejection,
    face_row_id,
    object_row_id,
)

_RECORD_COLUMNS = (
    "image_id, file_name, source_path, stored_path, width, height, format, mode, exif_orientation, n_bytes"
)
# Images in the order they were registered: the order tags are handed out in.
_INGEST_ORDER = "ingested_at, file_name"


@dataclass(frozen=True)
class RejectedFile:
    """A stored rejection: which file, why, and in which run it was first refused."""

    file_name: str
    source_path: str
    code: str
    reason: str
    run_id: str | None


@dataclass(frozen=True)
class DerivedFile:
    """A file the manifest derived from a registered image: a padded crop (``object``, ``face``) of a box, or a
    scaled upright copy (``environment``)."""

    image_id: str
    kind: str  # object | face | environment
    path: Path
    xyxy: tuple[float, float, float, float] | None  # the box a crop shows; None for an environment copy


def _record(row: tuple) -> ImageRecord:
    image_id, file_name, source, stored, width, height, fmt, mode, orientation, n_bytes = row
    return ImageRecord(image_id, file_name, Path(source), Path(stored), width, height, fmt, mode, orientation, n_bytes)


def rejection_id(rejection: Rejection) -> str:
    """Stable key of a rejection: the same bad file rejected twice is one row."""
    key = f"{storable(rejection.source_path)}\0{rejection.content_sha256 or rejection.code}"
    return hashlib.sha256(key.encode()).hexdigest()


class SheetRow(NamedTuple):
    """One contact-sheet tile as plain values (a NamedTuple: thousands are built per run)."""

    image_id: str
    file_name: str
    stored_path: str
    tags: str  # its own assets' tags, space-joined
    faces_of: str  # characters whose faces it shows but whose asset is elsewhere, space-joined


class Images:
    """The ``images`` and ``processed`` tables, and ``ImageWriter`` for everything one image adds."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def sources(self) -> dict[str, Path]:
        """Content hash → the path each registered image was first read from."""
        return {r[0]: Path(r[1]) for r in self._con.execute("SELECT image_id, source_path FROM images").fetchall()}

    def stages_done(self, *, detector: str, face_model: str) -> dict[str, set[str]]:
        """Image id → the stages (``objects``, ``faces``) already run on it with these backends (one query)."""
        done: dict[str, set[str]] = {}
        rows = self._con.execute(
            "SELECT image_id, stage FROM processed WHERE (stage = 'objects' AND backend = ?)"
            " OR (stage = 'faces' AND backend = ?)",
            [detector, face_model],
        ).fetchall()
        for image_id, stage in rows:
            done.setdefault(image_id, set()).add(stage)
        return done

    def get(self, image_id: str) -> ImageRecord:
        """The registered record of an image."""
        row = self._con.execute(f"SELECT {_RECORD_COLUMNS} FROM images WHERE image_id = ?", [image_id]).fetchone()
        if row is None:
            raise UnknownNameError("image id", image_id, [])
        return _record(row)

    def list(self) -> list[ImageRecord]:
        """Every registered image, in ingest order."""
        rows = self._con.execute(f"SELECT {_RECORD_COLUMNS} FROM images ORDER BY {_INGEST_ORDER}").fetchall()
        return [_record(r) for r in rows]

    def by_file(self, file_name: str) -> ImageRecord:
        """The first registered image of that file name; an empty name picks the first image with a face.

        Raises:
            UnknownNameError: no registered image has that name (the message suggests close ones).
        """
        row = self._con.execute(
            f"SELECT {_RECORD_COLUMNS} FROM images WHERE file_name = ?"
            " OR (? = '' AND image_id IN (SELECT image_id FROM faces))"
            f" ORDER BY {_INGEST_ORDER} LIMIT 1",
            [file_name, file_name],
        ).fetchone()
        if row is None:
            names = [r[0] for r in self._con.execute("SELECT file_name FROM images").fetchall()]
            raise UnknownNameError("image file", file_name, names)
        return _record(row)

    def count(self) -> int:
        """Registered images."""
        return count(self._con, "images")

    def processed_in(self, run_id: str) -> int:
        """Stage markers (image × stage) written by one run."""
        return int(self._con.execute("SELECT count(*) FROM processed WHERE run_id = ?", [run_id]).fetchone()[0])

    def sheet_rows(self) -> list[SheetRow]:
        """(image id, file name, stored path, tags of its own assets, tags of the characters whose faces it shows
        but whose asset is elsewhere) of every image in ingest order, tags joined by spaces: what a contact sheet
        shows, as plain values (one query, no record objects)."""
        columns = self._con.execute(
            "SELECT image_id, file_name, stored_path, coalesce((SELECT string_agg(a.tag, ' ' ORDER BY a.tag)"
            " FROM assets a WHERE a.active AND NOT a.excluded AND a.source_image_id = i.image_id), '') AS tags,"
            " coalesce((SELECT string_agg(DISTINCT a.tag, ' ' ORDER BY a.tag) FROM faces f"
            "  JOIN face_identity fi ON fi.face_id = f.face_id JOIN assets a ON a.identity_id = fi.identity_id"
            "  WHERE f.image_id = i.image_id AND a.active AND NOT a.excluded AND a.source_image_id <> i.image_id),"
            " '') AS faces_of"
            f" FROM images i ORDER BY {_INGEST_ORDER}"
        ).fetchnumpy()
        return [SheetRow(*row) for row in zip(*(columns[k].tolist() for k in SheetRow._fields), strict=True)]

    def scene_candidates(
        self,
        *,
        face_model: str,
        detector: str,
        max_face_width_frac: float,
        min_confidence: float,
        max_object_area_frac: float,
    ) -> list[ImageRecord]:
        """Processed images without an asset of their own whose largest face and largest confident object stay
        under the given fractions of the frame (what an environment asset is made of)."""
        rows = self._con.execute(
            f"SELECT {_RECORD_COLUMNS} FROM images i"
            " WHERE i.image_id NOT IN (SELECT asset_id FROM assets)"
            " AND coalesce((SELECT max(f.width_frac) FROM faces f WHERE f.image_id = i.image_id"
            "               AND f.face_model = ?), 0) < ?"
            " AND coalesce((SELECT max((d.bbox[3] - d.bbox[1]) * (d.bbox[4] - d.bbox[2])) FROM detections d"
            "               WHERE d.image_id = i.image_id AND d.detector = ? AND d.confidence >= ?), 0)"
            "     < ? * i.width * i.height"
            " AND i.image_id IN (SELECT image_id FROM processed WHERE backend = ?)"
            f" ORDER BY {_INGEST_ORDER}",
            [face_model, max_face_width_frac, detector, min_confidence, max_object_area_frac, detector],
        ).fetchall()
        return [_record(r) for r in rows]

    def derived_files(self) -> list[DerivedFile]:
        """Every crop and scaled copy the registry refers to, by image."""
        rows = self._con.execute(
            "SELECT image_id, 'object', crop_path, bbox FROM detections WHERE crop_path IS NOT NULL"
            " UNION ALL SELECT image_id, 'face', crop_path, bbox FROM faces WHERE crop_path IS NOT NULL"
            " UNION ALL SELECT source_image_id, 'environment', crop_path, NULL FROM assets"
            " WHERE asset_type = 'environment' ORDER BY 1, 2, 3"
        ).fetchall()
        return [
            DerivedFile(i, k, Path(p), tuple(float(v) for v in b) if b is not None else None) for i, k, p, b in rows
        ]

    def forget_stages(self, image_ids: Sequence[str], *, detector: str, face_model: str) -> None:
        """Drop what ``detector`` and ``face_model`` found in these images, so that the next run analyzes them
        again (``manifest --reprocess``). Ids are derived from the image and the index, so faces found again
        keep their ids, and the corrections that name them."""
        ids = list(image_ids)
        with transaction(self._con):
            self._con.execute(
                "DELETE FROM face_identity WHERE face_id IN"
                " (SELECT face_id FROM faces WHERE list_contains(?, image_id) AND face_model = ?)",
                [ids, face_model],
            )
            self._con.execute(
                "DELETE FROM faces WHERE list_contains(?, image_id) AND face_model = ?", [ids, face_model]
            )
            self._con.execute(
                "DELETE FROM detections WHERE list_contains(?, image_id) AND detector = ?", [ids, detector]
            )
            self._con.execute(
                "DELETE FROM processed WHERE list_contains(?, image_id)"
                " AND ((stage = 'objects' AND backend = ?) OR (stage = 'faces' AND backend = ?))",
                [ids, detector, face_model],
            )

    def writer(self, *, run_id: str, size: int = 16) -> ImageWriter:
        """A context manager that writes analyses in batches of ``size`` images (one transaction each)."""
        return ImageWriter(self._con, run_id=run_id, size=size)


@dataclass(frozen=True)
class StoredSource:
    """A file a run settled: its size and mtime then, and the image it holds or why it was refused."""

    stat: FileStat
    image_id: str | None
    rejection_code: str | None


def _source_row(path: Path, stat: FileStat, *, image_id: str | None, rejection_code: str | None, run_id: str) -> dict:
    return {
        "source_path": storable(path),
        "n_bytes": stat.n_bytes,
        "mtime_ns": stat.mtime_ns,
        "image_id": image_id,
        "rejection_code": rejection_code,
        "run_id": run_id,
    }


class Sources:
    """The ``sources`` table: which files were settled, so that a re-run skips them without reading them."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def all(self) -> dict[str, StoredSource]:
        """Path → what was recorded of it (one query)."""
        columns = self._con.execute(
            "SELECT source_path, n_bytes, mtime_ns, image_id, rejection_code FROM sources"
        ).fetchnumpy()
        return {
            path: StoredSource(FileStat(int(size), int(mtime)), image_id, code)
            for path, size, mtime, image_id, code in zip(
                *(columns[k].tolist() for k in ("source_path", "n_bytes", "mtime_ns", "image_id", "rejection_code")),
                strict=True,
            )
        }

    def settler(self, *, run_id: str, size: int = 256) -> SourceSettler:
        """Records settled files (complete images, rejections) in batches of ``size``."""
        return SourceSettler(self._con, run_id=run_id, size=size)


class SourceSettler:
    """Buffers settled files and writes them ``size`` at a time (a file that was not written yet is simply read
    again by the next run)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, run_id: str, size: int) -> None:
        self._con, self.run_id, self.size, self.rows = con, run_id, size, []

    def add(
        self, path: Path, stat: FileStat, *, image_id: str | None = None, rejection_code: str | None = None
    ) -> None:
        """Remember a settled file: an image already complete, or a rejection."""
        self.rows.append(_source_row(path, stat, image_id=image_id, rejection_code=rejection_code, run_id=self.run_id))
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered."""
        insert_rows(self._con, "sources", self.rows, replace=True)
        self.rows = []


class ImageWriter:
    """Queues everything one image adds (image, objects, faces, processed markers) and commits in batches.

    A failure rolls back only the open batch, whose images are not marked processed, so the next run
    redoes exactly them.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, run_id: str, size: int) -> None:
        self._batch, self.run_id = Batch(con, size=size, replace=frozenset({"sources"})), run_id

    def __enter__(self) -> ImageWriter:
        self._batch.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._batch.__exit__(*exc)

    def add(self, analysis: ImageAnalysis, *, source: FileStat | None = None) -> None:
        """Queue one image's rows (and, with ``source``, its file's size and mtime, so that the next run skips it
        unread); write and commit when the batch is full."""
        record, batch = analysis.record, self._batch
        if source is not None:
            row = _source_row(
                record.source_path, source, image_id=record.image_id, rejection_code=None, run_id=self.run_id
            )
            batch.add("sources", [row])
        batch.add("images", [_image_row(record, self.run_id)])
        for stage, backend in analysis.ran.items():
            if stage == "objects":
                batch.add("detections", _object_rows(record.image_id, backend, analysis.objects))
            else:
                batch.add("faces", _face_rows(record.image_id, backend, analysis.faces))
            batch.add(
                "processed", [{"image_id": record.image_id, "stage": stage, "backend": backend, "run_id": self.run_id}]
            )
        batch.tick()


def _image_row(record: ImageRecord, run_id: str) -> dict[str, Any]:
    return {
        "image_id": record.image_id,
        "file_name": storable(record.file_name),
        "source_path": storable(record.source_path),
        "stored_path": str(record.stored_path),
        "width": record.width,
        "height": record.height,
        "format": record.format,
        "mode": record.mode,
        "exif_orientation": record.exif_orientation,
        "n_bytes": record.n_bytes,
        "run_id": run_id,
    }


def _object_rows(image_id: str, detector: str, objects: Detections) -> list[dict[str, Any]]:
    return [
        {
            "detection_id": object_row_id(image_id, detector, i),
            "image_id": image_id,
            "detector": detector,
            "class_id": int(objects.class_id[i]),
            "class_name": str(objects.data["class_name"][i]),
            "confidence": float(objects.confidence[i]),
            "bbox": float_array(objects.xyxy[i]),
            "crop_path": str(objects.data["crop_path"][i]),
        }
        for i in range(len(objects))
    ]


def _face_rows(image_id: str, face_model: str, faces: Detections) -> list[dict[str, Any]]:
    rows = []
    for i in range(len(faces)):
        embedding = np.asarray(faces.data["embedding"][i], dtype=np.float32)
        padded = np.zeros(EMBEDDING_DIM, dtype=np.float32)
        padded[: len(embedding)] = embedding
        rows.append(
            {
                "face_id": face_row_id(image_id, face_model, i),
                "image_id": image_id,
                "face_model": face_model,
                "bbox": float_array(faces.xyxy[i]),
                "landmarks": float_array(np.asarray(faces.data["landmarks"][i]).reshape(-1)),
                "det_score": float(faces.confidence[i]),
                "embedding": float_array(padded),
                "embedding_dim": len(embedding),
                "crop_path": str(faces.data["crop_path"][i]),
                **{k: float(faces.data[k][i]) for k in ("width_frac", "yaw", "sharpness", "exposure", "quality_score")},
            }
        )
    return rows


class Rejections:
    """The ``rejections`` table: one row per refused file version."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def add(self, rejection: Rejection, *, run_id: str) -> bool:
        """Store a rejection once per (file path, content); returns whether it was new."""
        row = {
            "rejection_id": rejection_id(rejection),
            "source_path": storable(rejection.source_path),
            "file_name": storable(rejection.source_path.name),
            "code": rejection.code,
            "reason": rejection.reason,
            "n_bytes": rejection.n_bytes,
            "content_sha256": rejection.content_sha256,
            "run_id": run_id,
        }
        return insert_rows(self._con, "rejections", [row]) == 1

    def list(self) -> list[RejectedFile]:
        """Every refused file, oldest first."""
        rows = self._con.execute(
            "SELECT file_name, source_path, code, reason, run_id FROM rejections ORDER BY rejected_at, file_name"
        ).fetchall()
        return [RejectedFile(*r) for r in rows]

    def count(self) -> int:
        """Stored rejections."""
        return count(self._con, "rejections")


class Objects:
    """The ``detections`` table (object boxes), read back as ``Detections``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def of_image(self, image_id: str) -> Detections:
        """Every object box registered for an image (any detector), most confident first."""
        return self._read(
            "SELECT bbox, confidence, class_id, class_name, detection_id, image_id, crop_path FROM detections"
            " WHERE image_id = ? ORDER BY confidence DESC",
            [image_id],
        )

    def candidates(self, *, detector: str, min_confidence: float, min_area_frac: float) -> Detections:
        """Confident boxes of ``detector`` covering at least ``min_area_frac`` of their image, in ingest order."""
        return self._read(
            "SELECT d.bbox, d.confidence, d.class_id, d.class_name, d.detection_id, d.image_id, d.crop_path"
            " FROM detections d JOIN images i USING (image_id) WHERE d.detector = ? AND d.confidence >= ?"
            " AND (d.bbox[3] - d.bbox[1]) * (d.bbox[4] - d.bbox[2]) >= ? * i.width * i.height"
            " ORDER BY i.ingested_at, i.file_name, d.confidence DESC",
            [detector, min_confidence, min_area_frac],
        )

    def _read(self, sql: str, params: list) -> Detections:
        return detections_from_columns(
            self._con.execute(sql, params).fetchnumpy(),
            score="confidence",
            class_id="class_id",
            objects=("class_name", "detection_id", "image_id", "crop_path"),
        )

"""Faces and identities: ``faces``, ``face_identity``, ``identities`` and each model's ``face_thresholds``.

Embeddings are stored zero-padded to ``FLOAT[512]`` (``embedding_dim`` says how many values are real);
every read here returns them unpadded, float32, L2-normalized as they were written.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from refbench.errors import OptionError, UnknownTagError
from refbench.faces import l2_normalize
from refbench.registry.connection import detections_from_columns, insert_frame, now
from refbench.types import EMBEDDING_DIM, Detections, FaceQuality, FaceSet, Identity


def _unpad(embeddings: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(N, D) float32 from N padded vectors of one face model (one real width ``D``)."""
    if not len(embeddings):
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.stack(embeddings).astype(np.float32)[:, : int(dims[0])]


@dataclass(frozen=True)
class StoredFaceQuality:
    """One registered face's quality as the ``v_face_quality`` view shows it (``Faces.quality``).

    ``in_best_band`` and ``facing`` are the view's own SQL classification, kept apart from the same-named
    properties of ``quality`` so that the two can be checked against each other.
    """

    face_id: str
    face_model: str
    image_file: str
    quality: FaceQuality
    in_best_band: bool
    facing: str  # right | left | camera


class Faces:
    """The ``faces`` table, read back as ``Detections`` or a ``FaceSet``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def of(self, face_model: str) -> FaceSet:
        """Every face of ``face_model`` in ingest order, with its embedding, quality and previous tag."""
        columns = self._con.execute(
            "SELECT f.face_id, f.image_id, f.bbox, f.det_score, f.embedding, f.embedding_dim, f.quality_score,"
            " coalesce(d.tag, '') AS identity_tag FROM faces f JOIN images i USING (image_id)"
            " LEFT JOIN face_identity fi USING (face_id) LEFT JOIN identities d ON d.identity_id = fi.identity_id"
            " WHERE f.face_model = ? ORDER BY i.ingested_at, i.file_name, f.face_id",
            [face_model],
        ).fetchnumpy()
        faces = detections_from_columns(
            columns, score="det_score", objects=("face_id", "image_id", "identity_tag"), floats=("quality_score",)
        )
        return FaceSet(face_model, faces.with_data(embedding=_unpad(columns["embedding"], columns["embedding_dim"])))

    def of_image(self, image_id: str) -> Detections:
        """The faces registered for an image (every model), with landmarks (N, 5, 2), identity tags ("?" when
        unclustered) and crop paths."""
        rows = self._con.execute(
            "SELECT bbox, det_score, landmarks, coalesce(identity_tag, '?') AS identity_tag, face_id, face_model,"
            " crop_path FROM v_faces WHERE image_id = ? ORDER BY face_id",
            [image_id],
        ).fetchnumpy()
        faces = detections_from_columns(
            rows, score="det_score", objects=("identity_tag", "face_id", "face_model", "crop_path")
        )
        landmarks = np.stack(rows["landmarks"]) if len(faces) else np.zeros((0, 10))
        return faces.with_data(landmarks=landmarks.astype(np.float32).reshape(-1, 5, 2))

    def gallery(self, face_model: str) -> Detections:
        """Faces of ``face_model`` that belong to an identity, by tag and best quality first (``v_faces``)."""
        rows = self._con.execute(
            "SELECT bbox, det_score, identity_tag, crop_path, image_file, quality_score, width_frac, yaw, sharpness,"
            " face_id FROM v_faces WHERE face_model = ? AND identity_tag IS NOT NULL"
            " ORDER BY identity_tag, quality_score DESC NULLS LAST, face_id",
            [face_model],
        ).fetchnumpy()
        return detections_from_columns(
            rows,
            score="det_score",
            objects=("identity_tag", "crop_path", "image_file", "face_id"),
            floats=("quality_score", "width_frac", "yaw", "sharpness"),
        )

    def quality(self, face_model: str | None = None) -> list[StoredFaceQuality]:
        """Every registered face (of one model, or all) with its quality figures (``v_face_quality``), by face id."""
        rows = self._con.execute(
            "SELECT face_id, face_model, image_file, width_frac, yaw, sharpness, exposure, quality_score, det_score,"
            " in_best_band, facing FROM v_face_quality WHERE ? IS NULL OR face_model = ? ORDER BY face_id",
            [face_model, face_model],
        ).fetchall()
        return [
            StoredFaceQuality(face_id, model, image_file, FaceQuality(*figures), in_band, facing)
            for face_id, model, image_file, *figures, in_band, facing in rows
        ]

    def count(self, face_model: str | None = None) -> int:
        """Registered faces (of one model, or all)."""
        row = self._con.execute(
            "SELECT count(*) FROM faces WHERE ? IS NULL OR face_model = ?", [face_model, face_model]
        ).fetchone()
        return int(row[0])

    def image_ids(self, face_ids: Collection[str]) -> set[str]:
        """The images these faces were found in."""
        rows = self._con.execute(
            "SELECT DISTINCT image_id FROM faces WHERE list_contains(?, face_id)", [sorted(face_ids)]
        ).fetchall()
        return {r[0] for r in rows}

    def counterparts(self, face_ids: Collection[str], *, face_model: str, min_iou: float = 0.5) -> dict[str, str]:
        """Face id of another face model → the ``face_model`` face of the same image whose box overlaps it most
        (IoU ≥ ``min_iou``): how corrections made with one face model reach another."""
        if not face_ids:
            return {}
        rows = self._con.execute(
            "WITH pairs AS (SELECT o.face_id AS other, f.face_id AS face,"
            "  greatest(0, least(o.bbox[3], f.bbox[3]) - greatest(o.bbox[1], f.bbox[1]))"
            "  * greatest(0, least(o.bbox[4], f.bbox[4]) - greatest(o.bbox[2], f.bbox[2])) AS inter,"
            "  (o.bbox[3] - o.bbox[1]) * (o.bbox[4] - o.bbox[2]) + (f.bbox[3] - f.bbox[1]) * (f.bbox[4] - f.bbox[2])"
            "  AS total FROM faces o JOIN faces f ON f.image_id = o.image_id AND f.face_model = ?"
            "  WHERE o.face_model <> ? AND list_contains(?, o.face_id))"
            " SELECT other, face FROM pairs WHERE inter >= ? * (total - inter)"
            " QUALIFY row_number() OVER (PARTITION BY other ORDER BY inter / (total - inter) DESC) = 1",
            [face_model, face_model, sorted(face_ids), min_iou],
        ).fetchall()
        return dict(rows)

    def largest_per_image(self, face_model: str) -> dict[str, str | None]:
        """Image file name → identity id of its largest ``face_model`` face (``None`` when unclustered)."""
        rows = self._con.execute(
            "SELECT image_file, identity_id FROM (SELECT image_file, identity_id, row_number() OVER"
            " (PARTITION BY image_file ORDER BY (bbox[3] - bbox[1]) * (bbox[4] - bbox[2]) DESC) AS rank"
            " FROM v_faces WHERE face_model = ?) WHERE rank = 1",
            [face_model],
        ).fetchall()
        return dict(rows)


class Identities:
    """The ``identities`` and ``face_identity`` tables: each face model's clustering."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def replace(self, face_model: str, identities: list[Identity], *, run_id: str) -> None:
        """Drop ``face_model``'s identities and memberships and write these (call inside a transaction)."""
        self._con.execute(
            "DELETE FROM face_identity WHERE face_id IN (SELECT face_id FROM faces WHERE face_model = ?)", [face_model]
        )
        self._con.execute("DELETE FROM identities WHERE face_model = ?", [face_model])
        self._insert(identities, run_id=run_id)

    def replace_some(self, face_model: str, tags: Collection[str], identities: list[Identity], *, run_id: str) -> None:
        """Drop the identities ``tags`` of ``face_model`` and write ``identities`` in their place (a partial re-link;
        call inside a transaction). The new identities' faces leave whatever identity they were in."""
        removed = [f"{face_model}/{tag}" for tag in tags]
        faces = [f for d in identities for f in d.face_ids]
        self._con.execute(
            "DELETE FROM face_identity WHERE list_contains(?, identity_id) OR list_contains(?, face_id)",
            [removed, faces],
        )
        self._con.execute(
            "DELETE FROM identities WHERE face_model = ? AND (list_contains(?, identity_id)"
            " OR identity_id NOT IN (SELECT identity_id FROM face_identity))",  # and those whose faces were dropped
            [face_model, removed],
        )
        self._insert(identities, run_id=run_id)

    def _insert(self, identities: list[Identity], *, run_id: str) -> None:
        insert_frame(
            self._con,
            "identities",
            {
                "identity_id": [d.identity_id for d in identities],
                "face_model": [d.face_model for d in identities],
                "tag": [d.tag for d in identities],
                "threshold": [d.threshold for d in identities],
                "n_faces": [d.n_faces for d in identities],
                "best_face_id": [d.best_face_id for d in identities],
                "run_id": [run_id] * len(identities),
            },
        )
        insert_frame(
            self._con,
            "face_identity",
            {
                "face_id": [f for d in identities for f in d.face_ids],
                "identity_id": [d.identity_id for d in identities for _ in d.face_ids],
            },
        )

    def state(self, face_model: str) -> IdentityState | None:
        """The clustering ``face_model``'s identities come from, if any was recorded."""
        row = self._con.execute(
            "SELECT threshold, curation_version, n_faces, method, run_id FROM identity_state WHERE face_model = ?",
            [face_model],
        ).fetchone()
        return None if row is None else IdentityState(face_model, float(row[0]), *row[1:])

    def set_state(self, state: IdentityState) -> None:
        """Record the clustering ``state.face_model``'s identities now come from."""
        self._con.execute(
            "INSERT OR REPLACE INTO identity_state (face_model, threshold, curation_version, n_faces, method, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [state.face_model, state.threshold, state.curation_version, state.n_faces, state.method, state.run_id],
        )

    def list(self, face_model: str, *, tag: str | None = None) -> list[Identity]:
        """The identities of ``face_model`` (or only ``tag``), by tag, with their member faces."""
        rows = self._con.execute(
            "SELECT d.identity_id, d.face_model, d.tag, d.threshold, d.best_face_id,"
            " list(fi.face_id ORDER BY fi.face_id) FROM identities d JOIN face_identity fi USING (identity_id)"
            " WHERE d.face_model = ? AND (? IS NULL OR d.tag = ?) GROUP BY ALL ORDER BY d.tag",
            [face_model, tag, tag],
        ).fetchall()
        return [Identity(i, m, t, float(th), best, tuple(faces)) for i, m, t, th, best, faces in rows]

    def get(self, tag: str, *, face_model: str) -> Identity:
        """The identity ``tag`` of ``face_model`` with its member faces.

        Raises:
            UnknownTagError: ``face_model`` has no identity of that tag (the message suggests close ones).
        """
        found = self.list(face_model, tag=tag)
        if not found:
            known = self._con.execute("SELECT tag FROM identities WHERE face_model = ? ORDER BY tag", [face_model])
            raise UnknownTagError(tag, [t for (t,) in known.fetchall()])
        return found[0]

    def active_face_model(self) -> str | None:
        """The face model whose identities the active characters show (the latest manifest's), if any."""
        row = self._con.execute(
            "SELECT d.face_model FROM assets a JOIN identities d ON d.identity_id = a.identity_id"
            " WHERE a.active AND a.asset_type = 'character' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def threshold(self, face_model: str) -> float | None:
        """The threshold ``face_model``'s current identities were clustered with (``None``: never clustered)."""
        row = self._con.execute("SELECT max(threshold) FROM identities WHERE face_model = ?", [face_model]).fetchone()
        return None if row[0] is None else float(row[0])

    def highest_tag_number(self) -> int:
        """The highest ``CHAR_NN`` number ever handed out (identities, assets, split events): never reused."""
        row = self._con.execute(
            "SELECT max(TRY_CAST(regexp_extract(tag, '^CHAR_(\\d+)$', 1) AS INTEGER)) FROM ("
            " SELECT tag FROM identities UNION ALL SELECT tag FROM assets"
            " UNION ALL SELECT payload->>'new_tag' FROM curation_events WHERE kind = 'split')"
        ).fetchone()
        return int(row[0] or 0)

    def count(self, face_model: str) -> int:
        """Identities of ``face_model``."""
        return int(
            self._con.execute("SELECT count(*) FROM identities WHERE face_model = ?", [face_model]).fetchone()[0]
        )

    def reference_embedding(self, tag: str, *, face_model: str) -> np.ndarray:
        """Embedding (D,) of the best face of the active character ``tag``, as embedded by ``face_model``.

        Raises:
            UnknownTagError: no active character of that tag has ``face_model`` faces.
        """
        row = self._con.execute(
            "SELECT f.embedding, f.embedding_dim FROM assets a JOIN identities d ON d.identity_id = a.identity_id"
            " JOIN faces f ON f.face_id = d.best_face_id WHERE a.tag = ? AND a.active AND d.face_model = ?",
            [tag, face_model],
        ).fetchone()
        if row is None:
            known = [
                r[0]
                for r in self._con.execute(
                    "SELECT a.tag FROM assets a JOIN identities d ON d.identity_id = a.identity_id"
                    " WHERE a.active AND d.face_model = ?",
                    [face_model],
                ).fetchall()
            ]
            raise UnknownTagError(tag, known)
        embedding, dim = row
        return np.asarray(embedding[:dim], dtype=np.float32)

    def centroids(self, face_model: str) -> dict[str, np.ndarray]:
        """Identity id → mean L2-normalized embedding (D,) of its faces, re-normalized."""
        columns = self._con.execute(
            "SELECT fi.identity_id, f.embedding, f.embedding_dim FROM faces f JOIN face_identity fi USING (face_id)"
            " WHERE f.face_model = ? ORDER BY fi.identity_id",
            [face_model],
        ).fetchnumpy()
        if not len(columns["identity_id"]):
            return {}
        embeddings = _unpad(columns["embedding"], columns["embedding_dim"])
        ids = np.asarray(columns["identity_id"], dtype=object)
        return {
            identity: l2_normalize(embeddings[ids == identity].mean(axis=0, keepdims=True))[0]
            for identity in dict.fromkeys(ids.tolist())
        }


@dataclass(frozen=True)
class IdentityState:
    """How a face model's identities were made: threshold, corrections (a version digest), faces, full or
    incremental."""

    face_model: str
    threshold: float
    curation_version: str
    n_faces: int
    method: str  # full | incremental
    run_id: str | None = None

    def allows_relink(self, *, threshold: float, curation_version: str) -> bool:
        """Whether a run at ``threshold`` under ``curation_version`` may re-link only where new faces land."""
        return abs(self.threshold - threshold) < 1e-6 and self.curation_version == curation_version


@dataclass(frozen=True)
class StoredThreshold:
    """A face model's same-person threshold as calibrated in this workspace."""

    face_model: str
    value: float
    source: str  # the calibration id that set it (or what else did)
    set_at: datetime


class Thresholds:
    """The ``face_thresholds`` table: each face model's workspace default, set by calibration."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def get(self, face_model: str) -> StoredThreshold | None:
        """The stored threshold of ``face_model``, or ``None`` when it was never calibrated here."""
        row = self._con.execute(
            "SELECT face_model, threshold, source, set_at FROM face_thresholds WHERE face_model = ?", [face_model]
        ).fetchone()
        return None if row is None else StoredThreshold(row[0], float(row[1]), row[2], row[3])

    def set(self, face_model: str, value: float, *, source: str) -> None:
        """Make ``value`` the workspace default of ``face_model``."""
        if not -1.0 <= value <= 1.0:
            raise OptionError(f"threshold must be a cosine in [-1, 1], got {value}")
        self._con.execute(
            "INSERT INTO face_thresholds (face_model, threshold, source, set_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (face_model) DO UPDATE SET threshold = excluded.threshold, source = excluded.source,"
            " set_at = excluded.set_at",
            [face_model, value, source, now()],
        )

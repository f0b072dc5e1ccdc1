"""The asset library's tables: declared assets, ``asset_index`` (+ ``asset_ocr``), ``image_hashes``,
``near_duplicates`` (view ``v_near_duplicates``) and ``auto_placements``.

Vectors are stored as ``FLOAT[]`` lists (visual models differ in width: 1280 for EfficientNet-Lite0, 512 or
768 for CLIP); every read returns them as float32 matrices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from refbench.library.documents import IndexRecord
from refbench.library.efficientnet import ImageClass
from refbench.library.search import LibraryEntry
from refbench.registry.connection import float_array, insert_rows, now, transaction
from refbench.types import Asset


@dataclass(frozen=True)
class DeclaredAsset:
    """A whole image registered as an asset by ``refbench assets add``."""

    asset: Asset
    has_alpha: bool
    type_reason: str


@dataclass(frozen=True)
class StoredVectors:
    """The indexed active assets, row by row: entries and their visual, text and colour vectors."""

    entries: list[LibraryEntry]
    visual: np.ndarray
    text: np.ndarray
    colour: np.ndarray


@dataclass(frozen=True)
class ImageVectors:
    """Every hashed image in ingest order: ids, file names, pHashes (hex) and whole-image embeddings."""

    image_ids: list[str]
    file_names: list[str]
    phashes: list[str]
    visual: np.ndarray


@dataclass(frozen=True)
class NearDuplicatePair:
    """One row of ``v_near_duplicates``."""

    image_file: str
    duplicate_of: str
    distance: float
    method: str
    image_path: Path
    duplicate_of_path: Path


@dataclass(frozen=True)
class StoredPlacement:
    """An automatic placement as stored: scene, tag, role, confidence and reason."""

    scene_id: str
    tag: str
    role: str
    confidence: float
    reason: str


def _matrix(column: Sequence) -> np.ndarray:
    return np.stack(column).astype(np.float32) if len(column) else np.zeros((0, 0), np.float32)


class Library:
    """The asset library's tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    # --- declared assets ----------------------------------------------------------------------------------

    def declared_for(self, image_ids: Sequence[str]) -> dict[str, str]:
        """Image id → tag of the active declared asset already made from it."""
        if not image_ids:
            return {}
        rows = self._con.execute(
            "SELECT source_image_id, tag FROM assets WHERE origin = 'declared' AND active"
            " AND list_contains(?, source_image_id)",
            [list(image_ids)],
        ).fetchall()
        return dict(rows)

    def declare(self, declared: Sequence[DeclaredAsset]) -> int:
        """Register declared assets; returns how many were added."""
        return insert_rows(
            self._con,
            "assets",
            [
                {
                    "asset_id": d.asset.asset_id,
                    "tag": d.asset.tag,
                    "asset_type": d.asset.asset_type,
                    "name": d.asset.name,
                    "source_image_id": d.asset.source_image_id,
                    "crop_path": str(d.asset.crop_path),
                    "quality_score": d.asset.quality,
                    "origin": "declared",
                    "has_alpha": d.has_alpha,
                    "type_reason": d.type_reason,
                }
                for d in declared
            ],
        )

    # --- per-asset index ----------------------------------------------------------------------------------

    def indexed(self, *, visual_model: str, text_model: str) -> dict[str, tuple[str, str]]:
        """Asset id → (content sha256 of the crop, text basis) as indexed with these models."""
        rows = self._con.execute(
            "SELECT asset_id, content_sha256, text_basis FROM asset_index WHERE visual_model = ? AND text_model = ?",
            [visual_model, text_model],
        ).fetchall()
        return {asset_id: (content, basis) for asset_id, content, basis in rows}

    def text_parts(self, asset_id: str) -> tuple[str, tuple[str, ...], tuple[ImageClass, ...]]:
        """(OCR text, colour names, ImageNet classes) stored for an asset: what a new document is remade from."""
        row = self._con.execute(
            "SELECT coalesce(ocr_text, ''), coalesce(colours, []), coalesce(classes, '[]') FROM asset_index"
            " WHERE asset_id = ?",
            [asset_id],
        ).fetchone()
        ocr_text, colours, classes = row if row else ("", [], "[]")
        return ocr_text, tuple(colours), tuple(ImageClass(c["label"], c["probability"]) for c in json.loads(classes))

    def update_text(self, asset_id: str, *, document: str, text_vector: np.ndarray, text_basis: str) -> None:
        """Replace an asset's document and text vector (its facts changed, its crop did not)."""
        self._con.execute(
            "UPDATE asset_index SET document = ?, text_vector = ?, text_basis = ? WHERE asset_id = ?",
            [document, float_array(text_vector), text_basis, asset_id],
        )

    def save(self, records: Sequence[IndexRecord], *, run_id: str) -> None:
        """Write (or replace) the index rows and OCR lines of these assets, as one transaction."""
        if not records:
            return
        ids = [r.asset_id for r in records]
        with transaction(self._con):
            self._con.execute("DELETE FROM asset_index WHERE list_contains(?, asset_id)", [ids])
            self._con.execute("DELETE FROM asset_ocr WHERE list_contains(?, asset_id)", [ids])
            insert_rows(self._con, "asset_index", [_index_row(r, run_id) for r in records])
            insert_rows(self._con, "asset_ocr", [row for r in records for row in _ocr_rows(r)])

    def vectors(self, *, visual_model: str, text_model: str) -> StoredVectors:
        """Every active, indexed asset with its vectors, by tag."""
        columns = self._con.execute(
            "SELECT v.tag, v.asset_type, v.name, v.source_image_file, v.crop_path, x.document,"
            " coalesce(x.ocr_text, '') AS ocr_text, v.source_image_id AS image_id,"
            " coalesce((SELECT min(n.duplicate_of) FROM near_duplicates n WHERE n.image_id = v.source_image_id), '')"
            " AS duplicate_of, x.visual, x.text_vector, x.colour"
            " FROM v_assets v JOIN asset_index x USING (asset_id)"
            " WHERE x.visual_model = ? AND x.text_model = ? ORDER BY v.tag",
            [visual_model, text_model],
        ).fetchnumpy()
        keys = (
            "tag",
            "asset_type",
            "name",
            "source_image_file",
            "crop_path",
            "document",
            "ocr_text",
            "image_id",
            "duplicate_of",
        )
        entries = [LibraryEntry(*(str(columns[k][i]) for k in keys)) for i in range(len(columns["tag"]))]
        return StoredVectors(
            entries, _matrix(columns["visual"]), _matrix(columns["text_vector"]), _matrix(columns["colour"])
        )

    def ocr_lines(self, tag: str) -> list[tuple[str, float]]:
        """(text, confidence) of each OCR line of an active asset, in reading order."""
        return self._con.execute(
            "SELECT o.text, o.confidence FROM asset_ocr o JOIN v_assets v USING (asset_id) WHERE v.tag = ?"
            " ORDER BY o.line",
            [tag],
        ).fetchall()

    # --- images: hashes and near-duplicates ---------------------------------------------------------------

    def hashed_images(self, *, visual_model: str) -> set[str]:
        """Ids of the images already hashed and embedded with ``visual_model``."""
        rows = self._con.execute("SELECT image_id FROM image_hashes WHERE visual_model = ?", [visual_model])
        return {r[0] for r in rows.fetchall()}

    def add_hashes(self, rows: Sequence[dict], *, run_id: str) -> None:
        """Store ``{image_id, phash, dhash, visual_model, visual (D,)}`` rows."""
        insert_rows(
            self._con,
            "image_hashes",
            [{**r, "visual": float_array(r["visual"]), "run_id": run_id} for r in rows],
        )

    def image_vectors(self, *, visual_model: str) -> ImageVectors:
        """Every hashed image in ingest order."""
        columns = self._con.execute(
            "SELECT h.image_id, i.file_name, h.phash, h.visual FROM image_hashes h JOIN images i USING (image_id)"
            " WHERE h.visual_model = ? ORDER BY i.ingested_at, i.file_name",
            [visual_model],
        ).fetchnumpy()
        return ImageVectors(
            [str(v) for v in columns["image_id"]],
            [str(v) for v in columns["file_name"]],
            [str(v) for v in columns["phash"]],
            _matrix(columns["visual"]),
        )

    def link_duplicates(self, links: Sequence[tuple[str, str, float, str]], *, run_id: str) -> int:
        """Store (image_id, duplicate_of, distance, method) links; returns how many were new."""
        return insert_rows(
            self._con,
            "near_duplicates",
            [{"image_id": a, "duplicate_of": b, "distance": d, "method": m, "run_id": run_id} for a, b, d, m in links],
        )

    def near_duplicates(self) -> list[NearDuplicatePair]:
        """Every near-duplicate link (``v_near_duplicates``), by file name."""
        rows = self._con.execute(
            "SELECT image_file, duplicate_of, distance, method, image_path, duplicate_of_path"
            " FROM v_near_duplicates ORDER BY image_file, method"
        ).fetchall()
        return [NearDuplicatePair(a, b, float(d), m, Path(p), Path(q)) for a, b, d, m, p, q in rows]

    # --- automatic placements -----------------------------------------------------------------------------

    def save_placements(self, placements: Sequence[StoredPlacement], *, run_id: str) -> None:
        """Store automatic placements with their confidence and reason."""
        insert_rows(
            self._con,
            "auto_placements",
            [{**p.__dict__, "run_id": run_id, "created_at": now()} for p in placements],
        )

    def placements(self, run_id: str) -> list[StoredPlacement]:
        """The automatic placements of one run, by scene then confidence."""
        rows = self._con.execute(
            "SELECT scene_id, tag, role, confidence, reason FROM auto_placements WHERE run_id = ?"
            " ORDER BY scene_id, confidence DESC, tag",
            [run_id],
        ).fetchall()
        return [StoredPlacement(s, t, r, float(c), why) for s, t, r, c, why in rows]


def _index_row(record: IndexRecord, run_id: str) -> dict:
    return {
        "asset_id": record.asset_id,
        "content_sha256": record.content_sha256,
        "visual_model": record.visual_model,
        "text_model": record.text_model,
        "ocr_engine": record.ocr_engine,
        "visual": float_array(record.visual),
        "colour": float_array(record.colour),
        "text_vector": float_array(record.text_vector),
        "document": record.document,
        "text_basis": record.text_basis,
        "ocr_text": record.ocr_text,
        "colours": list(record.colours),
        "classes": json.dumps([{"label": c.label, "probability": round(c.probability, 4)} for c in record.classes]),
        "run_id": run_id,
    }


def _ocr_rows(record: IndexRecord) -> list[dict]:
    ocr = record.ocr
    return [
        {
            "asset_id": record.asset_id,
            "line": i,
            "text": str(ocr.data["text"][i]),
            "confidence": float(ocr.confidence[i]),
            "bbox": float_array(ocr.xyxy[i]),
            "quad": float_array(np.asarray(ocr.data["quad"][i]).reshape(-1)),
        }
        for i in range(len(ocr))
    ]

"""What the index stores per asset (``IndexRecord``) and the text document that text search matches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from refbench.library.efficientnet import ImageClass
from refbench.types import Asset, Detections

# Words a user types for each asset type, beside the type's own name.
TYPE_WORDS = {
    "character": "person people portrait face",
    "person": "person people portrait",
    "vehicle": "vehicle",
    "animal": "animal",
    "environment": "scene place location background",
    "logo": "logo brand emblem",
    "product": "product item",
    "texture": "texture surface pattern material",
    "style": "style look",
    "prop": "object prop",
}
MIN_CLASS_PROBABILITY = 0.10  # ImageNet classes below this say little about the image


@dataclass(frozen=True)
class IndexRecord:
    """One asset as indexed: its vectors, text, OCR lines, colours and ImageNet classes."""

    asset_id: str
    content_sha256: str
    visual_model: str
    text_model: str
    ocr_engine: str | None
    visual: np.ndarray  # (Dv,) L2-normalised
    colour: np.ndarray  # (144,) L2-normalised
    text_vector: np.ndarray  # (Dt,) L2-normalised
    document: str
    text_basis: str  # text_basis(asset) when the document was written
    ocr: Detections = field(default_factory=Detections.empty)  # data['text'], data['quad']
    colours: tuple[str, ...] = ()
    classes: tuple[ImageClass, ...] = ()

    @property
    def ocr_text(self) -> str:
        """The OCR lines joined by spaces."""
        return " ".join(str(t) for t in self.ocr.data.get("text", []))


def asset_document(
    asset: Asset, *, ocr_text: str = "", colours: tuple[str, ...] = (), classes: tuple[ImageClass, ...] = ()
) -> str:
    """The text an asset is found by: name, type words, detector class, description, OCR text, colours, and the
    ImageNet classes the visual model saw (``espresso``, ``seashore``: words nobody typed)."""
    seen = [c.label for c in classes if c.probability >= MIN_CLASS_PROBABILITY]
    parts = [
        asset.name,
        f"{asset.asset_type} {TYPE_WORDS.get(asset.asset_type, '')}",
        asset.class_name or "",
        asset.suggested_name or "",
        asset.reverse_prompt or "",
        f"text: {ocr_text}" if ocr_text else "",
        f"colours: {', '.join(colours)}" if colours else "",
        f"looks like: {', '.join(seen)}" if seen else "",
    ]
    return ". ".join(p.strip() for p in parts if p.strip())


def text_basis(asset: Asset) -> str:
    """sha256 of the asset facts a document is made of: when they change (a rename, a new description), the
    document and its text vector are remade; the crop's embedding and OCR are kept."""
    facts = [asset.name, asset.asset_type, asset.class_name, asset.suggested_name, asset.reverse_prompt]
    return hashlib.sha256("\x1f".join(str(f or "") for f in facts).encode()).hexdigest()

"""The data that flows between stages: one ``Detections`` currency (CONVENTIONS.md 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refbench.errors import ShapeError

EMBEDDING_DIM = 512  # registry column width; smaller embeddings are zero-padded (cosine-preserving)


def _check(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape, strict=False))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ShapeError(f"{name}: expected shape {want}, got {array.shape}")


@dataclass
class Detections:
    """Boxes found in one image, by one detector.

    Attributes:
        xyxy: float32 (N, 4) boxes in pixels of the upright image.
        confidence: float32 (N,) detector scores in [0, 1].
        class_id: int32 (N,) class indices (COCO ids for objects, 0 for faces).
        data: extra per-row arrays, each of length N: ``class_name`` (N,) str,
            ``landmarks`` (N, 5, 2) float32 for faces (left eye, right eye, nose,
            left mouth, right mouth, in image coordinates), ``embedding`` (N, D)
            float32 L2-normalized.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if self.xyxy.size == 0:
            self.xyxy = self.xyxy.reshape(0, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        self.class_id = np.asarray(self.class_id, dtype=np.int32)
        n = len(self.xyxy)
        _check("xyxy", self.xyxy, (None, 4))
        _check("confidence", self.confidence, (n,))
        _check("class_id", self.class_id, (n,))
        for key, value in self.data.items():
            if len(value) != n:
                raise ShapeError(f"data[{key!r}]: expected {n} rows, got {len(value)}")

    @classmethod
    def empty(cls) -> Detections:
        """No detections: the value for "nothing found" (never ``None``)."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        """Select rows with an int, slice, index array or boolean mask."""
        index = [index] if isinstance(index, (int, np.integer)) else index
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            {k: np.asarray(v)[index] for k, v in self.data.items()},
        )

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels, (N,) float32."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])


@dataclass(frozen=True)
class ImageRecord:
    """One accepted image: its identity (content hash) and where its read-only copy lives."""

    image_id: str  # sha256 of the original bytes
    file_name: str
    source_path: Path
    stored_path: Path
    width: int  # upright (after EXIF orientation)
    height: int
    format: str
    mode: str
    exif_orientation: int
    n_bytes: int


@dataclass(frozen=True)
class Rejection:
    """One input file that could not be used, with a stable code and a human reason."""

    source_path: Path
    code: str
    reason: str
    n_bytes: int | None
    content_sha256: str | None

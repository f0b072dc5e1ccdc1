"""Face models: detection (boxes, 5 landmarks, score) plus identity embeddings, behind one interface."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from refbench.errors import UnknownBackendError
from refbench.types import Detections


class FaceAnalyzer(Protocol):
    """Finds faces in an upright uint8 RGB image and embeds each one."""

    name: str
    embedding_dim: int
    execution_provider: str

    def analyze(self, image_rgb: np.ndarray) -> Detections:
        """Faces with ``data['landmarks']`` (N, 5, 2) and ``data['embedding']`` (N, D) L2-normalized."""
        ...


def _insightface(model_dir: Path, providers: list[str] | None) -> FaceAnalyzer:
    from refbench.faces.insightface_backend import InsightFaceAnalyzer

    return InsightFaceAnalyzer(model_dir=model_dir, providers=providers)


def _yunet_sface(model_dir: Path, providers: list[str] | None) -> FaceAnalyzer:
    from refbench.faces.yunet_sface import YuNetSFaceAnalyzer

    return YuNetSFaceAnalyzer(model_dir=model_dir)


FACE_ANALYZERS = {"insightface": _insightface, "opencv-yunet-sface": _yunet_sface}


def create_face_analyzer(name: str, *, model_dir: Path, providers: list[str] | None = None) -> FaceAnalyzer:
    """Load the face model registered as ``name``."""
    if name not in FACE_ANALYZERS:
        raise UnknownBackendError("face model", name, list(FACE_ANALYZERS))
    return FACE_ANALYZERS[name](model_dir, providers)


def largest_face(faces: Detections) -> Detections:
    """The largest face (by box area) of ``faces`` as one row; empty when there is none."""
    return faces[[int(np.argmax(faces.area))]] if len(faces) else faces


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (N, D)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


MIN_FACE_SIDE_PX = 16  # no detector finds a face in fewer pixels; ArcFace itself looks at 112 px
MAX_ASPECT = 40  # past 40:1, fitting the image into a 640 px detector input leaves < 16 px for a face


def analyze_with_margin(
    analyze: Callable[[np.ndarray], Detections], image_rgb: np.ndarray, *, small_side: int = 256, margin: float = 0.5
) -> Detections:
    """Run ``analyze``; when a small image yields no face, retry on a copy with a grey border.

    Tightly cropped headshots (e.g. 112×112 aligned faces) fill the whole frame, which face
    detectors trained on scenes miss. Boxes and landmarks are mapped back to the original. Images too thin
    or too small to hold a detectable face (1×20000) have none, without asking a detector that would fail
    to resize them.
    """
    height, width = image_rgb.shape[:2]
    if min(height, width) < MIN_FACE_SIDE_PX or max(height, width) > MAX_ASPECT * min(height, width):
        return Detections.empty()
    faces = analyze(image_rgb)
    if len(faces) or max(height, width) > small_side:
        return faces
    pad = round(margin * max(height, width))
    padded = cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    faces = analyze(padded)
    if not len(faces):
        return faces
    faces.xyxy = np.clip(faces.xyxy - pad, 0, [width, height, width, height])
    faces.data["landmarks"] = faces.data["landmarks"] - pad
    return faces

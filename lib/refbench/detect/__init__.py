"""Object detectors: one module per backend, one ``ObjectDetector`` interface, one registry."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from refbench.errors import ModelUnavailableError, UnknownBackendError
from refbench.types import Detections


class ObjectDetector(Protocol):
    """Finds objects in an upright uint8 RGB image (H, W, 3); returns COCO-labelled boxes."""

    name: str

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Detections with ``data['class_name']``; empty when nothing is found."""
        ...


def _darknet(model_dir: Path, model_path: Path | None, confidence: float) -> ObjectDetector:
    from refbench.detect.darknet import DarknetDetector

    return DarknetDetector(model_dir=model_dir, confidence=confidence)


def _ultralytics(model_dir: Path, model_path: Path | None, confidence: float) -> ObjectDetector:
    from refbench.detect.ultralytics import UltralyticsDetector

    if model_path is None:  # no weights ship for it: the user brings a model file
        raise ModelUnavailableError(
            "the ultralytics detector has no default weights: pass --detector-model PATH (a YOLOv8/11 .pt or .onnx)"
        )
    return UltralyticsDetector(model_path=model_path, confidence=confidence)


OBJECT_DETECTORS = {"opencv-darknet": _darknet, "ultralytics": _ultralytics}


def create_object_detector(
    name: str, *, model_dir: Path, model_path: Path | None = None, confidence: float = 0.4
) -> ObjectDetector:
    """Load the object detector registered as ``name`` (weights are loaded once, here)."""
    if name not in OBJECT_DETECTORS:
        raise UnknownBackendError("object detector", name, list(OBJECT_DETECTORS))
    return OBJECT_DETECTORS[name](model_dir, model_path, confidence)

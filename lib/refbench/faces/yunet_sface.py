"""OpenCV YuNet detection + SFace embedding (128-d): the permissively licensed face model.

YuNet runs on a copy scaled to at most ``max_side`` pixels; SFace aligns from the full image.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from refbench.faces import analyze_with_margin, l2_normalize
from refbench.provision.weights import model_path
from refbench.types import Detections


class YuNetSFaceAnalyzer:
    """``cv2.FaceDetectorYN`` + ``cv2.FaceRecognizerSF`` (Apache-2.0 / MIT weights)."""

    name = "opencv-yunet-sface"
    embedding_dim = 128
    execution_provider = "opencv-dnn-cpu"

    def __init__(
        self, *, model_dir: Path, score_threshold: float = 0.6, nms_threshold: float = 0.3, max_side: int = 640
    ):
        detector = model_path(model_dir, "opencv/face_detection_yunet_2023mar_int8bq.onnx")
        recognizer = model_path(model_dir, "opencv/face_recognition_sface_2021dec_int8bq.onnx")
        self.detector = cv2.FaceDetectorYN.create(str(detector), "", (320, 320), score_threshold, nms_threshold, 5000)
        self.recognizer = cv2.FaceRecognizerSF.create(str(recognizer), "")
        self.max_side = max_side

    def analyze(self, image_rgb: np.ndarray) -> Detections:
        """Faces in an RGB image (H, W, 3) uint8; landmarks in InsightFace order (image-left eye first)."""
        return analyze_with_margin(self._analyze, image_rgb)

    def _analyze(self, image_rgb: np.ndarray) -> Detections:
        image_bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])
        height, width = image_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = cv2.resize(image_bgr, (round(width * scale), round(height * scale))) if scale < 1 else image_bgr
        self.detector.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self.detector.detect(small)
        if rows is None or len(rows) == 0:
            return Detections.empty()
        rows = rows.copy()
        rows[:, :14] /= scale
        embeddings = [self.recognizer.feature(self.recognizer.alignCrop(image_bgr, row)).reshape(-1) for row in rows]
        xyxy = np.column_stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]])
        return Detections(
            xyxy=np.clip(xyxy, 0, [width, height, width, height]),
            confidence=rows[:, 14],
            class_id=np.zeros(len(rows)),
            data={
                "landmarks": rows[:, 4:14].reshape(-1, 5, 2).astype(np.float32),
                "embedding": l2_normalize(np.stack(embeddings)),
            },
        )

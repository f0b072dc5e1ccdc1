"""YOLOv3-tiny (COCO, 80 classes) through OpenCV's Darknet importer: the offline default."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from refbench.errors import ModelUnavailableError
from refbench.provision.weights import model_path
from refbench.types import Detections


class DarknetDetector:
    """``cv2.dnn`` YOLOv3-tiny at 416×416 with per-class non-maximum suppression."""

    name = "opencv-darknet"

    def __init__(self, *, model_dir: Path, confidence: float = 0.4, nms_iou: float = 0.45, input_size: int = 416):
        if not hasattr(cv2.dnn, "readNetFromDarknet"):
            raise ModelUnavailableError(
                "this OpenCV has no Darknet importer (OpenCV 5 removed it): pin opencv-python<5"
            )
        cfg = model_path(model_dir, "darknet/yolov3-tiny.cfg")
        weights = model_path(model_dir, "darknet/yolov3-tiny.weights")
        self.class_names = model_path(model_dir, "darknet/coco.names").read_text().strip().splitlines()
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.output_layers = self.net.getUnconnectedOutLayersNames()
        self.confidence, self.nms_iou, self.input_size = confidence, nms_iou, input_size

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Detect COCO objects in an RGB image (H, W, 3) uint8."""
        height, width = image_rgb.shape[:2]
        canvas, scale, (left, top) = letterbox(image_rgb, self.input_size)
        # Darknet was trained on RGB, so no channel swap.
        self.net.setInput(cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=False, crop=False))
        rows = np.concatenate([out.reshape(-1, out.shape[-1]) for out in self.net.forward(self.output_layers)])
        class_scores = rows[:, 5:]  # OpenCV's region layer already multiplies these by objectness
        class_id = class_scores.argmax(axis=1)
        score = class_scores[np.arange(len(rows)), class_id]
        keep = score >= self.confidence
        if not keep.any():
            return Detections.empty()
        cx, cy, w, h = (rows[keep, i] * self.input_size for i in range(4))
        xyxy = np.stack([cx - w / 2 - left, cy - h / 2 - top, cx + w / 2 - left, cy + h / 2 - top], 1) / scale
        xyxy = np.clip(xyxy, 0, [width, height, width, height])
        score, class_id = score[keep], class_id[keep]
        xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        picked = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(), score.tolist(), class_id.tolist(), self.confidence, self.nms_iou
        )
        picked = np.asarray(picked, dtype=int).reshape(-1)
        names = np.array([self.class_names[i] for i in class_id[picked]], dtype=object)
        return Detections(xyxy[picked], score[picked], class_id[picked], {"class_name": names})


def letterbox(image_rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Fit an image (H, W, 3) into a grey ``size``×``size`` square, keeping its aspect ratio.

    Darknet tests this way; a plain stretch distorts wide photos enough to lose people and buses.

    Returns:
        The canvas (size, size, 3), the scale applied and the (left, top) offset of the image in it.
    """
    height, width = image_rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.full((size, size, 3), 127, dtype=np.uint8)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(image_rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return canvas, scale, (left, top)

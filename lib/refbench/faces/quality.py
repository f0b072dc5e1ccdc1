"""Face quality as a reference: size, pose, sharpness, exposure, detector confidence.

The quality score is a weighted geometric mean of five factors, each in [0, 1]:

- ``detector``: the detection score.
- ``resolution``: face width / 112 px, capped at 1 (ArcFace looks at 112 px faces; smaller ones are upsampled).
- ``frontal``: cos(yaw), yaw estimated from the 5 landmarks.
- ``sharpness``: 1 - exp(-L / 150), L = variance of the Laplacian of the face resized to 112 px wide
  (~150 is a soft edge, ~500 crisp).
- ``exposure`` (half weight): 1 - 2 |mean luma - 0.5|.

A geometric mean means one bad factor (a blurred or profile face) pulls the score down however good the
others are. The manifest uses the score to pick each identity's best reference crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from refbench.errors import ShapeError
from refbench.types import BEST_WIDTH_BAND, FRONTAL_YAW_DEG, Detections, FaceQuality

__all__ = ["BEST_WIDTH_BAND", "FRONTAL_YAW_DEG", "FaceQuality", "face_quality", "measure_faces", "yaw_from_landmarks"]

QUALITY_FIELDS = ("width_frac", "yaw", "sharpness", "exposure", "quality_score")  # what ``measure_faces`` adds
_WEIGHTS = {"detector": 1.0, "resolution": 1.0, "frontal": 1.0, "sharpness": 1.0, "exposure": 0.5}


def yaw_from_landmarks(landmarks: np.ndarray) -> float:
    """Signed yaw estimate in degrees from 5 landmarks (5, 2): eyes, nose, mouth corners in image coordinates.

    The nose tip's offset from the eyes' midpoint, measured along the eye axis (so head roll does not
    read as yaw) and relative to half the inter-ocular distance, is roughly sin(yaw). Positive: the nose
    points to the image's right edge. Mirroring an image flips the sign.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (5, 2):
        raise ShapeError(f"landmarks: expected shape (5, 2), got {landmarks.shape}")
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    if right_eye[0] < left_eye[0]:  # eyes listed right-to-left: keep the axis pointing to the image's right
        left_eye, right_eye = right_eye, left_eye
    axis = right_eye - left_eye
    half_span = max(float(np.linalg.norm(axis)) / 2.0, 1e-6)
    offset = float(np.dot(nose - (left_eye + right_eye) / 2.0, axis / (2.0 * half_span))) / half_span
    return float(np.degrees(np.arcsin(np.clip(offset, -1.0, 1.0))))


def face_quality(image_rgb: np.ndarray, xyxy: np.ndarray, landmarks: np.ndarray, det_score: float) -> FaceQuality:
    """Quality figures of one face box (4,) with landmarks (5, 2) in an RGB image (H, W, 3) uint8."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ShapeError(f"image_rgb: expected shape (H, W, 3), got {image_rgb.shape}")
    height, width = image_rgb.shape[:2]
    x1, y1, x2, y2 = np.clip(np.round(xyxy).astype(int), 0, [width, height, width, height])
    face = image_rgb[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    gray = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (112, max(1, round(112 * gray.shape[0] / max(gray.shape[1], 1)))))
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    exposure = float(gray.mean() / 255.0)
    yaw = yaw_from_landmarks(landmarks)
    factors = {
        "detector": float(np.clip(det_score, 0, 1)),
        "resolution": float(np.clip((x2 - x1) / 112.0, 0, 1)),  # ArcFace sees 112 px faces
        "frontal": float(np.cos(np.radians(yaw))),
        "sharpness": float(1.0 - np.exp(-sharpness / 150.0)),
        "exposure": float(np.clip(1.0 - abs(exposure - 0.5) * 2.0, 0, 1)),
    }
    score = _weighted_geometric_mean(factors)
    return FaceQuality((x2 - x1) / width, yaw, sharpness, exposure, score, float(det_score))


def _weighted_geometric_mean(factors: dict[str, float]) -> float:
    total = sum(_WEIGHTS.values())
    return float(np.exp(sum(_WEIGHTS[k] * np.log(max(v, 1e-3)) for k, v in factors.items()) / total))


def measure_faces(image_rgb: np.ndarray, faces: Detections) -> Detections:
    """``faces`` (with ``data['landmarks']``) plus the quality fields of each face as per-row data (N,) float32."""
    figures = [
        face_quality(image_rgb, faces.xyxy[i], faces.data["landmarks"][i], float(faces.confidence[i]))
        for i in range(len(faces))
    ]
    return faces.with_data(
        **{name: np.array([getattr(q, name) for q in figures], dtype=np.float32) for name in QUALITY_FIELDS}
    )

"""InsightFace "buffalo_s": SCRFD-500M detection + ArcFace MobileFaceNet (w600k_mbf, 512-d).

Licence of the weights: InsightFace, non-commercial research use only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from refbench.errors import ModelUnavailableError
from refbench.faces import analyze_with_margin, l2_normalize
from refbench.provision.weights import model_path
from refbench.runtime import resolve_providers, session_options
from refbench.types import Detections

PACK = "buffalo_s"


class InsightFaceAnalyzer:
    """``insightface.app.FaceAnalysis`` restricted to detection and recognition."""

    name = "insightface"
    embedding_dim = 512

    def __init__(
        self, *, model_dir: Path, providers: list[str] | None = None, det_size: int = 640, det_threshold: float = 0.5
    ):
        for file in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
            model_path(model_dir, f"insightface/models/{PACK}/{file}")  # fail before insightface tries a download
        try:
            from insightface.app import FaceAnalysis
        except ImportError as error:
            raise ModelUnavailableError(f"insightface is not installed: {error}") from error
        chosen = resolve_providers(providers)
        self.app = FaceAnalysis(
            name=PACK,
            root=str(model_dir / "insightface"),
            allowed_modules=["detection", "recognition"],
            providers=chosen,
            sess_options=session_options(),
        )
        ctx_id = 0 if chosen[0] == "CUDAExecutionProvider" else -1
        self.app.prepare(ctx_id=ctx_id, det_size=(det_size, det_size), det_thresh=det_threshold)
        self.execution_provider = self.app.models["detection"].session.get_providers()[0]

    def analyze(self, image_rgb: np.ndarray) -> Detections:
        """Faces in an RGB image (H, W, 3) uint8."""
        return analyze_with_margin(self._analyze, image_rgb)

    def _analyze(self, image_rgb: np.ndarray) -> Detections:
        """What ``FaceAnalysis.get`` computes, with every face of the image embedded in one batched ORT run (it
        runs the recognition model once per face: one call per face costs the most on a GPU)."""
        from insightface.utils import face_align

        image_bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])  # InsightFace takes BGR
        boxes, landmarks = self.app.det_model.detect(image_bgr, max_num=0, metric="default")
        if boxes.shape[0] == 0:
            return Detections.empty()
        recognition = self.app.models["recognition"]
        with warnings.catch_warnings():  # insightface calls a scikit-image API deprecated in 0.26
            warnings.simplefilter("ignore", FutureWarning)
            aligned = [
                face_align.norm_crop(image_bgr, landmark=k, image_size=recognition.input_size[0]) for k in landmarks
            ]
        return Detections(
            xyxy=boxes[:, :4],
            confidence=boxes[:, 4],
            class_id=np.zeros(len(boxes)),
            data={
                "landmarks": landmarks.astype(np.float32),
                "embedding": l2_normalize(recognition.get_feat(aligned)),
            },
        )

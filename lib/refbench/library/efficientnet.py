"""EfficientNet-Lite0 (ImageNet, Apache-2.0) in ONNX Runtime: pooled 1280-d features and ImageNet top-k classes.

The ONNX file is exported once at provisioning from the registry package's ``.pth``
(``refbench.library.export``); inference needs no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from refbench.faces import l2_normalize
from refbench.provision.weights import model_path
from refbench.runtime import resolve_providers, session_options

ONNX_FILE = "efficientnet/efficientnet_lite0.onnx"
LABELS_FILE = "efficientnet/imagenet_classes.txt"
SIZE = 224
# The TF-Lite models were trained on (x - 127) / 128.
MEAN, STD = 127.0, 128.0


@dataclass(frozen=True)
class ImageClass:
    """One ImageNet class of an image: its short name (first synonym) and probability."""

    label: str
    probability: float


def preprocess(images_rgb: Sequence[np.ndarray], *, size: int = SIZE) -> np.ndarray:
    """Images (H, W, 3) uint8 RGB → (N, 3, size, size) float32, squashed (a crop could cut a wide logo)."""
    batch = np.empty((len(images_rgb), 3, size, size), np.float32)
    for i, image in enumerate(images_rgb):
        shrink = min(image.shape[:2]) > size
        resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        batch[i] = ((resized.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)
    return batch


class EfficientNetEmbedder:
    """``embed_images`` gives L2-normalised pooled features (N, 1280); ``classify`` the ImageNet top-k."""

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, *, model_dir: Path, providers: list[str] | None = None, batch_size: int = 16) -> None:
        import onnxruntime

        onnx_path = model_path(model_dir, ONNX_FILE)
        self.labels = [line.split(",")[0] for line in model_path(model_dir, LABELS_FILE).read_text().splitlines()]
        self.session = onnxruntime.InferenceSession(
            str(onnx_path), sess_options=session_options(), providers=resolve_providers(providers)
        )
        self.execution_provider = self.session.get_providers()[0]
        self.batch_size = batch_size

    def run(self, images_rgb: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, 1280) L2-normalised, ImageNet probabilities (N, 1000)), in batches."""
        features, probabilities = [], []
        for start in range(0, len(images_rgb), self.batch_size):
            pooled, logits = self.session.run(None, {"image": preprocess(images_rgb[start : start + self.batch_size])})
            features.append(l2_normalize(pooled))
            probabilities.append(_softmax(logits))
        if not features:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate(features), np.concatenate(probabilities)

    def embed_images(self, images_rgb: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1280) float32, L2-normalised."""
        return self.run(images_rgb)[0]

    def classify(self, images_rgb: Sequence[np.ndarray], *, k: int = 5) -> list[list[ImageClass]]:
        """The ``k`` most probable ImageNet classes of each image, most probable first."""
        return [self.top_classes(p, k=k) for p in self.run(images_rgb)[1]]

    def top_classes(self, probabilities: np.ndarray, *, k: int = 5) -> list[ImageClass]:
        """The ``k`` most probable classes of one probability vector (1000,)."""
        order = np.argsort(-probabilities)[:k]
        return [ImageClass(self.labels[i], float(probabilities[i])) for i in order]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)

"""The asset library: visual and text embeddings, OCR, perceptual hashes, search, recommendations, auto-matching.

Models sit behind two tiny interfaces (CONVENTIONS.md 2), each with a registry: an ``ImageEmbedder`` turns
upright RGB images into L2-normalised vectors (EfficientNet-Lite0 offline by default; a CLIP/SigLIP ONNX pair
or an open_clip checkpoint the user supplies), a ``TextEmbedder`` does the same for text (MiniLM offline; a
CLIP text tower, whose vectors share the image space and so add text→image search). Everything here computes;
the library pipeline (``refbench.pipelines.library``) reads the registry and writes results back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from refbench.errors import UnknownBackendError

DEFAULT_IMAGE_EMBEDDER = "efficientnet-lite0"
DEFAULT_TEXT_EMBEDDER = "minilm-l6"
DECLARED_ID_PREFIX = "declared-"  # asset ids of whole images registered with `refbench assets add`


class ImageEmbedder(Protocol):
    """Embeds upright uint8 RGB images (H, W, 3), one vector each."""

    name: str
    dim: int
    execution_provider: str

    def embed_images(self, images_rgb: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) float32, L2-normalised."""
        ...


class TextEmbedder(Protocol):
    """Embeds texts, one vector each; ``space`` says which vectors they compare with (``text`` or an image model)."""

    name: str
    dim: int
    space: str

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, L2-normalised."""
        ...


def _efficientnet(model_dir: Path, providers: list[str] | None, model_path: Path | None) -> ImageEmbedder:
    from refbench.library.efficientnet import EfficientNetEmbedder

    return EfficientNetEmbedder(model_dir=model_dir, providers=providers)


def _clip_onnx(model_dir: Path, providers: list[str] | None, model_path: Path | None) -> ImageEmbedder:
    from refbench.library.clip import OnnxClip

    return OnnxClip.from_folder(_needs_path("clip-onnx", model_path), providers=providers)


def _open_clip(model_dir: Path, providers: list[str] | None, model_path: Path | None) -> ImageEmbedder:
    from refbench.library.clip import OpenClip

    return OpenClip.from_checkpoint(_needs_path("open-clip", model_path))


def _minilm(model_dir: Path, providers: list[str] | None, model_path: Path | None) -> TextEmbedder:
    from refbench.library.minilm import MiniLMEmbedder

    return MiniLMEmbedder(model_dir=model_dir, providers=providers)


def _needs_path(name: str, model_path: Path | None) -> Path:
    if model_path is None:
        raise UnknownBackendError(
            f"image embedder (needs --embedder-model PATH for {name})", name, list(IMAGE_EMBEDDERS)
        )
    return Path(model_path)


Factory = Callable[[Path, "list[str] | None", "Path | None"], object]
IMAGE_EMBEDDERS: dict[str, Factory] = {
    "efficientnet-lite0": _efficientnet,
    "clip-onnx": _clip_onnx,
    "open-clip": _open_clip,
}
TEXT_EMBEDDERS: dict[str, Factory] = {"minilm-l6": _minilm}


def create_image_embedder(
    name: str, *, model_dir: Path, providers: list[str] | None = None, model_path: Path | None = None
) -> ImageEmbedder:
    """Load the image embedder registered as ``name`` (CLIP backends need ``model_path``).

    Raises:
        UnknownBackendError: no such backend. ModelUnavailableError: its weights or package are missing.
    """
    if name not in IMAGE_EMBEDDERS:
        raise UnknownBackendError("image embedder", name, list(IMAGE_EMBEDDERS))
    return IMAGE_EMBEDDERS[name](model_dir, providers, model_path)


def create_text_embedder(name: str, *, model_dir: Path, providers: list[str] | None = None) -> TextEmbedder:
    """Load the text embedder registered as ``name``."""
    if name not in TEXT_EMBEDDERS:
        raise UnknownBackendError("text embedder", name, list(TEXT_EMBEDDERS))
    return TEXT_EMBEDDERS[name](model_dir, providers, None)

"""CLIP/SigLIP backends a user supplies: an ONNX pair by path, or an open_clip checkpoint folder.

No CLIP weights can be had offline here; these load only local files and never download. Both embed images
and texts into one space, so a text query also ranks assets by their image vectors (text→image search).

ONNX folder layout (``--embedder-model DIR``): ``image.onnx`` (``pixel_values`` (N, 3, S, S) → (N, D)),
``text.onnx`` (``input_ids`` (N, T) int64, optionally ``attention_mask`` → (N, D)), ``tokenizer.json`` (Hugging
Face ``tokenizers``) and ``clip.json`` (``name``, ``image_size``, ``mean``, ``std``, ``context_length``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from refbench.errors import ModelUnavailableError
from refbench.faces import l2_normalize
from refbench.runtime import resolve_providers, session_options

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def center_crop_resize(image_rgb: np.ndarray, size: int) -> np.ndarray:
    """CLIP's preprocessing geometry: shorter side to ``size`` (bicubic), then the centre ``size`` × ``size``."""
    height, width = image_rgb.shape[:2]
    scale = size / min(height, width)
    resized = cv2.resize(
        image_rgb, (max(size, round(width * scale)), max(size, round(height * scale))), interpolation=cv2.INTER_CUBIC
    )
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return resized[top : top + size, left : left + size]


class OnnxClip:
    """A CLIP-style image tower and text tower in ONNX Runtime; image and text vectors share one space."""

    def __init__(
        self,
        *,
        image_model: Path,
        text_model: Path,
        tokenizer: Path,
        name: str = "clip-onnx",
        image_size: int = 224,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        context_length: int = 77,
        providers: list[str] | None = None,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        for path in (image_model, text_model, tokenizer):
            if not Path(path).is_file():
                raise ModelUnavailableError(f"CLIP model file {path} does not exist (nothing is downloaded)")
        chosen = resolve_providers(providers)
        self.image = onnxruntime.InferenceSession(str(image_model), sess_options=session_options(), providers=chosen)
        self.text = onnxruntime.InferenceSession(str(text_model), sess_options=session_options(), providers=chosen)
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(context_length)
        self.tokenizer.enable_padding(length=context_length)
        self.name, self.space, self.image_size = name, name, image_size
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.dim = int(self.image.get_outputs()[0].shape[-1])
        self.execution_provider = self.image.get_providers()[0]
        self._text_inputs = {i.name for i in self.text.get_inputs()}

    @classmethod
    def from_folder(cls, folder: Path, *, providers: list[str] | None = None) -> OnnxClip:
        """Load ``image.onnx``, ``text.onnx``, ``tokenizer.json`` and ``clip.json`` from one folder."""
        folder = Path(folder)
        config_path = folder / "clip.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        return cls(
            image_model=folder / "image.onnx",
            text_model=folder / "text.onnx",
            tokenizer=folder / "tokenizer.json",
            providers=providers,
            **{k: v for k, v in config.items() if k in ("name", "image_size", "mean", "std", "context_length")},
        )

    def embed_images(self, images_rgb: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, L2-normalised."""
        if not len(images_rgb):
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack(
            [
                ((center_crop_resize(im, self.image_size).astype(np.float32) / 255.0 - self.mean) / self.std).transpose(
                    2, 0, 1
                )
                for im in images_rgb
            ]
        )
        return l2_normalize(self.image.run(None, {self.image.get_inputs()[0].name: batch})[0])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32, L2-normalised, in the images' space."""
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64)}
        if "attention_mask" in self._text_inputs:
            feeds["attention_mask"] = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return l2_normalize(self.text.run(None, feeds)[0])


class OpenClip:
    """An open_clip model from a local folder (``open_clip_config.json`` + weights), never from a hub."""

    def __init__(self, model, preprocess, tokenizer, *, name: str) -> None:  # noqa: ANN001 - open_clip objects
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.name = self.space = name
        self.execution_provider = "torch-cpu"
        self.dim = int(getattr(model, "embed_dim", 0) or model.text_projection.shape[-1])

    @classmethod
    def from_checkpoint(cls, folder: Path) -> OpenClip:
        """``open_clip.create_model_from_pretrained('local-dir:<folder>')``.

        Raises:
            ModelUnavailableError: open_clip is not installed, or the folder holds no model.
        """
        if not (Path(folder) / "open_clip_config.json").is_file():
            raise ModelUnavailableError(f"{folder} holds no open_clip_config.json (nothing is downloaded)")
        try:
            import open_clip
        except ImportError as error:
            raise ModelUnavailableError(f"open_clip is not installed (pip install open-clip-torch): {error}") from error
        model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{folder}")
        model.eval()
        return cls(
            model, preprocess, open_clip.get_tokenizer(f"local-dir:{folder}"), name=f"open-clip:{Path(folder).name}"
        )

    def embed_images(self, images_rgb: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, L2-normalised."""
        import torch
        from PIL import Image

        with torch.no_grad():
            batch = torch.stack([self.preprocess(Image.fromarray(im)) for im in images_rgb])
            return l2_normalize(self.model.encode_image(batch).float().numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32, L2-normalised, in the images' space."""
        import torch

        with torch.no_grad():
            return l2_normalize(self.model.encode_text(self.tokenizer(list(texts))).float().numpy())

"""all-MiniLM-L6-v2 sentence embeddings (Apache-2.0) in ONNX Runtime, tokenised by Hugging Face ``tokenizers``.

Mean pooling over the attention mask, then L2 normalisation: what sentence-transformers does for this model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from refbench.faces import l2_normalize
from refbench.provision.weights import model_path
from refbench.runtime import resolve_providers, session_options

ONNX_FILE = "minilm/all_minilm_l6_v2.onnx"
TOKENIZER_FILE = "minilm/tokenizer.json"
MAX_TOKENS = 256  # the model's max_seq_length


class MiniLMEmbedder:
    """Texts → (N, 384) L2-normalised sentence embeddings."""

    name = "minilm-l6"
    dim = 384
    space = "text"

    def __init__(self, *, model_dir: Path, providers: list[str] | None = None, batch_size: int = 32) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_path(model_dir, TOKENIZER_FILE)))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.session = onnxruntime.InferenceSession(
            str(model_path(model_dir, ONNX_FILE)),
            sess_options=session_options(),
            providers=resolve_providers(providers),
        )
        self.execution_provider = self.session.get_providers()[0]
        self.batch_size = batch_size

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 384) float32, L2-normalised; an empty text embeds like ``""`` does in sentence-transformers."""
        out = [self._batch(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        tokens = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[:, :, None].astype(np.float32)
        return l2_normalize((tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))

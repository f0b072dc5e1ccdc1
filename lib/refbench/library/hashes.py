"""Perceptual hashes (imagehash) and the near-duplicate rule: a pHash distance or a visual-embedding cosine.

A half-size re-encode, a small crop or a colour shift of a photo keeps its 64-bit DCT hash within a few
bits and its EfficientNet embedding near cosine 1; distinct photos, even of the same person, do not. The
default thresholds were chosen on measured variants against distinct photos (README, asset library).
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from refbench.errors import OptionError

# Chosen on the dev set (refbench.pipelines.library_eval): highest recall at precision 1.0, with margin.
DEFAULT_MAX_PHASH_BITS = 10
DEFAULT_MIN_COSINE = 0.92


@dataclass(frozen=True)
class ImageHashes:
    """64-bit perceptual hashes of one image, as 16 hex digits: DCT (``phash``) and gradient (``dhash``)."""

    phash: str
    dhash: str


def perceptual_hashes(image_rgb: np.ndarray) -> ImageHashes:
    """pHash and dHash of an upright RGB image (H, W, 3) uint8."""
    image = Image.fromarray(image_rgb)
    return ImageHashes(str(imagehash.phash(image)), str(imagehash.dhash(image)))


def hash_bits(hashes: list[str]) -> np.ndarray:
    """Hex hashes → (N,) uint64."""
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)


def hamming(query: np.uint64 | int, others: np.ndarray) -> np.ndarray:
    """Bits that differ between one hash and each of ``others`` (N,) uint64 → (N,) int."""
    return np.bitwise_count(np.bitwise_xor(others, np.uint64(query))).astype(np.int64)


@dataclass(frozen=True)
class NearDuplicate:
    """Image ``index`` repeats image ``of`` (an earlier one); ``distance`` is pHash bits or 1 - cosine."""

    index: int
    of: int
    distance: float
    method: str  # phash | visual


@dataclass(frozen=True)
class NearDuplicateRule:
    """Two images are near-duplicates when their pHashes differ in at most ``max_phash_bits`` bits, or their
    visual embeddings have a cosine of at least ``min_cosine``; each method that fires is reported."""

    max_phash_bits: int = DEFAULT_MAX_PHASH_BITS
    min_cosine: float = DEFAULT_MIN_COSINE

    def __post_init__(self) -> None:
        if not 0 <= self.max_phash_bits <= 64:
            raise OptionError(f"max_phash_bits must lie in [0, 64], got {self.max_phash_bits}")
        if not -1.0 <= self.min_cosine <= 1.0:
            raise OptionError(f"min_cosine must be a cosine in [-1, 1], got {self.min_cosine}")

    def find(self, phashes: np.ndarray, embeddings: np.ndarray, *, new: list[int]) -> list[NearDuplicate]:
        """Near-duplicates of each ``new`` image among the images before it (ingest order).

        Args:
            phashes: (N,) uint64 pHashes of every image, in ingest order.
            embeddings: (N, D) L2-normalised visual embeddings, same order.
            new: indices of the images to check (each against the images before it only).
        """
        found = []
        for i in new:
            if i == 0:
                continue
            bits = hamming(phashes[i], phashes[:i])
            cosine = embeddings[:i] @ embeddings[i]
            j = int(np.argmin(bits))
            if bits[j] <= self.max_phash_bits:
                found.append(NearDuplicate(i, j, float(bits[j]), "phash"))
            j = int(np.argmax(cosine))
            if cosine[j] >= self.min_cosine:
                found.append(NearDuplicate(i, j, float(1.0 - cosine[j]), "visual"))
        return found

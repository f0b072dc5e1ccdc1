"""Tier 3: a generative clean sheet, accepted only when ArcFace says it is still the same person.

The generator is any object with ``generate(prompt, reference_rgb)``; the validation uses the
workspace's face model and its calibrated threshold (``refbench.identity.choose_threshold``). After
``max_attempts`` failures the asset falls back to the lower tier and the tier-3 row is stored as
``failed`` with the best similarity reached: never a silent pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from refbench.clean import Cleaner, CleanResult
from refbench.errors import GenerationError, InputError, ModelUnavailableError, OptionError
from refbench.faces import FaceAnalyzer, largest_face
from refbench.generation.attempts import MAX_ATTEMPTS
from refbench.generation.images import GeneratedImage, ImageRequest
from refbench.types import Asset

CLEAN_SHEET_PROMPT = (
    "Clean character reference photo of {description}: the same person, head and shoulders, "
    "front view, neutral gray (#808080) seamless background, soft even studio light, no text, "
    "no other people."
)


class ImageGenerator(Protocol):
    """Makes one RGB image (H, W, 3) uint8 from a prompt and a reference image."""

    name: str

    def generate(self, prompt: str, reference_rgb: np.ndarray) -> np.ndarray:
        """Generate an image of the reference's subject as the prompt asks."""
        ...


class ReplayGenerator:
    """Returns previously generated image files in turn (offline runs, audits, tests)."""

    name = "replay"

    def __init__(self, files: Sequence[Path]) -> None:
        if not files:
            raise OptionError("ReplayGenerator needs at least one image file")
        self.files, self.calls = list(files), 0
        self.received: list[tuple[str, tuple[int, ...]]] = []  # (prompt, reference shape) of each call

    def generate(self, prompt: str, reference_rgb: np.ndarray | None) -> np.ndarray:
        """The next file's pixels (RGB); the last file repeats. ``received`` notes the reference's shape (``()``
        for none)."""
        path = self.files[min(self.calls, len(self.files) - 1)]
        self.received.append((prompt, () if reference_rgb is None else tuple(reference_rgb.shape)))
        self.calls += 1
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    def create(self, request: ImageRequest) -> GeneratedImage:
        """The next file for a request (its first image counts as the reference); costs nothing."""
        reference = request.images[0].image_rgb if request.images else None
        return GeneratedImage(self.generate(request.prompt, reference), self.name)


class GenerativeCleaner:
    """Tier 3 cleaner with ArcFace validation and fallback.

    Args:
        generator: The image generator.
        face_analyzer: The face model used for validation (same model as the identities). ``None`` is refused.
        identities: Identity id → reference embedding (``Workspace.identities.centroids``).
        threshold: Calibrated same-person cosine threshold of ``face_analyzer``.
        fallback: Lower-tier cleaner used when every attempt fails.
        max_attempts: Generations tried per asset (at most 3).
    """

    name = "generative"
    tier = 3

    def __init__(
        self,
        *,
        generator: ImageGenerator,
        face_analyzer: FaceAnalyzer | None,
        identities: dict[str, np.ndarray],
        threshold: float,
        fallback: Cleaner,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if face_analyzer is None:
            raise ModelUnavailableError(
                "tier-3 clean sheets need a face model to validate identity; none is loaded "
                "(refusing to accept generated sheets unchecked)"
            )
        if not 1 <= max_attempts <= MAX_ATTEMPTS:
            raise OptionError(f"max_attempts must be 1..{MAX_ATTEMPTS}, got {max_attempts}")
        self.generator, self.face_analyzer, self.identities = generator, face_analyzer, identities
        self.threshold, self.fallback, self.max_attempts = float(threshold), fallback, max_attempts

    def similarity(self, image_rgb: np.ndarray, reference: np.ndarray) -> float:
        """Cosine between ``reference`` (D,) and the largest face of an RGB image; 0 when no face is found."""
        face = largest_face(self.face_analyzer.analyze(image_rgb))
        if not len(face):
            return 0.0
        return float(np.dot(face.data["embedding"][0][: reference.shape[0]], reference))

    def clean(self, asset: Asset, *, out_dir: Path) -> list[CleanResult]:
        """Up to ``max_attempts`` generations; the first one at or above the threshold is kept."""
        if asset.asset_type != "character" or asset.identity_id not in self.identities:
            raise InputError(
                f"{asset.tag}: tier-3 clean sheets are validated with ArcFace, so only characters "
                f"with a known identity qualify (got {asset.asset_type})"
            )
        reference = self.identities[asset.identity_id]
        with Image.open(asset.crop_path) as image:
            reference_rgb = np.asarray(image.convert("RGB"))
        prompt = CLEAN_SHEET_PROMPT.format(description=asset.description)
        start, best, out_dir = time.perf_counter(), -1.0, Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path, problems = asset.crop_path, []  # the failed row points at the last sheet made, else at the crop
        for attempt in range(1, self.max_attempts + 1):
            try:
                generated = self.generator.generate(prompt, reference_rgb)
            except GenerationError as error:  # the service failed after its own retries: one attempt spent
                problems.append(f"attempt {attempt}: {error}")
                continue
            path = out_dir / f"{asset.tag}-tier3-{attempt}.png"
            Image.fromarray(generated).save(path)
            similarity = self.similarity(generated, reference)
            best = max(best, similarity)
            if similarity >= self.threshold:
                return [
                    CleanResult(
                        asset.tag,
                        asset.asset_id,
                        self.tier,
                        f"{self.name}:{self.generator.name}",
                        path,
                        prompt=prompt,
                        similarity=similarity,
                        threshold=self.threshold,
                        attempts=attempt,
                        cost=time.perf_counter() - start,
                        cost_unit="s",
                    )
                ]
        failed = CleanResult(
            asset.tag,
            asset.asset_id,
            self.tier,
            f"{self.name}:{self.generator.name}",
            path,
            status="failed",
            prompt=prompt,
            similarity=best if best > -1.0 else None,
            threshold=self.threshold,
            attempts=self.max_attempts,
            cost=time.perf_counter() - start,
            cost_unit="s",
            message=f"best ArcFace similarity {max(best, 0):.3f} < threshold {self.threshold:.3f} after "
            f"{self.max_attempts} attempts; fell back to tier {self.fallback.tier}"
            + (f" ({'; '.join(problems)})" if problems else ""),
        )
        return [failed, *self.fallback.clean(asset, out_dir=out_dir)]

"""Gemini image requests: what goes in, in which order, what comes back and what it cost.

Content order follows the google-genai SDK and Gemini image-generation documentation for generation and
editing with reference images: the text prompt first, then the images (``contents=[prompt, image, ...]``),
which is also the order the identity designers found to keep characters consistent. Every call goes
through the shared client and retry policy of ``refbench.google_api``; the cost is estimated from the
answer's ``usage_metadata`` (image output is billed as tokens: 1290 per 1024 px image for
gemini-2.5-flash-image).

Before anything is sent, ``FaceImageGuard`` counts the images that hold a face: two face-bearing images in
one request trip the image models' safety filters (read as a face swap), so such a request is refused
unless the caller overrides it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image

from refbench.errors import (
    FaceImagesRefused,
    GenerationError,
    ImageNotReturned,
    ImageRejected,
    OptionError,
    RemoteCallFailed,
)
from refbench.faces import FaceAnalyzer
from refbench.google_api import GoogleApiSettings, RefusedRedirect, ResponseTooLarge, RetryPolicy, error_text
from refbench.ingest.imaging import decode_image
from refbench.settings import ImageLimits

IMAGE_MODEL = "gemini-2.5-flash-image"
# USD per 1M tokens (input, output), Gemini API paid tier, from ai.google.dev/gemini-api/docs/pricing (2025):
# gemini-2.5-flash-image bills a 1024 px image as 1290 output tokens ($0.039); gemini-3-pro-image-preview a
# 1K/2K image as 1120 output tokens ($0.134). Prices change: pass ``prices`` to override.
IMAGE_PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash-image": (0.30, 30.0),
    "gemini-2.5-flash-image-preview": (0.30, 30.0),
    "gemini-3-pro-image-preview": (2.00, 120.0),
}
MAX_INPUT_SIDE = 1024  # long side of every image sent (see ImageInput.fitted)
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


@dataclass(frozen=True)
class ImageInput:
    """One image going into a request, with the part it plays (``identity reference (front)``, ``previous output``)."""

    image_rgb: np.ndarray
    role: str
    source: Path | None = None

    @classmethod
    def fitted(
        cls, image_rgb: np.ndarray, role: str, *, source: Path | None = None, max_side: int = MAX_INPUT_SIDE
    ) -> ImageInput:
        """An input shrunk to ``max_side`` on its long side (never enlarged): the API tiles larger images at 258
        tokens per 768 px tile and scales them down itself, so bigger only costs more."""
        height, width = image_rgb.shape[:2]
        scale = max_side / max(height, width)
        if scale < 1:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        return cls(image_rgb, role, source)

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary: role, source file, size and a digest of the pixels (never the pixels)."""
        height, width = self.image_rgb.shape[:2]
        return {
            "role": self.role,
            "source": None if self.source is None else str(self.source),
            "size_wh": [width, height],
            "sha256": hashlib.sha256(np.ascontiguousarray(self.image_rgb).tobytes()).hexdigest()[:16],
        }


@dataclass(frozen=True)
class ImageRequest:
    """A prompt and the images that go with it, in the order they are sent (after the prompt)."""

    prompt: str
    images: tuple[ImageInput, ...] = ()
    aspect_ratio: str | None = None

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise OptionError("an image request needs a prompt")
        if self.aspect_ratio is not None and self.aspect_ratio not in ASPECT_RATIOS:
            raise OptionError(f"aspect ratio {self.aspect_ratio!r} is not one of {', '.join(ASPECT_RATIOS)}")

    def contents(self) -> list[Any]:
        """``generate_content`` contents: the prompt first, then each image (SDK documentation order)."""
        return [self.prompt, *(Image.fromarray(np.ascontiguousarray(i.image_rgb)) for i in self.images)]

    def describe(self) -> list[dict[str, Any]]:
        """The images as stored with a step (what went in, in order)."""
        return [image.describe() for image in self.images]


@dataclass(frozen=True)
class GeneratedImage:
    """What an image model returned for one request, with what it cost."""

    image_rgb: np.ndarray
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0  # None: no price known for the model
    api_attempts: int = 1  # HTTP attempts the retry policy made
    seconds: float = 0.0
    text: str = ""


class ImageGenerator(Protocol):
    """Makes one image for a request (prompt first, then its images)."""

    name: str

    def create(self, request: ImageRequest) -> GeneratedImage:
        """Generate; raises ``GenerationError`` (``ImageNotReturned`` for an answer without an image)."""
        ...


def image_cost_usd(
    model: str, tokens_in: int, tokens_out: int, *, prices: dict[str, tuple[float, float]] | None = None
) -> float | None:
    """Estimated USD of one image call from its token counts; ``None`` for a model without a known price."""
    price = (prices or IMAGE_PRICES_USD_PER_MTOK).get(model.removeprefix("models/"))
    return None if price is None else (tokens_in * price[0] + tokens_out * price[1]) / 1e6


def attempt_cost_usd(model: str, *, tokens: tuple[int, int] = (700, 1290)) -> float:
    """Estimated USD of one generation attempt (default: a prompt and one reference in, one 1024 px image out);
    0 when the model's price is unknown."""
    return image_cost_usd(model, *tokens) or 0.0


class GeminiImageGenerator:
    """Image generation through google-genai ``generate_content`` (Gemini image models), prompt first.

    Each call goes through the shared retry policy; the returned image is decoded with the same limits as any
    user file. Whatever still fails is a ``GenerationError`` (its text never holds the key).

    Args:
        client: A google-genai client from ``refbench.google_api.make_client``.
        model: The image model.
        policy: Retries and deadline of each call (default: ``REFBENCH_GEMINI_*``).
        limits: Pixel limit of returned images.
        prices: Model -> (USD per 1M input tokens, per 1M output tokens), overriding the table.
    """

    name = "gemini-image"

    def __init__(
        self,
        client: Any,
        *,
        model: str = IMAGE_MODEL,
        policy: RetryPolicy | None = None,
        limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
        prices: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.client, self.model, self.limits, self.prices = client, model, limits, prices
        self.policy = policy or GoogleApiSettings().policy()

    def create(self, request: ImageRequest) -> GeneratedImage:
        """One image for ``request``: prompt first, then its images."""
        from google.genai import errors, types

        config = None
        if request.aspect_ratio:
            config = types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio=request.aspect_ratio))
        contents, start, retried = request.contents(), time.perf_counter(), 0

        def count_retry(*_: object) -> None:
            nonlocal retried
            retried += 1

        try:
            response = self.policy.call(
                lambda: self.client.models.generate_content(model=self.model, contents=contents, config=config),
                on_retry=count_retry,
            )
        except (RemoteCallFailed, RefusedRedirect, ResponseTooLarge, errors.APIError) as error:
            raise GenerationError(f"{self.model}: {error_text(error)}") from error
        usage = response.usage_metadata
        tokens_in = (usage.prompt_token_count or 0) if usage else 0
        tokens_out = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        cost = image_cost_usd(self.model, tokens_in, tokens_out, prices=self.prices)
        image_rgb = self._image_of(response, tokens_in=tokens_in, cost=cost)
        return GeneratedImage(
            image_rgb,
            self.model,
            tokens_in,
            tokens_out,
            cost,
            retried + 1,
            time.perf_counter() - start,
            "".join(part.text or "" for part in response.parts or []),
        )

    def _image_of(self, response: Any, *, tokens_in: int, cost: float | None) -> np.ndarray:
        for part in response.parts or []:
            if part.inline_data and (part.inline_data.mime_type or "").startswith("image/"):
                try:
                    return decode_image(part.inline_data.data, max_pixels=self.limits.max_pixels).image_rgb
                except ImageRejected as error:
                    raise GenerationError(f"{self.model} returned an unusable image: {error}") from error
        reason = _why_no_image(response)
        raise ImageNotReturned(f"{self.model} returned no image ({reason})", tokens_in=tokens_in, cost_usd=cost)

    def generate(self, prompt: str, reference_rgb: np.ndarray) -> np.ndarray:
        """One image (H, W, 3) uint8 for ``prompt`` with one reference (the tier-3 clean sheet interface)."""
        return self.create(ImageRequest(prompt, (ImageInput(reference_rgb, "reference"),))).image_rgb


def _why_no_image(response: Any) -> str:
    """The block reason, finish reason or text of an answer without an image."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return f"prompt blocked: {feedback.block_reason.value}"
    if response.candidates and response.candidates[0].finish_reason is not None:
        finish = response.candidates[0].finish_reason.value
        if finish != "STOP":
            return f"finish reason {finish}"
    text = "".join(p.text or "" for p in response.parts or [])
    return f"text: {text[:200]!r}"


class FaceImageGuard:
    """Counts the face-bearing images of a request and refuses too many before anything is sent.

    Args:
        analyzer: The face model that looks for faces.
        max_face_images: Face-bearing images one request may carry (image models block two as a face swap).
    """

    def __init__(self, analyzer: FaceAnalyzer, *, max_face_images: int = 1) -> None:
        self.analyzer, self.max_face_images = analyzer, max_face_images

    def face_bearing(self, request: ImageRequest) -> list[str]:
        """Roles of the request's images in which the face model finds a face."""
        return [image.role for image in request.images if len(self.analyzer.analyze(image.image_rgb))]

    def check(self, request: ImageRequest, *, allow: bool = False) -> list[str]:
        """The face-bearing roles; raises ``FaceImagesRefused`` over the limit unless ``allow``."""
        roles = self.face_bearing(request)
        if len(roles) > self.max_face_images and not allow:
            raise FaceImagesRefused(
                f"refused before sending: {len(roles)} face-bearing images ({', '.join(roles)}) in one request; image "
                f"models block that as a face swap. Send at most {self.max_face_images}, or override "
                "(--allow-two-faces)",
                roles=roles,
            )
        return roles


def connect_image_generator(
    *,
    model: str = IMAGE_MODEL,
    base_url: str | None = None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> GeminiImageGenerator:
    """A ``GeminiImageGenerator`` on the shared bounded client: ``base_url`` (a loopback fake), else
    ``REFBENCH_GEMINI_BASE_URL``, else Google's endpoint; the key from ``refbench.credentials``.

    Raises:
        ApiKeyMissing: no API key in the environment or the secrets file.
    """
    from refbench.google_api import make_client

    api = GoogleApiSettings(**({"base_url": base_url} if base_url else {}))
    return GeminiImageGenerator(
        make_client(mode="gemini", settings=api), model=model, policy=api.policy(), limits=limits
    )


def generator_available() -> bool:
    """Whether an image generator can be made: an API key is set (a fake needs one too, any value)."""
    from refbench.credentials import find_api_key

    return find_api_key() is not None

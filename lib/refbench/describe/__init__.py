"""Describing assets for re-prompting: reverse prompt, visual description, suitability, suggested name.

Two backends behind one tiny interface (CONVENTIONS.md 2): ``local`` builds a description from what
the workbench measured, offline and deterministic; ``gemini`` asks a Gemini model through the
google-genai SDK. ``refbench.describe.runner.describe_assets`` runs either over the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from refbench.errors import ConfigError, UnknownBackendError

STATUSES = ("ok", "blocked", "malformed", "error")


@dataclass(frozen=True)
class FaceFacts:
    """Measured figures of a character's best face (from the ``faces`` table)."""

    width_frac: float  # face width / image width
    yaw: float  # degrees, > 0: nose towards the image's right edge
    sharpness: float  # variance of the Laplacian of the face at 112 px wide
    exposure: float  # mean luma in [0, 1]
    quality_score: float  # [0, 1]
    det_score: float
    n_faces: int = 1  # faces of this identity in the registry


@dataclass(frozen=True)
class AssetFacts:
    """What a describer gets for one asset: the crop and everything measured about it."""

    asset_id: str
    tag: str
    asset_type: str  # character | prop | vehicle | animal | environment
    label: str  # detector class name, or the asset's name for characters/environments
    crop_path: Path
    content_sha256: str  # of the crop file's bytes
    image_wh: tuple[int, int]  # source image (width, height), upright
    bbox_xyxy: tuple[float, float, float, float] | None = None  # in the source image; None for environments
    confidence: float | None = None  # detector confidence of objects
    face: FaceFacts | None = None
    scene_objects: dict[str, int] = field(default_factory=dict)  # class -> count in the source image
    scene_faces: int = 0


@dataclass
class Description:
    """One describer call's result; empty texts unless ``status == "ok"``."""

    status: str  # ok | blocked | malformed | error
    backend: str
    model: str
    prompt_version: str
    reverse_prompt: str = ""
    visual_description: str = ""
    suggested_name: str = ""
    suitability: float | None = None  # 1..10
    reason: str = ""  # why it is not ok (block reason, parse error, last API error)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0  # None: no price known for the model
    attempts: int = 1
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # type-specific fields the backend returned

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.suitability is not None and not 1.0 <= self.suitability <= 10.0:
            raise ValueError(f"suitability must lie in [1, 10], got {self.suitability}")


class Describer(Protocol):
    """Describes one asset; safe to call from ``concurrency`` threads at once."""

    backend: str
    model: str
    prompt_version: str
    concurrency: int

    def describe(self, asset: AssetFacts) -> Description:
        """Describe one asset; failures come back as a non-ok ``Description``, never as an exception."""
        ...


def _local(model: str | None) -> Describer:
    from refbench.describe.local import LocalDescriber

    if model is not None:
        raise ConfigError(f"the local describer uses no model (got {model!r}); --model is for --backend gemini")
    return LocalDescriber()


def _gemini(model: str | None) -> Describer:
    from refbench.describe.gemini import GeminiDescriber, GeminiSettings, resolve_api_key

    settings = GeminiSettings(model=model) if model else GeminiSettings()
    return GeminiDescriber(settings, api_key=resolve_api_key())


DESCRIBERS: dict[str, Callable[[str | None], Describer]] = {"local": _local, "gemini": _gemini}


def create_describer(name: str, *, model: str | None = None) -> Describer:
    """The describer registered as ``name``; gemini settings come from ``REFBENCH_GEMINI_*``.

    Raises:
        UnknownBackendError: ``name`` is not registered.
        ConfigError: gemini without an API key in the environment or the secrets file; a model for local.
    """
    if name not in DESCRIBERS:
        raise UnknownBackendError("describer", name, list(DESCRIBERS))
    return DESCRIBERS[name](model)


def default_backend() -> str:
    """``gemini`` when an API key is available, else ``local``."""
    from refbench.describe.gemini import find_api_key

    return "gemini" if find_api_key() else "local"

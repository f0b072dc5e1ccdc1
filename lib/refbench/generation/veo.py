"""Veo 3.1 requests: built from a scene and its selection, checked before anything leaves the machine.

Every rule is a named check returning a message a user understands (sources: google-genai 3.4
``types.GenerateVideosConfig`` / ``VideoGenerationReferenceImage``, the Gemini API and Vertex AI
Veo 3.1 docs, summarised in DESIGN.md "Domain facts"):

- references: at most 3, type ``ASSET`` only (``STYLE`` is Veo 2 on Vertex), prompt required;
- references are exclusive with a first frame (``image``), ``last_frame`` and ``video``;
- ``last_frame`` needs a first frame (interpolation);
- duration 4, 6 or 8 s; exactly 8 s with references and at 1080p/4k;
- one video per request on the Gemini API, up to 4 on Vertex AI;
- Vertex-only config fields are refused in Gemini API mode;
- person generation: ``allow_adult`` whenever an image goes in (references, frames), values valid for the mode;
- reference images at most 1024 px on the long side; inline payload under a budget (else ``gcs_uri``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from refbench.errors import ImageRejected, InputError, RequestValidationError
from refbench.ingest import load_image_rgb
from refbench.select.scenes import SceneSpec
from refbench.select.selection import Selection
from refbench.settings import ImageLimits

VEO_31_MODEL = "veo-3.1-generate-preview"
MODES = ("gemini", "vertex")
MAX_REFERENCE_IMAGES = 3
MAX_REFERENCE_SIDE = 1024
ALLOWED_DURATIONS = (4, 6, 8)
HIGH_RESOLUTIONS = ("1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16")
RESOLUTIONS = ("720p", "1080p", "4k")
# Inline images travel base64-encoded inside the JSON body; above this, use Cloud Storage URIs.
DEFAULT_INLINE_BUDGET_BYTES = 16 * 1024 * 1024
# Videos one request may ask for: the Gemini API's Veo 3.x parameter table says 1; Vertex AI's model pages say 4.
MAX_VIDEOS_PER_REQUEST = {"gemini": 1, "vertex": 4}
VERTEX_ONLY_FIELDS = ("seed", "generate_audio", "fps", "output_gcs_uri", "mask", "pubsub_topic", "compression_quality")
PERSON_GENERATION = {
    "gemini": ("allow_all", "allow_adult", "dont_allow"),
    "vertex": ("allow_all", "allow_adult", "dont_allow"),
}
CONFIG_FIELDS = (
    "duration_seconds",
    "aspect_ratio",
    "resolution",
    "person_generation",
    "negative_prompt",
    "number_of_videos",
    "enhance_prompt",
    *VERTEX_ONLY_FIELDS,
)


@dataclass(frozen=True)
class RequestImage:
    """An image going into a request: inline bytes (already resized) or a Cloud Storage URI."""

    mime_type: str
    size_wh: tuple[int, int]
    image_bytes: bytes | None = None
    gcs_uri: str | None = None
    source_path: Path | None = None
    tag: str | None = None
    reference_type: str = "ASSET"

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary: bytes replaced by their size and sha256."""
        data = {
            "tag": self.tag,
            "source_path": str(self.source_path) if self.source_path else None,
            "mime_type": self.mime_type,
            "size_wh": list(self.size_wh),
        }
        if self.image_bytes is not None:
            data["image_bytes"] = {
                "n_bytes": len(self.image_bytes),
                "sha256": hashlib.sha256(self.image_bytes).hexdigest(),
            }
        if self.gcs_uri:
            data["gcs_uri"] = self.gcs_uri
        return data


@dataclass
class VeoRequest:
    """Everything one ``generate_videos`` call sends, before it is turned into SDK types."""

    scene_id: str
    model: str
    mode: str
    prompt: str | None
    config: dict[str, Any] = field(default_factory=dict)
    reference_images: list[RequestImage] = field(default_factory=list)
    first_frame: RequestImage | None = None
    last_frame: RequestImage | None = None
    video_uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as printed and stored (image bytes summarised, never inlined)."""
        return {
            "scene_id": self.scene_id,
            "model": self.model,
            "mode": self.mode,
            "prompt": self.prompt,
            "image": self.first_frame.describe() if self.first_frame else None,
            "video": self.video_uri,
            "config": {
                **self.config,
                "last_frame": self.last_frame.describe() if self.last_frame else None,
                "reference_images": [
                    {"reference_type": r.reference_type, "image": r.describe()} for r in self.reference_images
                ]
                or None,
            },
        }

    @property
    def image_inputs(self) -> list[RequestImage]:
        """Every image the request carries."""
        return [*self.reference_images, *(f for f in (self.first_frame, self.last_frame) if f is not None)]


def load_request_image(
    path: Path,
    *,
    max_side: int = MAX_REFERENCE_SIDE,
    tag: str | None = None,
    gcs_uri: str | None = None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> RequestImage:
    """Read an image file within the ingest limits, shrink it to ``max_side`` on its long side and encode it as
    JPEG (never upscale).

    Raises:
        InputError: the file is missing, no image, or over the limits (nothing leaves the machine).
    """
    try:
        rgb = Image.fromarray(load_image_rgb(Path(path), limits=limits))
    except ImageRejected as error:
        hint = " (a derived file: `refbench manifest` makes it again)" if not Path(path).exists() and tag else ""
        raise InputError(f"{path} cannot go into a request: {error.reason}{hint}") from error
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if gcs_uri:
        return RequestImage("image/jpeg", rgb.size, gcs_uri=gcs_uri, source_path=Path(path), tag=tag)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=90)
    return RequestImage("image/jpeg", rgb.size, image_bytes=buffer.getvalue(), source_path=Path(path), tag=tag)


def build_veo_request(
    scene: SceneSpec,
    selection: Selection | None,
    *,
    mode: str = "gemini",
    model: str = VEO_31_MODEL,
    max_side: int = MAX_REFERENCE_SIDE,
    gcs_uris: dict[str, str] | None = None,
    extra_config: dict[str, Any] | None = None,
    descriptions: dict[str, str] | None = None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> VeoRequest:
    """Turn a scene and its chosen references into a Veo request (validate it with ``validate_veo_request``).

    Args:
        scene: The scene spec; its frames, if any, are put in as given (the checks refuse mixing them with
            references rather than silently dropping one).
        selection: The chosen references (``None`` or empty: text/frames only).
        mode: ``gemini`` (Gemini API) or ``vertex`` (Vertex AI).
        model: Veo model id.
        max_side: Long-side limit of reference images in pixels.
        gcs_uris: Tag → ``gs://`` URI of an already uploaded copy, used instead of inline bytes.
        extra_config: More ``GenerateVideosConfig`` fields (e.g. ``seed``), checked like the rest.
        descriptions: Tag → text appended to the prompt so words reinforce the reference images.
    """
    gcs_uris = gcs_uris or {}
    references = [
        load_request_image(s.image_path, max_side=max_side, tag=s.tag, gcs_uri=gcs_uris.get(s.tag), limits=limits)
        for s in (selection.chosen if selection else [])
    ]
    first = load_request_image(scene.first_frame, max_side=max_side, limits=limits) if scene.first_frame else None
    last = load_request_image(scene.last_frame, max_side=max_side, limits=limits) if scene.last_frame else None
    has_images = bool(references or first or last)
    duration = scene.duration_seconds or 8
    config = {
        "duration_seconds": duration,
        "aspect_ratio": scene.aspect_ratio,
        "resolution": scene.resolution,
        "person_generation": "allow_adult" if has_images or mode == "vertex" else "allow_all",
        "number_of_videos": 1,
    }
    if scene.negative_prompt:
        config["negative_prompt"] = scene.negative_prompt
    config.update(extra_config or {})
    return VeoRequest(
        scene_id=scene.scene_id,
        model=model,
        mode=mode,
        prompt=prompt_with_descriptions(scene.prompt, descriptions or {}),
        config=config,
        reference_images=references,
        first_frame=first,
        last_frame=last,
    )


def prompt_with_descriptions(prompt: str, descriptions: dict[str, str]) -> str:
    """The scene prompt first, then one line per subject so text reinforces each reference image."""
    if not descriptions:
        return prompt
    lines = "\n".join(f"- {tag}: {text}" for tag, text in descriptions.items())
    return f"{prompt}\n\nKeep these subjects exactly as described and as shown in the reference images:\n{lines}"


@dataclass(frozen=True)
class CheckResult:
    """One named pre-flight check: passed or not, and what it means for the user."""

    name: str
    ok: bool
    message: str


Check = Callable[[VeoRequest, dict[str, Any]], "str | None"]


def _mode_known(r: VeoRequest, o: dict[str, Any]) -> str | None:
    return None if r.mode in MODES else f"mode {r.mode!r} is not one of {', '.join(MODES)}"


def _references_max_three(r: VeoRequest, o: dict[str, Any]) -> str | None:
    n = len(r.reference_images)
    return (
        None
        if n <= MAX_REFERENCE_IMAGES
        else (f"{n} reference images given; Veo 3.1 takes at most {MAX_REFERENCE_IMAGES}")
    )


def _references_asset_only(r: VeoRequest, o: dict[str, Any]) -> str | None:
    bad = sorted({x.reference_type for x in r.reference_images} - {"ASSET"})
    return (
        None
        if not bad
        else (
            f"reference type {bad} not allowed: Veo 3.1 accepts only ASSET references "
            "(STYLE is a Veo 2 / Vertex-only option)"
        )
    )


def _references_need_veo31(r: VeoRequest, o: dict[str, Any]) -> str | None:
    if r.reference_images and not r.model.startswith("veo-3.1"):
        return f"model {r.model!r} does not take reference images; use a Veo 3.1 model such as {VEO_31_MODEL}"
    return None


def _prompt_with_references(r: VeoRequest, o: dict[str, Any]) -> str | None:
    if r.reference_images and not (r.prompt or "").strip():
        return "a text prompt is required when reference images are given"
    if not (r.prompt or "").strip() and not (r.first_frame or r.video_uri):
        return "a text prompt (or a first frame) is required"
    return None


def _references_exclusive_with_frames(r: VeoRequest, o: dict[str, Any]) -> str | None:
    used = [
        n
        for n, v in (("first frame (image)", r.first_frame), ("last_frame", r.last_frame), ("video", r.video_uri))
        if v
    ]
    if r.reference_images and used:
        return (
            f"reference images cannot be combined with {', '.join(used)}: Veo 3.1 rejects the 'first frame + "
            "references' hybrid. Use either up to 3 references or first/last-frame interpolation"
        )
    return None


def _last_frame_needs_first(r: VeoRequest, o: dict[str, Any]) -> str | None:
    return None if not r.last_frame or r.first_frame else "last_frame needs a first frame (image) to interpolate from"


def _duration_allowed(r: VeoRequest, o: dict[str, Any]) -> str | None:
    d = r.config.get("duration_seconds")
    return None if d in ALLOWED_DURATIONS else f"duration {d!r} s is not one of 4, 6, 8"


def _duration_8_with_references(r: VeoRequest, o: dict[str, Any]) -> str | None:
    d = r.config.get("duration_seconds")
    return None if not r.reference_images or d == 8 else f"duration must be 8 s with reference images (got {d} s)"


def _duration_8_high_resolution(r: VeoRequest, o: dict[str, Any]) -> str | None:
    d, res = r.config.get("duration_seconds"), r.config.get("resolution")
    return None if res not in HIGH_RESOLUTIONS or d == 8 else f"duration must be 8 s at {res} (got {d} s)"


def _number_of_videos(r: VeoRequest, o: dict[str, Any]) -> str | None:
    n, limit = r.config.get("number_of_videos", 1), MAX_VIDEOS_PER_REQUEST.get(r.mode, 1)
    if isinstance(n, int) and 1 <= n <= limit:
        return None
    return f"number_of_videos {n!r}: {r.mode} mode takes at most {limit} per request (send more requests for more)"


def _aspect_ratio(r: VeoRequest, o: dict[str, Any]) -> str | None:
    a = r.config.get("aspect_ratio")
    return None if a in ASPECT_RATIOS else f"aspect ratio {a!r} is not one of {', '.join(ASPECT_RATIOS)}"


def _resolution(r: VeoRequest, o: dict[str, Any]) -> str | None:
    res = r.config.get("resolution")
    if res not in RESOLUTIONS:
        return f"resolution {res!r} is not one of {', '.join(RESOLUTIONS)}"
    return None if res != "4k" or r.model.startswith("veo-3.1") else f"4k needs a Veo 3.1 model, not {r.model!r}"


def _vertex_only_fields(r: VeoRequest, o: dict[str, Any]) -> str | None:
    used = [f for f in VERTEX_ONLY_FIELDS if r.config.get(f) is not None]
    if r.mode == "gemini" and used:
        return f"{', '.join(used)} exist only on Vertex AI; the Gemini API refuses them: remove them or use Vertex"
    return None


def _known_config_fields(r: VeoRequest, o: dict[str, Any]) -> str | None:
    unknown = sorted(set(r.config) - set(CONFIG_FIELDS))
    return None if not unknown else f"unknown config fields {unknown}"


def _person_generation(r: VeoRequest, o: dict[str, Any]) -> str | None:
    value = r.config.get("person_generation")
    allowed = PERSON_GENERATION.get(r.mode, ())
    if value not in allowed:
        return f"person_generation {value!r} is not valid in {r.mode} mode (one of {', '.join(allowed)})"
    if r.image_inputs and value != "allow_adult":
        return f"person_generation must be 'allow_adult' when images go in (references or frames), got {value!r}"
    if r.mode == "gemini" and not r.image_inputs and value != "allow_all":
        return f"text-to-video on the Gemini API takes person_generation 'allow_all', got {value!r}"
    return None


def _reference_size(r: VeoRequest, o: dict[str, Any]) -> str | None:
    limit = o.get("max_side", MAX_REFERENCE_SIDE)
    big = [f"{x.tag or x.source_path}: {x.size_wh[0]}x{x.size_wh[1]}" for x in r.image_inputs if max(x.size_wh) > limit]
    return None if not big else f"images larger than {limit} px on the long side (resize them first): {'; '.join(big)}"


def _image_source(r: VeoRequest, o: dict[str, Any]) -> str | None:
    bad = [str(x.tag or x.source_path) for x in r.image_inputs if (x.image_bytes is None) == (x.gcs_uri is None)]
    return None if not bad else f"each image needs exactly one of inline bytes or gcs_uri: {bad}"


def _inline_payload_budget(r: VeoRequest, o: dict[str, Any]) -> str | None:
    budget = o.get("max_inline_bytes", DEFAULT_INLINE_BUDGET_BYTES)
    encoded = sum(4 * -(-len(x.image_bytes) // 3) for x in r.image_inputs if x.image_bytes)
    if encoded > budget:
        return (
            f"inline images are {encoded / 2**20:.1f} MiB base64, over the {budget / 2**20:.1f} MiB budget: "
            "upload them to Cloud Storage and pass gcs_uri references, or use smaller images"
        )
    return None


def _sdk_types(r: VeoRequest, o: dict[str, Any]) -> str | None:
    from pydantic import ValidationError

    try:
        to_sdk(r)
    except ValidationError as error:
        return f"google-genai types refuse the request: {error.errors()[0]['loc']}: {error.errors()[0]['msg']}"
    return None


CHECKS: dict[str, Check] = {
    "mode_known": _mode_known,
    "references_max_three": _references_max_three,
    "references_asset_only": _references_asset_only,
    "references_need_veo_3_1": _references_need_veo31,
    "prompt_required": _prompt_with_references,
    "references_exclusive_with_frames": _references_exclusive_with_frames,
    "last_frame_needs_first_frame": _last_frame_needs_first,
    "duration_allowed": _duration_allowed,
    "duration_8_with_references": _duration_8_with_references,
    "duration_8_at_high_resolution": _duration_8_high_resolution,
    "number_of_videos_for_mode": _number_of_videos,
    "aspect_ratio_supported": _aspect_ratio,
    "resolution_supported": _resolution,
    "config_fields_known": _known_config_fields,
    "vertex_only_fields": _vertex_only_fields,
    "person_generation_for_mode": _person_generation,
    "reference_image_size": _reference_size,
    "image_source": _image_source,
    "inline_payload_budget": _inline_payload_budget,
    "sdk_types": _sdk_types,
}


def validate_veo_request(
    request: VeoRequest, *, max_side: int = MAX_REFERENCE_SIDE, max_inline_bytes: int = DEFAULT_INLINE_BUDGET_BYTES
) -> list[CheckResult]:
    """Run every named check; a passed check's message says what it verified."""
    options = {"max_side": max_side, "max_inline_bytes": max_inline_bytes}
    results = []
    for name, check in CHECKS.items():
        problem = check(request, options)
        results.append(CheckResult(name, problem is None, problem or "ok"))
    return results


def ensure_valid(request: VeoRequest, **options: int) -> list[CheckResult]:
    """``validate_veo_request`` that raises ``RequestValidationError`` listing every failed check."""
    results = validate_veo_request(request, **options)
    failures = [c for c in results if not c.ok]
    if failures:
        raise RequestValidationError(request.scene_id, failures)
    return results


def _sdk_image(image: RequestImage) -> Any:
    from google.genai import types

    return types.Image(image_bytes=image.image_bytes, gcs_uri=image.gcs_uri, mime_type=image.mime_type)


def to_sdk(request: VeoRequest) -> tuple[Any, Any]:
    """The request as google-genai ``types.GenerateVideosSource`` and ``types.GenerateVideosConfig``."""
    from google.genai import types

    config = {k: v for k, v in request.config.items() if v is not None}
    if "person_generation" in config:
        config["person_generation"] = str(config["person_generation"])
    if request.last_frame:
        config["last_frame"] = _sdk_image(request.last_frame)
    if request.reference_images:
        config["reference_images"] = [
            types.VideoGenerationReferenceImage(image=_sdk_image(x), reference_type=x.reference_type)
            for x in request.reference_images
        ]
    source = types.GenerateVideosSource(
        prompt=request.prompt,
        image=_sdk_image(request.first_frame) if request.first_frame else None,
        video=types.Video(uri=request.video_uri) if request.video_uri else None,
    )
    return source, types.GenerateVideosConfig(**config)

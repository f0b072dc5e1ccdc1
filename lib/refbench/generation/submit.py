"""Submitting a validated Veo request with the real google-genai SDK and polling it to the end.

google-genai 3.4 sends ``generate_videos`` only in Vertex mode (``POST .../{model}:predictLongRunning``,
then ``POST .../{model}:fetchPredictOperation``). The client comes from ``refbench.google_api.make_client``
(bounded requests, no request to another origin) and every call — the submit and each poll — goes through
the shared retry policy; whatever still fails is a ``GenerationError`` whose text never holds the key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refbench.errors import GenerationError, OptionError, RemoteCallFailed
from refbench.generation.veo import VeoRequest, ensure_valid, to_sdk
from refbench.google_api import GoogleApiSettings, RefusedRedirect, ResponseTooLarge, RetryPolicy, error_text

log = logging.getLogger(__name__)


@dataclass
class SubmitResult:
    """What a submitted request produced."""

    operation_name: str
    outputs: list[Path] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    polls: int = 0


def _api_call(policy: RetryPolicy, function: Any, *, what: str) -> Any:
    """One SDK call under the retry policy; every failure becomes a ``GenerationError`` saying what failed."""
    from google.genai import errors

    try:
        return policy.call(function)
    except RemoteCallFailed as error:
        raise GenerationError(f"{what}: {error}") from error
    except errors.APIError as error:
        raise GenerationError(f"{what}: API error {error_text(error)}") from error
    except (RefusedRedirect, ResponseTooLarge) as error:
        raise GenerationError(f"{what}: {error_text(error)}") from error


def submit_veo(
    client: Any,
    request: VeoRequest,
    *,
    out_dir: Path,
    poll_interval_s: float = 10.0,
    max_polls: int = 60,
    policy: RetryPolicy | None = None,
) -> SubmitResult:
    """Validate, submit, poll (at most ``max_polls`` times) and write each returned video as a new file.

    Raises:
        RequestValidationError: a pre-flight check failed (nothing was sent).
        GenerationError: the service refused it, the connection failed on every attempt, the operation
            reported an error, or polling ran out.
    """
    policy = policy or GoogleApiSettings().policy()
    ensure_valid(request)
    if not client.vertexai:
        raise OptionError(
            "google-genai sends generate_videos only in Vertex mode: build the request with "
            "mode='vertex' and use a Vertex client"
        )
    source, config = to_sdk(request)
    operation = _api_call(
        policy,
        lambda: client.models.generate_videos(model=request.model, source=source, config=config),
        what=f"submitting scene {request.scene_id}",
    )
    result = SubmitResult(operation_name=operation.name or "")
    while not operation.done:
        if result.polls >= max_polls:
            raise GenerationError(f"operation {operation.name} not done after {max_polls} polls")
        time.sleep(poll_interval_s)
        operation = _api_call(
            policy, lambda op=operation: client.operations.get(op), what=f"polling operation {operation.name}"
        )
        result.polls += 1
    if operation.error:
        raise GenerationError(f"operation {operation.name} failed: {operation.error}")
    videos = operation.result.generated_videos if operation.result else None
    if not videos:
        raise GenerationError(
            f"operation {operation.name} finished without videos (filtered: "
            f"{getattr(operation.result, 'rai_media_filtered_reasons', None)})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{request.scene_id}-{result.operation_name.rsplit('/', 1)[-1]}"
    for index, generated in enumerate(videos):
        video = generated.video
        if video is not None and video.video_bytes:
            path = _new_file(out_dir / f"{stem}-{index}.mp4")
            path.write_bytes(video.video_bytes)
            result.outputs.append(path)
        elif video is not None and video.uri:
            result.uris.append(video.uri)
    return result


def _new_file(path: Path) -> Path:
    """``path`` or a numbered sibling that does not exist yet (outputs never overwrite)."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return candidate

"""Submitting a validated Veo request with the real google-genai SDK and polling it to the end.

google-genai 3.4 sends ``generate_videos`` only in Vertex mode (``POST .../{model}:predictLongRunning``,
then ``POST .../{model}:fetchPredictOperation``); the API key comes from the environment, never from
settings, and never reaches logs or the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refbench.credentials import resolve_api_key
from refbench.errors import GenerationError, OptionError
from refbench.generation.veo import VeoRequest, ensure_valid, to_sdk

log = logging.getLogger(__name__)


@dataclass
class SubmitResult:
    """What a submitted request produced."""

    operation_name: str
    outputs: list[Path] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    polls: int = 0


def make_client(*, mode: str, api_key: str | None = None, base_url: str | None = None) -> Any:
    """A google-genai client for ``mode`` ('gemini' or 'vertex'); key from the environment when not given."""
    from google import genai
    from google.genai import types

    key = api_key or resolve_api_key()
    options = types.HttpOptions(base_url=base_url) if base_url else None
    return genai.Client(api_key=key, vertexai=mode == "vertex", http_options=options)


def _retrying(call: Any, *, retries: int, backoff_s: float) -> Any:
    """Run ``call`` retrying transient API errors (429, 5xx) with exponential backoff."""
    from google.genai import errors

    for attempt in range(retries + 1):
        try:
            return call()
        except errors.APIError as error:
            transient = error.code == 429 or (error.code or 0) >= 500
            if not transient or attempt == retries:
                raise GenerationError(f"API error {error.code}: {error.message}") from error
            log.warning("transient API error %s, retry %d/%d", error.code, attempt + 1, retries)
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def submit_veo(
    client: Any,
    request: VeoRequest,
    *,
    out_dir: Path,
    poll_interval_s: float = 10.0,
    max_polls: int = 60,
    retries: int = 3,
    backoff_s: float = 2.0,
) -> SubmitResult:
    """Validate, submit, poll (at most ``max_polls`` times) and write each returned video as a new file.

    Raises:
        RequestValidationError: a pre-flight check failed (nothing was sent).
        GenerationError: the service refused it, the operation reported an error, or polling ran out.
    """
    ensure_valid(request)
    if not client.vertexai:
        raise OptionError(
            "google-genai sends generate_videos only in Vertex mode: build the request with "
            "mode='vertex' and use a Vertex client"
        )
    source, config = to_sdk(request)
    operation = _retrying(
        lambda: client.models.generate_videos(model=request.model, source=source, config=config),
        retries=retries,
        backoff_s=backoff_s,
    )
    result = SubmitResult(operation_name=operation.name or "")
    while not operation.done:
        if result.polls >= max_polls:
            raise GenerationError(f"operation {operation.name} not done after {max_polls} polls")
        time.sleep(poll_interval_s)
        operation = _retrying(lambda op=operation: client.operations.get(op), retries=retries, backoff_s=backoff_s)
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

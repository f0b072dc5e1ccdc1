"""The Gemini describer: google-genai ``generate_content`` with the crop as an image part.

Per asset type a response schema and instruction (``refbench.describe.prompts``); low temperature;
the JSON is parsed and validated with the schema's pydantic model. Failures never raise out of
``describe``: they come back as a ``Description`` with status ``blocked``, ``malformed`` or ``error``.

Retry policy (ours; the SDK's own retries stay off so attempts are counted once): HTTP 408, 429,
500, 502, 503, 504 (statuses UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL, DEADLINE_EXCEEDED) and
transport errors are retried with exponential backoff and jitter — delay drawn uniformly from
[d/2, d], d = min(max_backoff_s, initial_backoff_s * 2**(n-1)), raised to the server's RetryInfo
``retryDelay`` when it sends one — until ``max_attempts`` or until the next try would start after
``deadline_s`` (per asset, retries included). A malformed answer is retried once. Other 4xx are
not retried.

The API key comes from ``refbench.credentials``; it lives only inside the SDK client and is never logged or
stored.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any

import httpx
from google import genai
from google.genai import errors, types
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from refbench.describe import Description
from refbench.describe.prompts import PROMPT_VERSION, SYSTEM_INSTRUCTION, prompt_for, user_text
from refbench.errors import ApiKeyRejected, OptionError
from refbench.types import Asset

log = logging.getLogger(__name__)


# USD per 1M tokens (input, output; thinking tokens bill as output), paid tier, prompts <= 200k tokens.
# Source: https://ai.google.dev/gemini-api/docs/pricing as published mid-2025 (2.5 Flash $0.30/$2.50 since
# its GA on 2025-06-17). Prices change: override with REFBENCH_GEMINI_PRICE_IN_PER_MTOK / _OUT_PER_MTOK.
PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
}
RETRYABLE_CODES = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_STATUSES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "DEADLINE_EXCEEDED"})
BLOCKING_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
)
try:  # google-genai sends through httpx2 when it is installed, else httpx: both raise their own errors
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:
    TRANSPORT_ERRORS = (httpx.TransportError,)
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class GeminiSettings(BaseSettings):
    """How the Gemini describer calls the API; every field also reads ``REFBENCH_GEMINI_<FIELD>``.

    The API key is deliberately not a field: it never enters settings objects, reprs or run parameters.
    """

    model_config = SettingsConfigDict(env_prefix="REFBENCH_GEMINI_", extra="forbid")

    model: str = "gemini-2.5-flash"
    base_url: str | None = None  # e.g. http://127.0.0.1:8765 for `refbench fake-gemini`
    temperature: float = 0.2
    thinking_budget: int | None = 0  # for gemini-2.5-flash*: 0 turns thinking off; other models keep their default
    concurrency: int = 4  # requests in flight at once
    deadline_s: float = 120.0  # per asset, all attempts and waits included
    request_timeout_s: float = 60.0
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_attempts: int = 8
    price_in_per_mtok: float | None = None  # None: PRICES_USD_PER_MTOK[model]
    price_out_per_mtok: float | None = None


def estimate_cost(
    model: str,
    tokens_in: int,
    tokens_out: int,
    *,
    price_in_per_mtok: float | None = None,
    price_out_per_mtok: float | None = None,
) -> float | None:
    """Estimated USD of a call from its token counts; ``None`` when the model's price is unknown."""
    known = PRICES_USD_PER_MTOK.get(model.removeprefix("models/"))
    price_in = price_in_per_mtok if price_in_per_mtok is not None else known[0] if known else None
    price_out = price_out_per_mtok if price_out_per_mtok is not None else known[1] if known else None
    if price_in is None or price_out is None:
        return None
    return (tokens_in * price_in + tokens_out * price_out) / 1e6


def backoff_delay(attempt: int, *, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): uniform in [d/2, d], d exponential, capped."""
    ceiling = min(max_s, initial_s * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


def server_retry_delay(error: errors.APIError) -> float:
    """The ``RetryInfo.retryDelay`` (seconds) an API error carries, else 0."""
    details = error.details.get("error", {}).get("details", []) if isinstance(error.details, dict) else []
    for detail in details:
        found = re.fullmatch(r"([0-9.]+)s", str(detail.get("retryDelay", "")))
        if found:
            return float(found.group(1))
    return 0.0


def is_retryable(error: Exception) -> bool:
    """Whether an exception from ``generate_content`` is worth another attempt."""
    if isinstance(error, errors.APIError):
        return error.code in RETRYABLE_CODES or error.status in RETRYABLE_STATUSES
    return isinstance(error, TRANSPORT_ERRORS)


def is_key_rejected(error: Exception) -> bool:
    """Whether the API refused the key (invalid, expired, or without access), not this one request."""
    if not isinstance(error, errors.APIError):
        return False
    return error.code in (401, 403) or (error.code == 400 and "api key" in (error.message or "").lower())


def block_reason(response: types.GenerateContentResponse) -> str | None:
    """Why a response was blocked for safety (prompt feedback or finish reason), else ``None``."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return f"prompt blocked: {feedback.block_reason.value}" + _ratings(feedback.safety_ratings)
    if not response.candidates:
        return None
    candidate = response.candidates[0]
    reason = candidate.finish_reason.value if candidate.finish_reason is not None else None
    if reason in BLOCKING_FINISH_REASONS:
        return f"response stopped: {reason}" + _ratings(candidate.safety_ratings)
    return None


def _ratings(ratings: list[types.SafetyRating] | None) -> str:
    flagged = [
        f"{r.category.value}={r.probability.value}"
        for r in ratings or []
        if r.blocked or (r.probability is not None and r.probability.value in ("MEDIUM", "HIGH"))
    ]
    return f" ({', '.join(flagged)})" if flagged else ""


class GeminiDescriber:
    """Describes assets with a Gemini model.

    Args:
        settings: Model, endpoint, retry bounds, concurrency and prices.
        api_key: Held only inside the SDK client.
        seed: Seeds the backoff jitter (tests); ``None`` draws from the OS.
    """

    backend = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: GeminiSettings, *, api_key: str, seed: int | None = None) -> None:
        if settings.concurrency < 1 or settings.deadline_s <= 0 or settings.max_attempts < 1:
            raise OptionError(
                f"gemini settings need concurrency >= 1, deadline_s > 0 and max_attempts >= 1, got "
                f"{settings.concurrency}, {settings.deadline_s}, {settings.max_attempts}"
            )
        self.settings, self.model, self.concurrency = settings, settings.model, settings.concurrency
        options = types.HttpOptions(base_url=settings.base_url, timeout=int(settings.request_timeout_s * 1000))
        self._client = genai.Client(api_key=api_key, http_options=options)
        self._rng, self._rng_lock = random.Random(seed), threading.Lock()

    def __repr__(self) -> str:
        return f"GeminiDescriber(model={self.model!r}, base_url={self.settings.base_url!r})"

    def describe(self, asset: Asset) -> Description:
        """Describe one asset, retrying transient errors within the deadline.

        API failures become the result's status, except a refused key (``ApiKeyRejected``): that one
        would fail every asset alike, so it stops the run.
        """
        start, call = time.monotonic(), _Call()
        try:
            image = types.Part.from_bytes(
                data=asset.crop_path.read_bytes(),
                mime_type=MIME_TYPES.get(asset.crop_path.suffix.lower(), "image/jpeg"),
            )
        except OSError as error:
            return self._result(call, start, "error", reason=f"crop unreadable: {asset.crop_path}: {error}")
        contents = [image, user_text(asset.asset_type, label=asset.label)]
        malformed_retries = 1
        while True:
            call.attempts += 1
            remaining = self.settings.deadline_s - (time.monotonic() - start)
            try:
                response = self._client.models.generate_content(
                    model=self.model, contents=contents, config=self._config(asset.asset_type, remaining)
                )
            except (errors.APIError, *TRANSPORT_ERRORS) as error:
                reason = _error_text(error)
                if is_key_rejected(error):
                    message = f"Gemini refused the API key ({reason}); no further assets were sent"
                    raise ApiKeyRejected(message) from error
                if not is_retryable(error):
                    return self._result(call, start, "error", reason=reason)
                delay = self._delay(call.attempts, error)
                if (
                    call.attempts >= self.settings.max_attempts
                    or time.monotonic() - start + delay >= self.settings.deadline_s
                ):
                    return self._result(
                        call,
                        start,
                        "error",
                        reason=(
                            f"gave up after {call.attempts} attempts in {time.monotonic() - start:.1f} s "
                            f"(deadline {self.settings.deadline_s:g} s): {reason}"
                        ),
                    )
                log.info("describe %s: %s; retry %d in %.2f s", asset.tag, reason, call.attempts, delay)
                time.sleep(delay)
                continue
            call.add_usage(response.usage_metadata)
            if (blocked := block_reason(response)) is not None:
                return self._result(call, start, "blocked", reason=blocked)
            try:
                parsed = prompt_for(asset.asset_type).schema.model_validate_json(response.text or "")
            except ValidationError as error:
                reason = f"malformed JSON: {error.errors()[0]['msg']} ({len(response.text or '')} chars)"
                if malformed_retries and time.monotonic() - start < self.settings.deadline_s:
                    malformed_retries -= 1
                    log.info("describe %s: %s; asking once more", asset.tag, reason)
                    continue
                return self._result(call, start, "malformed", reason=reason)
            values = parsed.model_dump()
            return self._result(
                call,
                start,
                "ok",
                reverse_prompt=values.pop("reverse_prompt"),
                visual_description=values.pop("visual_description"),
                suggested_name=values.pop("suggested_name"),
                suitability=float(values.pop("suitability")),
                details=values,
            )

    def _config(self, asset_type: str, remaining_s: float) -> types.GenerateContentConfig:
        timeout_ms = int(max(1.0, min(self.settings.request_timeout_s, remaining_s)) * 1000)
        thinking = (
            types.ThinkingConfig(thinking_budget=self.settings.thinking_budget)
            if self.settings.thinking_budget is not None and self.model.startswith("gemini-2.5-flash")
            else None
        )  # Pro models refuse a zero budget
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION,
            temperature=self.settings.temperature,
            response_mime_type="application/json",
            response_schema=prompt_for(asset_type).schema,
            thinking_config=thinking,
            http_options=types.HttpOptions(timeout=timeout_ms),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    def _delay(self, attempt: int, error: Exception) -> float:
        with self._rng_lock:
            delay = backoff_delay(
                attempt, initial_s=self.settings.initial_backoff_s, max_s=self.settings.max_backoff_s, rng=self._rng
            )
        hinted = server_retry_delay(error) if isinstance(error, errors.APIError) else 0.0
        return max(delay, min(hinted, self.settings.max_backoff_s))

    def _result(self, call: _Call, start: float, status: str, **fields: Any) -> Description:
        cost = estimate_cost(
            self.model,
            call.tokens_in,
            call.tokens_out,
            price_in_per_mtok=self.settings.price_in_per_mtok,
            price_out_per_mtok=self.settings.price_out_per_mtok,
        )
        return Description(
            status,
            self.backend,
            self.model,
            self.prompt_version,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost,
            attempts=call.attempts,
            seconds=time.monotonic() - start,
            **fields,
        )


class _Call:
    """Token usage summed over the attempts of one describe call."""

    def __init__(self) -> None:
        self.attempts = self.tokens_in = self.tokens_out = 0

    def add_usage(self, usage: types.GenerateContentResponseUsageMetadata | None) -> None:
        if usage is None:
            return
        self.tokens_in += usage.prompt_token_count or 0
        self.tokens_out += (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)


def _error_text(error: Exception) -> str:
    """A short, key-free line for an API or transport error."""
    if isinstance(error, errors.APIError):
        return f"{error.code} {error.status}: {error.message}"
    return f"{type(error).__name__}: {error}"

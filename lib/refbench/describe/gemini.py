"""The Gemini describer: google-genai ``generate_content`` with the crop as an image part.

Per asset type a response schema and instruction (``refbench.describe.prompts``); low temperature;
the JSON is parsed and validated with the schema's pydantic model. Failures never raise out of
``describe``: they come back as a ``Description`` with status ``blocked``, ``malformed`` or ``error``.

Calls go through ``refbench.google_api``: the bounded client (wall-clock time and size per request, no
request to another origin) and the shared retry policy (429/5xx/timeouts, RetryInfo, at most
``max_attempts`` within ``deadline_s`` per asset). A malformed answer — JSON the schema refuses, or an HTTP
body that is not JSON at all — is asked for once more within the same deadline, then recorded. Other 4xx are
not retried. A refused key stops the run (``ApiKeyRejected``).

The API key comes from ``refbench.credentials``; it lives only inside the SDK client and is never logged or
stored (every stored reason passes through ``redact``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

from google.genai import errors, types
from pydantic import Field, ValidationError

from refbench.describe import Description
from refbench.describe.prompts import PROMPT_VERSION, SYSTEM_INSTRUCTION, prompt_for, user_text
from refbench.errors import ApiKeyRejected, RemoteCallFailed
from refbench.generation.costs import token_prices
from refbench.google_api import GoogleApiSettings, error_text, is_key_rejected, make_client
from refbench.types import Asset

log = logging.getLogger(__name__)


# USD per 1M tokens (input, output) from the one dated price table, with its sources (refbench.generation.costs).
# Prices change: override with REFBENCH_PRICES_FILE or REFBENCH_GEMINI_PRICE_IN_PER_MTOK / _OUT_PER_MTOK.
PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = token_prices()
BLOCKING_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
)
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class GeminiSettings(GoogleApiSettings):
    """How the Gemini describer calls the API: the shared endpoint, bounds and retries
    (``GoogleApiSettings``) plus the model and its prompts; every field also reads ``REFBENCH_GEMINI_<FIELD>``."""

    model: str = "gemini-2.5-flash"
    temperature: float = 0.2
    thinking_budget: int | None = 0  # for gemini-2.5-flash*: 0 turns thinking off; other models keep their default
    concurrency: int = Field(default=4, ge=1, le=64)  # requests in flight at once
    run_budget_s: float = Field(default=3600.0, gt=0)  # a describe run starts no new asset after this
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
        settings: Model, endpoint, bounds, retries, concurrency and prices.
        api_key: Held only inside the SDK client.
        seed: Seeds the backoff jitter (tests); ``None`` draws from the OS.
    """

    backend = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: GeminiSettings, *, api_key: str, seed: int | None = None) -> None:
        self.settings, self.model, self.concurrency = settings, settings.model, settings.concurrency
        self.run_budget_s = settings.run_budget_s
        self._client = make_client(mode="gemini", settings=settings, api_key=api_key)
        self._policy = settings.policy(seed=seed)

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
        for asks_left in (1, 0):  # a malformed answer is asked for once more
            remaining = self.settings.deadline_s - (time.monotonic() - start)
            try:
                response = replace(self._policy, deadline_s=max(remaining, 0.001)).call(
                    lambda: self._generate(contents, asset, call),
                    on_retry=lambda n, e, wait: log.info(
                        "describe %s: %s; retry %d in %.2f s", asset.tag, error_text(e), n, wait
                    ),
                )
            except RemoteCallFailed as error:
                return self._result(call, start, "error", reason=str(error))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:  # an HTTP body that is not JSON at all
                reason = f"malformed answer: the API sent something that is not JSON ({type(error).__name__})"
                if asks_left:
                    continue
                return self._result(call, start, "malformed", reason=reason)
            except errors.APIError as error:
                if is_key_rejected(error):
                    message = f"Gemini refused the API key ({error_text(error)}); no further assets were sent"
                    raise ApiKeyRejected(message) from error
                return self._result(call, start, "error", reason=error_text(error))
            call.add_usage(response.usage_metadata)
            if (blocked := block_reason(response)) is not None:
                return self._result(call, start, "blocked", reason=blocked)
            try:
                parsed = prompt_for(asset.asset_type).schema.model_validate_json(response.text or "")
            except ValidationError as error:
                reason = f"malformed JSON: {error.errors()[0]['msg']} ({len(response.text or '')} chars)"
                if asks_left and time.monotonic() - start < self.settings.deadline_s:
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
        return self._result(call, start, "malformed", reason=reason)

    def _generate(self, contents: list[Any], asset: Asset, call: _Call) -> types.GenerateContentResponse:
        call.attempts += 1
        return self._client.models.generate_content(
            model=self.model, contents=contents, config=self._config(asset.asset_type)
        )

    def _config(self, asset_type: str) -> types.GenerateContentConfig:
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
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

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

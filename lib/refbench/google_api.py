"""Every call refbench makes to Google's APIs goes through here: one client, one retry policy, hard bounds.

- The client (``make_client``) is the real google-genai SDK with an HTTP transport of ours that bounds each
  request in wall-clock time (a server trickling one byte every half second cannot hold a run) and in
  response size, and that refuses to send anything to another origin than the configured endpoint (a
  redirect elsewhere would carry the ``x-goog-api-key`` header with it).
- The retry policy (``RetryPolicy.call``, tenacity underneath) retries HTTP 408/429/5xx, timeouts and broken
  connections with exponential backoff and jitter, waits at least what the server's ``RetryInfo`` asks,
  and stops after ``max_attempts`` or before an attempt would start past ``deadline_s``.

Configuration, the same names for describe, image generation and Veo: ``REFBENCH_GEMINI_BASE_URL``,
``_REQUEST_TIMEOUT_S``, ``_DEADLINE_S``, ``_MAX_ATTEMPTS``, ``_INITIAL_BACKOFF_S``, ``_MAX_BACKOFF_S``,
``_MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from refbench.credentials import check_key_form, redact, remember, resolve_api_key
from refbench.errors import OptionError, RemoteCallFailed

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BASE_URLS = {
    "gemini": "https://generativelanguage.googleapis.com",
    "vertex": "https://aiplatform.googleapis.com",
}
RETRYABLE_CODES = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_STATUSES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "DEADLINE_EXCEEDED"})
_call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("refbench_call_deadline", default=None)


class GoogleApiSettings(BaseSettings):
    """Endpoint, bounds and retries of every Google call; each field also reads ``REFBENCH_GEMINI_<FIELD>``.

    The API key is deliberately not a field: it never enters settings objects, reprs or run parameters.
    """

    model_config = SettingsConfigDict(env_prefix="REFBENCH_GEMINI_", extra="forbid")

    base_url: str | None = None  # e.g. http://127.0.0.1:8765 for `refbench fake-gemini`; None: Google's
    request_timeout_s: float = Field(default=60.0, gt=0)  # wall clock, one HTTP request, body included
    deadline_s: float = Field(default=120.0, gt=0)  # wall clock, one call with all its retries and waits
    max_attempts: int = Field(default=5, ge=1, le=20)
    initial_backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, gt=0)  # an 8 s 1080p Veo clip is ~20 MB as base64

    def policy(self, *, seed: int | None = None) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            deadline_s=self.deadline_s,
            request_timeout_s=self.request_timeout_s,
            initial_backoff_s=self.initial_backoff_s,
            max_backoff_s=self.max_backoff_s,
            seed=seed,
        )


# --- the HTTP transport ------------------------------------------------------------------------------------


def _httpx() -> Any:
    """The httpx flavour google-genai uses (httpx2 when installed): the client must be of its kind."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


class RefusedRedirect(RuntimeError):
    """A request to another origin than the configured endpoint (a cross-origin redirect) was not sent."""


class ResponseTooLarge(RuntimeError):
    """A response body grew past ``max_response_bytes``."""


class CallTimedOut(TimeoutError):
    """A request took longer than its wall-clock budget (headers and body together)."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, default ports made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def make_transport(*, allowed_origin: str, request_timeout_s: float, max_response_bytes: int) -> Any:
    """An HTTP transport that sends only to ``allowed_origin`` and bounds each response in time and size."""
    httpx = _httpx()
    allowed = origin(allowed_origin)

    class BoundedStream(httpx.SyncByteStream):
        def __init__(self, inner: Any, *, deadline: float) -> None:
            self.inner, self.deadline, self.read = inner, deadline, 0

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.inner:
                self.read += len(chunk)
                if self.read > max_response_bytes:
                    raise ResponseTooLarge(f"response body over {max_response_bytes} bytes: stopped reading")
                if time.monotonic() > self.deadline:
                    raise CallTimedOut(f"response not complete within {request_timeout_s:g} s (wall clock)")
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class BoundedTransport(httpx.HTTPTransport):
        def handle_request(self, request: Any) -> Any:
            if (target := origin(str(request.url))) != allowed:
                raise RefusedRedirect(
                    f"refused to send a request to {target[0]}://{target[1]}:{target[2]}: only {allowed_origin} is "
                    "allowed (a redirect there would carry the API key)"
                )
            budget = min(request_timeout_s, _remaining_call_time())
            if budget <= 0:
                raise CallTimedOut("no time left for another request within the call's deadline")
            deadline = time.monotonic() + budget
            request.extensions["timeout"] = {k: budget for k in ("connect", "read", "write", "pool")}
            response = super().handle_request(request)
            return httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=BoundedStream(response.stream, deadline=deadline),
                extensions=response.extensions,
            )

    return BoundedTransport()


def _remaining_call_time() -> float:
    deadline = _call_deadline.get()
    return float("inf") if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[None]:
    """Requests made inside (in this thread) finish within ``seconds`` of wall clock, all together."""
    token = _call_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _call_deadline.reset(token)


def make_client(*, mode: str = "gemini", settings: GoogleApiSettings | None = None, api_key: str | None = None) -> Any:
    """A google-genai client for ``mode`` (``gemini`` or ``vertex``) with the bounded transport.

    The key comes from ``refbench.credentials`` unless given (and is checked for form either way); the
    endpoint from ``REFBENCH_GEMINI_BASE_URL`` unless the settings say otherwise.
    """
    from google import genai
    from google.genai import types

    if mode not in DEFAULT_BASE_URLS:
        raise OptionError(f"API mode {mode!r} is not one of {', '.join(DEFAULT_BASE_URLS)}")
    settings = settings or GoogleApiSettings()
    key = remember(check_key_form(api_key)) if api_key is not None else resolve_api_key()
    base_url = settings.base_url or DEFAULT_BASE_URLS[mode]
    transport = make_transport(
        allowed_origin=base_url,
        request_timeout_s=settings.request_timeout_s,
        max_response_bytes=settings.max_response_bytes,
    )
    http_client = _httpx().Client(transport=transport, follow_redirects=True, timeout=settings.request_timeout_s)
    options = types.HttpOptions(
        base_url=settings.base_url,
        timeout=int(settings.request_timeout_s * 1000),
        httpx_client=http_client,
    )
    return genai.Client(api_key=key, vertexai=mode == "vertex", http_options=options)


# --- the retry policy --------------------------------------------------------------------------------------


def transport_errors() -> tuple[type[BaseException], ...]:
    """Errors of a request that broke on the way (reset, timeout, refused connection): worth another attempt."""
    import httpx

    errors: list[type[BaseException]] = [httpx.TransportError, CallTimedOut]
    with contextlib.suppress(ImportError):
        import httpx2

        errors.append(httpx2.TransportError)
    return tuple(errors)


def is_retryable(error: BaseException) -> bool:
    """Whether a failed call is worth another attempt (429, 5xx, timeouts, broken connections)."""
    from google.genai import errors

    if isinstance(error, errors.APIError):
        return error.code in RETRYABLE_CODES or error.status in RETRYABLE_STATUSES
    return isinstance(error, transport_errors())


def is_key_rejected(error: BaseException) -> bool:
    """Whether the API refused the key (invalid, expired, or without access), not this one request."""
    from google.genai import errors

    if not isinstance(error, errors.APIError):
        return False
    return error.code in (401, 403) or (error.code == 400 and "api key" in (error.message or "").lower())


def server_retry_delay(error: BaseException) -> float:
    """The ``RetryInfo.retryDelay`` (seconds) an API error carries, else 0."""
    details = getattr(error, "details", None)
    entries = details.get("error", {}).get("details", []) if isinstance(details, dict) else []
    for detail in entries:
        found = re.fullmatch(r"([0-9.]+)s", str(detail.get("retryDelay", "")))
        if found:
            return float(found.group(1))
    return 0.0


def error_text(error: BaseException) -> str:
    """A short line for an API or transport error, with any API key redacted."""
    from google.genai import errors

    if isinstance(error, errors.APIError):
        return redact(f"{error.code} {error.status}: {error.message}") or ""
    return redact(f"{type(error).__name__}: {error}") or ""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for one call: attempts, wall-clock deadline, backoff with jitter and RetryInfo."""

    max_attempts: int = 5
    deadline_s: float = 120.0
    request_timeout_s: float = 60.0
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    seed: int | None = None

    def delay(self, attempt: int, error: BaseException | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): uniform in [d/2, d], d = initial·2^(n-1)
        capped at ``max_backoff_s``, raised to the server's ``RetryInfo`` (itself capped)."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        hinted = min(server_retry_delay(error), self.max_backoff_s) if error is not None else 0.0
        return max(rng.uniform(ceiling / 2, ceiling), hinted)

    def call(
        self,
        function: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool] = is_retryable,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ) -> T:
        """``function()`` with retries; each attempt gets the time left before the deadline, all requests in it
        included.

        Raises:
            RemoteCallFailed: every attempt failed with a retryable error, or the deadline came first.
            Exception: the first error that is not retryable, as raised.
        """
        import tenacity

        rng = random.Random(self.seed)
        start = time.monotonic()

        def attempt() -> T:
            with call_deadline(self.deadline_s - (time.monotonic() - start)):
                return function()

        def wait(state: tenacity.RetryCallState) -> float:
            return self.delay(state.attempt_number, state.outcome.exception(), rng)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None:
                on_retry(state.attempt_number, state.outcome.exception(), state.upcoming_sleep)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(self.deadline_s),
            wait=wait,
            retry=tenacity.retry_if_exception(retry_if),
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return retrying(attempt)
        except tenacity.RetryError as failed:
            last = failed.last_attempt
            error = last.exception()
            seconds = time.monotonic() - start
            raise RemoteCallFailed(
                f"gave up after {last.attempt_number} attempt(s) in {seconds:.1f} s "
                f"(deadline {self.deadline_s:.1f} s): {error_text(error)}",
                attempts=last.attempt_number,
                last=error,
            ) from error

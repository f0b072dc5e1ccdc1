"""Describing assets for re-prompting: reverse prompt, visual description, suitability, suggested name.

Two backends behind one tiny interface (CONVENTIONS.md 2): ``local`` builds a description from what
the workbench measured, offline and deterministic; ``gemini`` asks a Gemini model through the
google-genai SDK. ``describe_concurrently`` runs one over many assets; the describe pipeline
(``refbench.pipelines.describe``) reads them from the registry, applies the cache and records the results.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from refbench.errors import ApiKeyRejected, OptionError, UnknownBackendError
from refbench.types import Asset

log = logging.getLogger(__name__)

STATUSES = ("ok", "blocked", "malformed", "error")
CACHED_STATUSES = ("ok", "blocked")  # final answers; errors and malformed answers are tried again next run


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

    def describe(self, asset: Asset) -> Description:
        """Describe one asset; failures come back as a non-ok ``Description``, never as an exception."""
        ...


def _local(model: str | None) -> Describer:
    from refbench.describe.local import LocalDescriber

    if model is not None:
        raise OptionError(f"the local describer uses no model (got {model!r}); --model is for --backend gemini")
    return LocalDescriber()


def _gemini(model: str | None) -> Describer:
    from refbench.credentials import resolve_api_key
    from refbench.describe.gemini import GeminiDescriber, GeminiSettings

    settings = GeminiSettings(model=model) if model else GeminiSettings()
    return GeminiDescriber(settings, api_key=resolve_api_key())


DESCRIBERS: dict[str, Callable[[str | None], Describer]] = {"local": _local, "gemini": _gemini}


def create_describer(name: str, *, model: str | None = None) -> Describer:
    """The describer registered as ``name``; gemini settings come from ``REFBENCH_GEMINI_*``.

    Raises:
        UnknownBackendError: ``name`` is not registered.
        ApiKeyMissing: gemini without an API key in the environment or the secrets file.
        OptionError: a model for the local describer.
    """
    if name not in DESCRIBERS:
        raise UnknownBackendError("describer", name, list(DESCRIBERS))
    return DESCRIBERS[name](model)


def default_backend() -> str:
    """``gemini`` when an API key is available, else ``local``."""
    from refbench.credentials import find_api_key

    return "gemini" if find_api_key() else "local"


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes (what a description is cached by)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_key(content: str, *, backend: str, model: str, prompt_version: str) -> str:
    """The key a description is cached under: content hash + backend + model + prompt version."""
    return hashlib.sha256(f"{content}|{backend}|{model}|{prompt_version}".encode()).hexdigest()


def describe_concurrently(
    describer: Describer, assets: Sequence[Asset], *, progress: bool = False
) -> Iterator[tuple[Asset, Description]]:
    """Describe ``assets`` in ``describer.concurrency`` threads; yields (asset, result) as each finishes.

    A describer bug becomes an ``error`` result for that asset (the others go on); a refused key
    (``ApiKeyRejected``) lets the calls in flight finish, starts no more, and propagates. A describer with a
    ``run_budget_s`` starts no call after that many seconds: the assets left get an ``error`` saying so.
    """
    budget_end = time.monotonic() + getattr(describer, "run_budget_s", float("inf"))

    def within_budget(asset: Asset) -> Description:
        if time.monotonic() > budget_end:  # the run's time is spent: say so for this asset, start no call
            reason = "the describe run's time budget is spent: not described (run `refbench describe` again)"
            return Description(
                "error", describer.backend, describer.model, describer.prompt_version, reason=reason, attempts=0
            )
        return describer.describe(asset)

    with ThreadPoolExecutor(max_workers=max(1, describer.concurrency), thread_name_prefix="describe") as pool:
        futures = {pool.submit(within_budget, asset): asset for asset in assets}
        done = as_completed(futures)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc=f"describe ({describer.backend})", unit="asset")
        for future in done:
            asset = futures[future]
            try:
                description = future.result()
            except ApiKeyRejected:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            except Exception as error:  # noqa: BLE001 - a describer bug must not lose the other assets' results
                log.exception("describer %s failed on %s", describer.backend, asset.tag)
                description = Description(
                    "error",
                    describer.backend,
                    describer.model,
                    describer.prompt_version,
                    reason=f"{type(error).__name__}: {error}",
                )
            yield asset, description

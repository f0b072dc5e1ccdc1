"""Describe every active asset of a workspace with one describer, caching by crop content.

What ``refbench describe`` and the manifest flow's describe task run. A run always completes: a blocked,
malformed or failed description is recorded in ``description_calls`` with its reason and the asset stays
registered; the other assets go on. Results already paid for are written in batches as they arrive, so an
interrupted run keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from refbench.describe import Describer, Description, cache_key, content_sha256, describe_concurrently
from refbench.registry import Workspace
from refbench.registry.descriptions import CachedDescription, DescriptionCall
from refbench.settings import Settings
from refbench.types import Asset, Metric


@dataclass
class DescribeSummary:
    """What a describe run did."""

    run_id: str
    backend: str
    model: str
    prompt_version: str
    database: Path | None = None
    assets: int = 0
    cached: int = 0
    calls: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("ok", "blocked", "malformed", "error"), 0))
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    @property
    def described(self) -> int:
        """Assets that got a new description in this run."""
        return self.by_status["ok"]

    def as_dict(self) -> dict:
        """Plain values (for flow results)."""
        return {**asdict(self), "database": str(self.database) if self.database else None}

    def metrics(self) -> list[Metric]:
        """The run-level metrics of this summary."""
        return [
            Metric("describe_assets", self.assets, "assets"),
            Metric("describe_cached", self.cached, "assets"),
            Metric("describe_calls", self.calls, "calls"),
            *[Metric(f"describe_{status}", n, "assets") for status, n in self.by_status.items()],
            Metric("describe_tokens_in", self.tokens_in, "tokens"),
            Metric("describe_tokens_out", self.tokens_out, "tokens"),
            Metric("describe_cost", self.cost_usd, "USD"),
            Metric("describe_seconds", self.seconds, "s"),
        ]


def describe_assets(
    settings: Settings,
    describer: Describer,
    *,
    force: bool = False,
    progress: bool = False,
    tags: Sequence[str] = (),
) -> DescribeSummary:
    """Describe the active assets that have no cached description for this describer; write the registry.

    Args:
        settings: the workspace (it must exist).
        describer: any registered describer (``refbench.describe.create_describer``).
        force: describe every asset again, ignoring the cache.
        progress: show a progress bar.
        tags: describe only these assets (default: every active asset).

    Returns:
        Counts per status, cache hits, tokens and estimated cost of the run.
    """
    parameters = {
        "backend": describer.backend,
        "model": describer.model,
        "prompt_version": describer.prompt_version,
        "force": force,
        "concurrency": describer.concurrency,
        **({"tags": list(tags)} if tags else {}),
    }
    start = time.perf_counter()
    with Workspace.open(settings, create=False) as ws, ws.runs.track("describe", parameters) as run:
        summary = DescribeSummary(run.run_id, describer.backend, describer.model, describer.prompt_version, ws.path)
        recorder = _Recorder(ws, summary)
        try:
            registry = ws.assets.list()
            assets = [registry[t] for t in tags] if tags else list(registry)
            pending = _apply_cache(ws, assets, describer, recorder, force=force)
            contents = {asset.asset_id: content for asset, content in pending}
            for asset, description in describe_concurrently(describer, [a for a, _ in pending], progress=progress):
                recorder.call(asset, contents[asset.asset_id], description)
        finally:
            recorder.flush()  # results already paid for are kept, even when the run is interrupted
        summary.seconds = time.perf_counter() - start
        run.log_many(summary.metrics())
    return summary


def _apply_cache(
    ws: Workspace, assets: Sequence[Asset], describer: Describer, recorder: _Recorder, *, force: bool
) -> list[tuple[Asset, str]]:
    """Apply cache hits, record missing crops; return (asset, content hash) of the assets still to describe."""
    recorder.summary.assets = len(assets)
    cache = (
        {}
        if force
        else ws.descriptions.cached(
            backend=describer.backend, model=describer.model, prompt_version=describer.prompt_version
        )
    )
    pending = []
    for asset in assets:
        if not asset.crop_path.is_file():
            problem = Description(
                "error",
                describer.backend,
                describer.model,
                describer.prompt_version,
                reason=f"crop file missing: {asset.crop_path}",
                attempts=0,
            )
            recorder.call(asset, None, problem)
            continue
        content = content_sha256(asset.crop_path)
        key = cache_key(
            content, backend=describer.backend, model=describer.model, prompt_version=describer.prompt_version
        )
        if key in cache:
            recorder.cached(asset, cache[key])
        else:
            pending.append((asset, content))
    return pending


class _Recorder:
    """Buffers results and writes them in batched transactions (one commit per asset costs ~60 ms of fsync)."""

    def __init__(self, ws: Workspace, summary: DescribeSummary, *, batch: int = 16, max_wait_s: float = 5.0) -> None:
        self.ws, self.summary, self.batch, self.max_wait_s = ws, summary, batch, max_wait_s
        self.calls: list[DescriptionCall] = []
        self.hits: list[tuple[str, CachedDescription]] = []
        self.last_flush = time.monotonic()

    def cached(self, asset: Asset, cached: CachedDescription) -> None:
        """Apply a cache hit to its asset."""
        self.hits.append((asset.asset_id, cached))
        self.summary.cached += 1
        self._maybe_flush()

    def call(self, asset: Asset, content: str | None, result: Description) -> None:
        """Record one describer call (``content``: the crop's hash, ``None`` when it could not be read)."""
        key = (
            cache_key(content, backend=result.backend, model=result.model, prompt_version=result.prompt_version)
            if content
            else None
        )
        self.calls.append(DescriptionCall(asset.asset_id, result, content, key))
        summary = self.summary
        summary.calls += 1
        summary.by_status[result.status] += 1
        summary.tokens_in += result.tokens_in
        summary.tokens_out += result.tokens_out
        summary.cost_usd += result.cost_usd or 0.0
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.calls) + len(self.hits) >= self.batch or time.monotonic() - self.last_flush > self.max_wait_s:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        self.last_flush = time.monotonic()
        if self.calls or self.hits:
            self.ws.descriptions.record(run_id=self.summary.run_id, calls=self.calls, cache_hits=self.hits)
            self.calls, self.hits = [], []

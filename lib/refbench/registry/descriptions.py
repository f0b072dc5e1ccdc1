"""Asset descriptions: the cache of results by content (``descriptions``) and one row per call
(``description_calls``); final results also fill the asset's own columns.

The cache key is sha256 of ``<content_sha256>|<backend>|<model>|<prompt_version>``: an unchanged crop is not
described again by the same model and prompts. Only final results are cached (ok, blocked); errors and
malformed answers are retried by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from refbench.credentials import redact
from refbench.describe import CACHED_STATUSES, Description
from refbench.registry.connection import insert_rows, now, transaction


@dataclass(frozen=True)
class CachedDescription:
    """A final description stored in the cache."""

    status: str  # ok | blocked
    reverse_prompt: str | None
    visual_description: str | None
    suggested_name: str | None
    suitability: float | None

    def asset_columns(self) -> dict[str, object]:
        """What the asset's columns become: the texts when ok, empty when blocked."""
        if self.status != "ok":
            return dict.fromkeys(("reverse_prompt", "visual_description", "suggested_name", "suitability"))
        return {
            "reverse_prompt": self.reverse_prompt,
            "visual_description": self.visual_description,
            "suggested_name": self.suggested_name,
            "suitability": self.suitability,
        }


@dataclass(frozen=True)
class DescriptionCall:
    """One describer call to record: which asset, what came back, and the content it was made from."""

    asset_id: str
    result: Description
    content_sha256: str | None = None  # None when the crop could not be read
    cache_key: str | None = None


@dataclass(frozen=True)
class StoredCall:
    """A recorded describer call (``v_description_calls`` columns)."""

    tag: str
    asset_id: str
    status: str
    reason: str | None
    backend: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    attempts: int | None
    run_id: str | None
    seconds: float | None = None  # wall time of the call, retries and backoff included


class Descriptions:
    """The ``descriptions`` cache and the ``description_calls`` log."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def cached(self, *, backend: str, model: str, prompt_version: str) -> dict[str, CachedDescription]:
        """Cache key → cached final description, for one describer."""
        rows = self._con.execute(
            "SELECT cache_key, status, reverse_prompt, visual_description, suggested_name, suitability"
            " FROM descriptions WHERE backend = ? AND model = ? AND prompt_version = ?",
            [backend, model, prompt_version],
        ).fetchall()
        return {key: CachedDescription(*values) for key, *values in rows}

    def record(
        self,
        *,
        run_id: str,
        calls: Sequence[DescriptionCall] = (),
        cache_hits: Sequence[tuple[str, CachedDescription]] = (),
    ) -> None:
        """Write calls (and, for final results, the cache entry and the asset's columns) and apply cache hits to
        their assets, in one transaction."""
        final = [c for c in calls if c.cache_key and c.result.status in CACHED_STATUSES]
        assets = [(asset_id, cached.asset_columns()) for asset_id, cached in cache_hits]
        assets += [(c.asset_id, _cached(c.result).asset_columns()) for c in final]
        with transaction(self._con):
            insert_rows(self._con, "description_calls", [_call_row(c, run_id) for c in calls])
            if final:
                self._con.executemany(
                    "INSERT OR REPLACE INTO descriptions (cache_key, content_sha256, backend, model, prompt_version,"
                    " status, reason, reverse_prompt, visual_description, suggested_name, suitability, details)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_cache_row(c) for c in final],
                )
            if assets:
                self._con.executemany(
                    "UPDATE assets SET reverse_prompt = ?, visual_description = ?, suggested_name = ?, suitability = ?"
                    " WHERE asset_id = ?",
                    [[*columns.values(), asset_id] for asset_id, columns in assets],
                )

    def calls(self, *, run_id: str | None = None) -> list[StoredCall]:
        """Recorded calls (of one run, or the latest per asset), by tag."""
        if run_id is None:
            sql = (
                "SELECT tag, asset_id, status, reason, backend, model, tokens_in, tokens_out, cost_usd, attempts,"
                " run_id, seconds FROM v_description_calls ORDER BY tag"
            )
            rows = self._con.execute(sql).fetchall()
        else:
            rows = self._con.execute(
                "SELECT coalesce(a.tag, ''), c.asset_id, c.status, c.reason, c.backend, c.model, c.tokens_in,"
                " c.tokens_out, c.cost_usd, c.attempts, c.run_id, c.seconds FROM description_calls c"
                " LEFT JOIN assets a USING (asset_id) WHERE c.run_id = ? ORDER BY a.tag, c.asset_id",
                [run_id],
            ).fetchall()
        return [StoredCall(*r) for r in rows]


def _cached(result: Description) -> CachedDescription:
    return CachedDescription(
        result.status, result.reverse_prompt, result.visual_description, result.suggested_name, result.suitability
    )


def _call_row(call: DescriptionCall, run_id: str) -> dict[str, object]:
    r = call.result
    return {
        "call_id": f"{run_id}/{call.asset_id}",
        "run_id": run_id,
        "asset_id": call.asset_id,
        "cache_key": call.cache_key,
        "content_sha256": call.content_sha256,
        "backend": r.backend,
        "model": r.model,
        "prompt_version": r.prompt_version,
        "status": r.status,
        "reason": redact(r.reason) or None,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "cost_usd": r.cost_usd,
        "attempts": r.attempts,
        "seconds": r.seconds,
        "created_at": now(),
    }


def _cache_row(call: DescriptionCall) -> list[object]:
    r = call.result
    return [
        call.cache_key,
        call.content_sha256,
        r.backend,
        r.model,
        r.prompt_version,
        r.status,
        redact(r.reason) or None,
        r.reverse_prompt,
        r.visual_description,
        r.suggested_name,
        r.suitability,
        json.dumps(r.details, default=str),
    ]

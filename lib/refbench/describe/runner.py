"""Describe every active asset of a workspace with one describer, caching by crop content.

``describe_assets`` is the library function behind ``refbench describe`` and the manifest flow's
describe task. A run always completes: a blocked, malformed or failed description is recorded in
``description_calls`` with its reason and the asset stays registered; the other assets go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from refbench import store
from refbench.describe import AssetFacts, Describer, Description, FaceFacts
from refbench.errors import ApiKeyRejected
from refbench.settings import Settings

log = logging.getLogger(__name__)

CACHED_STATUSES = ("ok", "blocked")  # final answers; errors and malformed answers are tried again next run
SCENE_MIN_CONFIDENCE = 0.5


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


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_key(content: str, *, backend: str, model: str, prompt_version: str) -> str:
    """The key a description is cached under: content hash + backend + model + prompt version."""
    return hashlib.sha256(f"{content}|{backend}|{model}|{prompt_version}".encode()).hexdigest()


_ASSETS_SQL = """
SELECT v.asset_id, v.tag, v.asset_type, coalesce(d.class_name, v.name), v.crop_path, i.width, i.height,
       v.source_image_id, d.confidence, d.bbox, f.bbox, f.width_frac, f.yaw, f.sharpness, f.exposure,
       f.quality_score, f.det_score, idt.n_faces
FROM v_assets v
JOIN images i ON i.image_id = v.source_image_id
LEFT JOIN detections d ON d.detection_id = v.detection_id
LEFT JOIN identities idt ON idt.identity_id = v.identity_id
LEFT JOIN faces f ON f.face_id = idt.best_face_id
ORDER BY v.asset_type, v.tag, v.asset_id
"""


def load_assets(con: duckdb.DuckDBPyConnection) -> list[tuple[AssetFacts | None, str, str]]:
    """Every active asset's facts; rows whose crop file is missing come as (None, asset_id, reason)."""
    scenes = _scene_objects(con)
    faces = dict(
        con.execute(
            "SELECT image_id, max(n) FROM (SELECT image_id, face_model, count(*) AS n FROM faces GROUP BY ALL)"
            " GROUP BY image_id"
        ).fetchall()
    )
    out = []
    for row in con.execute(_ASSETS_SQL).fetchall():
        (
            asset_id,
            tag,
            asset_type,
            label,
            crop,
            width,
            height,
            image_id,
            confidence,
            det_bbox,
            face_bbox,
            *face_figures,
            n_faces,
        ) = row
        crop_path = Path(crop)
        if not crop_path.is_file():
            out.append((None, asset_id, f"crop file missing: {crop_path}"))
            continue
        face = (
            FaceFacts(*(float(v) for v in face_figures), n_faces=int(n_faces or 1))
            if asset_type == "character" and face_figures[0] is not None
            else None
        )
        bbox = face_bbox if asset_type == "character" else det_bbox
        out.append(
            (
                AssetFacts(
                    asset_id=asset_id,
                    tag=tag,
                    asset_type=asset_type,
                    label="person" if asset_type == "character" else label,
                    crop_path=crop_path,
                    content_sha256=content_sha256(crop_path),
                    image_wh=(int(width), int(height)),
                    bbox_xyxy=tuple(float(v) for v in bbox) if bbox is not None else None,
                    confidence=float(confidence) if confidence is not None else None,
                    face=face,
                    scene_objects=scenes.get(image_id, {}) if asset_type == "environment" else {},
                    scene_faces=int(faces.get(image_id, 0)),
                ),
                asset_id,
                "",
            )
        )
    return out


def _scene_objects(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    rows = con.execute(
        "SELECT image_id, class_name, count(*) FROM detections WHERE confidence >= ? GROUP BY ALL ORDER BY ALL",
        [SCENE_MIN_CONFIDENCE],
    ).fetchall()
    scenes: dict[str, dict[str, int]] = {}
    for image_id, class_name, n in rows:
        scenes.setdefault(image_id, {})[class_name] = int(n)
    return scenes


def describe_assets(
    con_or_settings: duckdb.DuckDBPyConnection | Settings,
    describer: Describer,
    *,
    force: bool = False,
    progress: bool = False,
) -> DescribeSummary:
    """Describe the active assets that have no cached description for this describer; write the registry.

    Args:
        con_or_settings: An open workspace connection (left open) or the workspace's settings.
        describer: Any registered describer (``refbench.describe.create_describer``).
        force: Describe every asset again, ignoring the cache.
        progress: Show a tqdm progress bar.

    Returns:
        Counts per status, cache hits, tokens and estimated cost of the run.
    """
    own = isinstance(con_or_settings, Settings)
    con = store.connect(con_or_settings.database, create=False) if own else con_or_settings
    if not own:
        store.migrate(con)
    run_id = store.new_run_id("describe")
    summary = DescribeSummary(
        run_id,
        describer.backend,
        describer.model,
        describer.prompt_version,
        database=con_or_settings.database if own else None,
    )
    parameters = {
        "backend": describer.backend,
        "model": describer.model,
        "prompt_version": describer.prompt_version,
        "force": force,
        "concurrency": describer.concurrency,
    }
    start = time.perf_counter()
    recorder = _Recorder(con, summary)
    try:
        with store.tracked_run(con, run_id=run_id, kind="describe", parameters=parameters):
            try:
                pending = _apply_cache(con, load_assets(con), describer, recorder, force=force)
                _describe_pending(pending, describer, recorder, progress=progress)
            finally:
                recorder.flush()  # results already paid for are kept, even when the run is interrupted
            summary.seconds = time.perf_counter() - start
            _log_summary(con, summary)
    finally:
        if own:
            con.close()
    return summary


def _apply_cache(
    con: duckdb.DuckDBPyConnection,
    assets: list[tuple[AssetFacts | None, str, str]],
    describer: Describer,
    recorder: _Recorder,
    *,
    force: bool,
) -> list[AssetFacts]:
    """Fill assets from the cache; record missing crops; return the assets still to describe."""
    recorder.summary.assets = len(assets)
    cache = (
        {}
        if force
        else {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT cache_key, status, reverse_prompt, visual_description, suggested_name, suitability"
                " FROM descriptions WHERE backend = ? AND model = ? AND prompt_version = ?",
                [describer.backend, describer.model, describer.prompt_version],
            ).fetchall()
        }
    )
    pending = []
    for facts, asset_id, problem in assets:
        if facts is None:
            recorder.call(
                asset_id,
                None,
                Description(
                    "error", describer.backend, describer.model, describer.prompt_version, reason=problem, attempts=0
                ),
            )
        elif (
            cached := cache.get(
                cache_key(
                    facts.content_sha256,
                    backend=describer.backend,
                    model=describer.model,
                    prompt_version=describer.prompt_version,
                )
            )
        ) is not None:
            recorder.cached(asset_id, cached)
        else:
            pending.append(facts)
    return pending


def _describe_pending(pending: list[AssetFacts], describer: Describer, recorder: _Recorder, *, progress: bool) -> None:
    """Describe in ``describer.concurrency`` threads; all writes happen in the calling thread."""
    with ThreadPoolExecutor(max_workers=max(1, describer.concurrency), thread_name_prefix="describe") as pool:
        futures = {pool.submit(describer.describe, facts): facts for facts in pending}
        done = as_completed(futures)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc=f"describe ({describer.backend})", unit="asset")
        for future in done:
            facts = futures[future]
            try:
                description = future.result()
            except ApiKeyRejected:
                pool.shutdown(wait=True, cancel_futures=True)  # calls already in flight finish; none start
                raise
            except Exception as error:  # a describer bug must not lose the other assets' results
                log.exception("describer %s failed on %s", describer.backend, facts.tag)
                description = Description(
                    "error",
                    describer.backend,
                    describer.model,
                    describer.prompt_version,
                    reason=f"{type(error).__name__}: {error}",
                )
            recorder.call(facts.asset_id, facts, description)


class _Recorder:
    """Buffers results and writes them in batched transactions (one commit per asset costs ~60 ms of fsync).

    Per call: a ``description_calls`` row; for final results (ok, blocked) also the cache entry and the
    asset's columns — ok fills them, blocked empties them (the asset stays; the reason is in the call).
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, summary: DescribeSummary, *, batch: int = 16, max_wait_s: float = 5.0
    ) -> None:
        self.con, self.summary, self.batch, self.max_wait_s = con, summary, batch, max_wait_s
        self.calls: list[dict] = []
        self.cache_rows: list[list] = []
        self.asset_rows: list[list] = []
        self.last_flush = time.monotonic()

    def cached(self, asset_id: str, row: tuple) -> None:
        """Apply a cache hit (status, reverse_prompt, visual_description, suggested_name, suitability)."""
        self.asset_rows.append(_asset_values(asset_id, *row))
        self.summary.cached += 1
        self._maybe_flush()

    def call(self, asset_id: str, facts: AssetFacts | None, result: Description) -> None:
        """Record one describer call."""
        key = (
            cache_key(
                facts.content_sha256, backend=result.backend, model=result.model, prompt_version=result.prompt_version
            )
            if facts
            else None
        )
        self.calls.append(
            {
                "call_id": f"{self.summary.run_id}/{asset_id}",
                "run_id": self.summary.run_id,
                "asset_id": asset_id,
                "cache_key": key,
                "content_sha256": facts.content_sha256 if facts else None,
                "backend": result.backend,
                "model": result.model,
                "prompt_version": result.prompt_version,
                "status": result.status,
                "reason": result.reason or None,
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "cost_usd": result.cost_usd,
                "attempts": result.attempts,
                "seconds": result.seconds,
                "created_at": store.now(),
            }
        )
        if facts is not None and result.status in CACHED_STATUSES:
            self.cache_rows.append(
                [
                    key,
                    facts.content_sha256,
                    result.backend,
                    result.model,
                    result.prompt_version,
                    result.status,
                    result.reason or None,
                    result.reverse_prompt,
                    result.visual_description,
                    result.suggested_name,
                    result.suitability,
                    json.dumps(result.details, default=str),
                ]
            )
            self.asset_rows.append(
                _asset_values(
                    asset_id,
                    result.status,
                    result.reverse_prompt,
                    result.visual_description,
                    result.suggested_name,
                    result.suitability,
                )
            )
        summary = self.summary
        summary.calls += 1
        summary.by_status[result.status] += 1
        summary.tokens_in += result.tokens_in
        summary.tokens_out += result.tokens_out
        summary.cost_usd += result.cost_usd or 0.0
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.calls) + len(self.asset_rows) >= self.batch or time.monotonic() - self.last_flush > self.max_wait_s:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        self.last_flush = time.monotonic()
        if not (self.calls or self.cache_rows or self.asset_rows):
            return
        self.con.execute("BEGIN TRANSACTION")
        try:
            store.insert_rows(self.con, "description_calls", self.calls)
            if self.cache_rows:
                self.con.executemany(
                    "INSERT OR REPLACE INTO descriptions (cache_key, content_sha256, backend, model, prompt_version,"
                    " status, reason, reverse_prompt, visual_description, suggested_name, suitability, details)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self.cache_rows,
                )
            if self.asset_rows:
                self.con.executemany(
                    "UPDATE assets SET reverse_prompt = ?, visual_description = ?,"
                    " suggested_name = ?, suitability = ? WHERE asset_id = ?",
                    self.asset_rows,
                )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        self.calls, self.cache_rows, self.asset_rows = [], [], []


def _asset_values(
    asset_id: str,
    status: str,
    reverse_prompt: str | None,
    visual_description: str | None,
    suggested_name: str | None,
    suitability: float | None,
) -> list:
    """UPDATE parameters: ok fills the description, blocked leaves it empty."""
    if status != "ok":
        return [None, None, None, None, asset_id]
    return [reverse_prompt, visual_description, suggested_name, suitability, asset_id]


def _log_summary(con: duckdb.DuckDBPyConnection, summary: DescribeSummary) -> None:
    store.log_metrics(
        con,
        summary.run_id,
        [
            ("describe_assets", summary.assets, "assets"),
            ("describe_cached", summary.cached, "assets"),
            ("describe_calls", summary.calls, "calls"),
            *[(f"describe_{status}", n, "assets") for status, n in summary.by_status.items()],
            ("describe_tokens_in", summary.tokens_in, "tokens"),
            ("describe_tokens_out", summary.tokens_out, "tokens"),
            ("describe_cost", summary.cost_usd, "USD"),
            ("describe_seconds", summary.seconds, "s"),
        ],
    )

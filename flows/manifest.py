"""Prefect flow of the manifest: the same library functions as ``refbench manifest``, as tasks.

Per-image analysis runs as tasks on the chosen task runner (threads, or a local Dask cluster);
every DuckDB write happens here in the flow process, because DuckDB has a single writer.
Run it locally with ``python flows/manifest.py data/samples/photos`` or through a deployment
(``prefect.yaml``).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path
from typing import Literal

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from refbench import store
from refbench.manifest import (
    ManifestOptions,
    ManifestSummary,
    finish_manifest,
    iter_work,
    record_analysis,
    tracked_manifest,
)
from refbench.pipeline_tasks import analyze_task, shared_backends
from refbench.settings import Settings

TaskRunnerName = Literal["default", "dask"]
# Images in flight at once: enough to keep two workers busy, few enough to keep memory flat.
IN_FLIGHT = 4
# Seconds one image may take on a worker before the run fails (instead of waiting forever on a lost worker).
IMAGE_TIMEOUT_S = 600


@task(name="finish-manifest", cache_policy=NO_CACHE)
def finish_task(
    con: duckdb.DuckDBPyConnection, summary: ManifestSummary, *, settings: Settings, options: ManifestOptions
) -> ManifestSummary:
    """Cluster faces, register assets, write the contact sheet and metrics (flow process only)."""
    finish_manifest(con, summary, settings=settings, options=options)
    return summary


@task(name="describe-assets", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def describe_task(settings: Settings, describer: str) -> dict:
    """Describe the registry's assets (the only task that may call the outside world, hence retries)."""
    from refbench.describe import create_describer
    from refbench.describe.runner import describe_assets

    summary = describe_assets(settings, create_describer(describer))
    return {
        "run_id": summary.run_id,
        "assets": summary.assets,
        "cached": summary.cached,
        "calls": summary.calls,
        "by_status": dict(summary.by_status),
    }


def make_task_runner(name: TaskRunnerName) -> TaskRunner:
    """The task runner a setting names: a 2-thread pool, or a local 2-worker Dask cluster."""
    if name == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
        )
    return ThreadPoolTaskRunner(max_workers=2)


@flow(name="manifest-pipeline")
def manifest_pipeline(
    photos_dir: Path, settings: Settings, options: ManifestOptions, task_runner_name: str
) -> ManifestSummary:
    """Ingest, analyze per image on the task runner, write in input order, then finish."""
    providers = tuple(settings.providers) if settings.providers else None
    start = time.perf_counter()
    backends = shared_backends(options, model_dir=settings.models, providers=providers)
    load_seconds = time.perf_counter() - start
    con = store.connect(settings.database)
    try:
        with tracked_manifest(
            con,
            photos_dir,
            database=settings.database,
            options=options,
            execution_provider=backends.faces.execution_provider,
            load_seconds=load_seconds,
            extra_parameters={"task_runner": task_runner_name, "orchestrator": "prefect"},
        ) as summary:
            work = iter_work(con, photos_dir, settings=settings, options=options, summary=summary)
            in_flight: deque = deque()
            with store.Batch(con) as batch:
                for loaded, needs_objects, needs_faces in work:
                    in_flight.append(
                        analyze_task.submit(
                            loaded.record,
                            options=options,
                            model_dir=settings.models,
                            files_dir=settings.workspace_files,
                            max_pixels=settings.max_image_pixels,
                            providers=providers,
                            run_objects=needs_objects,
                            run_faces=needs_faces,
                        )
                    )
                    # Oldest first: rows keep the input order, so tags match run_manifest's.
                    while len(in_flight) >= IN_FLIGHT:
                        _record(batch, in_flight.popleft(), summary, options)
                while in_flight:
                    _record(batch, in_flight.popleft(), summary, options)
            finish_task(con, summary, settings=settings, options=options)
    finally:
        con.close()
    return summary


def _record(batch: store.Batch, future: PrefectFuture, summary: ManifestSummary, options: ManifestOptions) -> None:
    """Wait for one image's analysis (bounded: a lost worker fails the run) and write it."""
    record_analysis(batch, future.result(timeout=IMAGE_TIMEOUT_S), summary, options=options)


@flow(name="manifest", log_prints=True)
def manifest_flow(
    photos_dir: Path,
    db_path: Path | None = None,
    detector: str = "opencv-darknet",
    face_model: str = "insightface",
    face_threshold: float | None = None,
    task_runner: TaskRunnerName = "default",
    describer: str | None = None,
) -> dict:
    """Turn a folder of photos into the asset registry (incremental; safe to re-run).

    Args:
        photos_dir: folder of photos, searched recursively.
        db_path: DuckDB workspace file; default ``REFBENCH_DB_PATH`` or ``data/refbench.duckdb``.
        detector: object detector backend.
        face_model: face model backend.
        face_threshold: same-person cosine threshold; default the workspace's calibrated one.
        task_runner: ``default`` (2 threads) or ``dask`` (local 2-worker Dask cluster).
        describer: describe the assets afterwards with this backend (``local``, ``gemini``); ``None``: skip.

    Returns:
        The run summary as plain values (run id, counts, seconds per stage).
    """
    settings = Settings(db_path=db_path) if db_path else Settings()
    options = ManifestOptions(detector=detector, face_model=face_model, face_threshold=face_threshold)
    pipeline = manifest_pipeline.with_options(task_runner=make_task_runner(task_runner))
    summary = pipeline(Path(photos_dir), settings, options, task_runner)
    described = describe_task(settings, describer) if describer else None
    get_run_logger().info(
        "manifest %s: %d images, %d faces, %d identities, assets %s",
        summary.run_id,
        summary.images_total,
        summary.faces,
        summary.identities,
        summary.assets_by_type,
    )
    return {
        "run_id": summary.run_id,
        "database": str(summary.database),
        "images_total": summary.images_total,
        "images_new": summary.images_new,
        "rejected_total": summary.rejected_total,
        "faces": summary.faces,
        "identities": summary.identities,
        "assets_by_type": dict(summary.assets_by_type),
        "seconds": dict(summary.seconds),
        "contact_sheet": str(summary.contact_sheet),
        "described": described,
    }


if __name__ == "__main__":
    manifest_flow(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/samples/photos"))

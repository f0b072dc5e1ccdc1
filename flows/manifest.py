"""Prefect flow of the manifest: ``run_manifest`` with per-image analysis as tasks on a task runner.

The flow only orchestrates: the per-image analysis is submitted as tasks (threads, or a local Dask
cluster) through ``prefect_map``; every DuckDB write happens in the flow process. Run it locally with
``python flows/manifest.py data/samples/photos`` or through a deployment (``prefect.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from refbench.describe import create_describer
from refbench.errors import RefbenchError
from refbench.names import Describer, Detector, FaceModel
from refbench.pipelines.describe import DescribeSummary, describe_assets
from refbench.pipelines.library import IndexSummary, run_index
from refbench.pipelines.manifest import ManifestOptions, ManifestSummary, run_manifest
from refbench.pipelines.prefect_artifacts import failed, publish
from refbench.pipelines.tasks import prefect_map
from refbench.settings import Settings

TaskRunnerName = Literal["default", "dask"]


@flow(name="manifest-pipeline")
def manifest_pipeline(
    photos_dir: Path, settings: Settings, options: ManifestOptions, task_runner_name: str
) -> ManifestSummary:
    """``run_manifest`` with its images submitted to the current flow run's task runner (``.fn`` runs it inline)."""
    return run_manifest(
        photos_dir,
        settings=settings,
        options=options,
        map_images=prefect_map(),
        extra_parameters={"task_runner": task_runner_name, "orchestrator": "prefect"},
    )


@task(name="describe-assets", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def describe_task(settings: Settings, describer: str) -> DescribeSummary:
    """Describe the registry's assets (the only task that may call the outside world, hence retries)."""
    return describe_assets(settings, create_describer(describer))


@task(name="index-library", cache_policy=NO_CACHE)
def index_task(settings: Settings) -> IndexSummary:
    """Index the asset library (embeddings, OCR, hashes, near-duplicate links); incremental."""
    return run_index(settings)


def make_task_runner(name: TaskRunnerName) -> TaskRunner:
    """The task runner a setting names: a 2-thread pool, or a local 2-worker Dask cluster."""
    if name == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
        )
    return ThreadPoolTaskRunner(max_workers=2)


@flow(name="manifest", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=2))
def manifest_flow(
    photos_dir: Path,
    db_path: Path | None = None,
    detector: Detector | None = None,
    face_model: FaceModel | None = None,
    face_threshold: float | None = None,
    task_runner: TaskRunnerName = "default",
    describer: Describer | None = None,
    index_library: bool = False,
) -> dict:
    """Turn a folder of photos into the asset registry (incremental; safe to re-run).

    Each image is analysed by a task named after its file (``analyze-bus.jpg``), on this flow run (2 threads)
    or, with ``task_runner="dask"``, on a child flow run with a local 2-worker Dask cluster. The run ends
    with a summary artifact (counts, seconds, contact sheet) and a metrics table; a mistake in the input
    (a missing folder, an unknown backend) fails it with one line.

    Args:
        photos_dir: folder of photos, searched recursively.
        db_path: DuckDB workspace file; default ``REFBENCH_DB_PATH`` or ``data/refbench.duckdb``.
        detector: object detector backend; default the settings' (``REFBENCH_OBJECT_DETECTOR``).
        face_model: face model backend; default the settings' (``REFBENCH_FACE_MODEL``).
        face_threshold: same-person cosine threshold; default the workspace's calibrated one.
        task_runner: ``default`` (2 threads) or ``dask`` (local 2-worker Dask cluster).
        describer: describe the assets afterwards with this backend (``local``, ``gemini``); ``None``: skip.
        index_library: index the asset library afterwards (``refbench index``), after describing.

    Returns:
        The run summary as plain values (run id, counts, seconds per stage).
    """
    settings = Settings().for_database(db_path)
    try:
        options = ManifestOptions(detector=detector, face_model=face_model, face_threshold=face_threshold)
        if task_runner == "dask":  # a running flow keeps its task runner: Dask needs a child flow run
            pipeline = manifest_pipeline.with_options(task_runner=make_task_runner(task_runner))
            summary = pipeline(Path(photos_dir), settings, options, task_runner)
        else:
            summary = manifest_pipeline.fn(Path(photos_dir), settings, options, task_runner)
        described = describe_task(settings, describer) if describer else None
        indexed = index_task(settings) if index_library else None
    except RefbenchError as error:
        return failed(error)
    publish(
        key="manifest-summary",
        title=f"manifest {summary.run_id}",
        rows=summary_rows(summary),
        metrics=summary.metrics(),
        image=summary.contact_sheet,
    )
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
        "described": described.as_dict() if described else None,
        "indexed": {"run_id": indexed.run_id, "assets": indexed.assets_indexed} if indexed else None,
    }


def summary_rows(summary: ManifestSummary) -> list[tuple[str, object]]:
    """The summary table of the flow run's artifact."""
    return [
        ("images (new / total)", f"{summary.images_new} / {summary.images_total}"),
        ("rejected (new / total)", f"{summary.rejected_new} / {summary.rejected_total}"),
        ("faces / identities", f"{summary.faces} / {summary.identities}"),
        ("face threshold", f"{summary.threshold:.3f} ({summary.threshold_source})"),
        *[(f"assets: {kind}", n) for kind, n in summary.assets_by_type.items()],
        *[(f"seconds: {stage}", f"{seconds:.2f}") for stage, seconds in summary.seconds.items()],
        ("database", f"`{summary.database}`"),
    ]


if __name__ == "__main__":
    manifest_flow(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/samples/photos"))

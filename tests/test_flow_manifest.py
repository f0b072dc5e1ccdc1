"""The manifest Prefect flow: same registry as ``run_manifest``, on threads and on a local Dask cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import duckdb
import pytest
from _prefect_harness import shared_harness
from prefect.flows import load_flow_from_entrypoint
from refbench import store
from refbench.ingest import ingest_file
from refbench.manifest import ManifestOptions
from refbench.pipeline_tasks import analyze_loaded, analyze_stored, shared_backends
from refbench.settings import PROJECT_ROOT, Settings

ENTRYPOINT = str(PROJECT_ROOT / "flows" / "manifest.py") + ":manifest_flow"


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server for the session (shared with other modules)."""
    yield from shared_harness()


@pytest.fixture(scope="module")
def manifest_flow():
    """The flow loaded the way a Prefect worker loads it: from its entrypoint.

    A worker loads it once, as module ``manifest``, which Dask's spawned workers can import. Loaded a
    second time in one process (another test module did first), Prefect names it
    ``__prefect_loader_<hash>__``, which no worker can import; pickling it by value, as Prefect's own
    bundles do, keeps the Dask run honest.
    """
    flow = load_flow_from_entrypoint(ENTRYPOINT)
    module = sys.modules[flow.fn.__module__]
    if module.__name__.startswith("__prefect_loader_"):
        cloudpickle.register_pickle_by_value(module)
    return flow


def registry(database: Path) -> dict:
    """What two equivalent runs must share: table counts, identity tags per face, active asset tags."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return {
            "counts": store.table_counts(con),
            "faces": sorted(con.execute("SELECT image_file, face_id, identity_tag FROM v_faces").fetchall()),
            "assets": sorted(con.execute("SELECT tag, asset_type, name, source_image_file FROM v_assets").fetchall()),
        }
    finally:
        con.close()


def test_shared_backends_load_once_per_thread(settings: Settings) -> None:
    options = ManifestOptions()
    first = shared_backends(options, model_dir=settings.models)
    assert shared_backends(options, model_dir=settings.models) is first
    assert shared_backends(ManifestOptions(face_model="opencv-yunet-sface"), model_dir=settings.models) is not first


def test_analyze_task_function_reads_the_workspace_copy(samples_dir: Path, settings: Settings) -> None:
    loaded = ingest_file(
        samples_dir / "obama_1.jpg",
        originals_dir=settings.workspace_files / "originals",
        known=set(),
        max_pixels=settings.max_image_pixels,
        max_file_bytes=settings.max_file_bytes,
    )
    analysis = analyze_stored(
        loaded.record,
        options=ManifestOptions(),
        model_dir=settings.models,
        files_dir=settings.workspace_files,
        max_pixels=settings.max_image_pixels,
    )
    direct = analyze_loaded(
        loaded, options=ManifestOptions(), model_dir=settings.models, files_dir=settings.workspace_files
    )
    assert len(analysis.faces) == 1
    assert analysis.face_crops[0].is_file()
    assert analysis.faces.xyxy.tolist() == direct.faces.xyxy.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("task_runner", ["default", "dask"])
def test_flow_builds_the_same_registry_as_run_manifest(
    prefect_harness, manifest_flow, task_runner: str, samples_dir: Path, demo_workspace: Settings, tmp_path: Path
) -> None:
    database = tmp_path / "ws" / "refbench.duckdb"
    result = manifest_flow(photos_dir=samples_dir, db_path=database, task_runner=task_runner)
    assert registry(database) == registry(demo_workspace.database)
    assert result["images_total"] == registry(database)["counts"]["images"] > 20
    con = duckdb.connect(str(database), read_only=True)
    try:
        kind, status, runner = con.execute(
            "SELECT kind, status, parameters->>'task_runner' FROM runs WHERE run_id = ?", [result["run_id"]]
        ).fetchone()
    finally:
        con.close()
    assert (kind, status, runner) == ("manifest", "completed", task_runner)


@pytest.mark.slow
def test_flow_rerun_adds_nothing_then_describes_and_unknown_backend_raises(
    prefect_harness, manifest_flow, samples_dir: Path, demo_copy: Settings
) -> None:
    before = registry(demo_copy.database)
    result = manifest_flow(photos_dir=samples_dir, db_path=demo_copy.database, describer="local")
    assert result["images_new"] == 0
    assert registry(demo_copy.database) == before
    assert result["described"]["assets"] == sum(result["assets_by_type"].values()) > 0
    con = duckdb.connect(str(demo_copy.database), read_only=True)
    try:
        described = con.execute("SELECT count(*) FROM v_assets WHERE reverse_prompt IS NOT NULL").fetchone()[0]
    finally:
        con.close()
    assert described == result["described"]["by_status"]["ok"] > 0
    with pytest.raises(ValueError, match="No face model backend named 'nope'; available: insightface"):
        manifest_flow(photos_dir=samples_dir, db_path=demo_copy.database, face_model="nope", face_threshold=0.5)

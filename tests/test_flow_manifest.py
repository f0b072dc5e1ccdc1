"""The manifest Prefect flow: same registry as ``run_manifest``, on threads and on a local Dask cluster."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cloudpickle
import pytest
from _prefect_harness import shared_harness
from prefect.exceptions import ParameterTypeError
from prefect.flows import load_flow_from_entrypoint
from refbench.ingest import LoadedImage, ingest_file
from refbench.pipelines.analyze import ImageAnalyzer, ImageWork, shared_backends
from refbench.pipelines.manifest import ManifestOptions
from refbench.settings import PROJECT_ROOT, Settings

from tests.conftest import read_workspace

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
    with read_workspace(Settings(db_path=database)) as ws:
        faces = ws.faces.gallery("insightface")
        return {
            "counts": ws.counts(),
            "faces": sorted(
                zip(*(faces.data[k].tolist() for k in ("image_file", "face_id", "identity_tag")), strict=True)
            ),
            "assets": sorted((a.tag, a.asset_type, a.name, a.source_image_file) for a in ws.assets.list()),
        }


def test_shared_backends_load_once_per_thread(settings: Settings) -> None:
    options = ManifestOptions().resolved(settings)
    first = shared_backends(options, model_dir=settings.models)
    assert shared_backends(options, model_dir=settings.models) is first
    other = ManifestOptions(face_model="opencv-yunet-sface").resolved(settings)
    assert shared_backends(other, model_dir=settings.models) is not first


def test_work_travels_without_pixels_and_a_worker_reads_the_workspace_copy(
    samples_dir: Path, settings: Settings
) -> None:
    loaded = ingest_file(
        samples_dir / "obama_1.jpg",
        originals_dir=settings.workspace_files / "originals",
        known=set(),
        limits=settings.image_limits,
    )
    assert isinstance(loaded, LoadedImage)
    options = ManifestOptions().resolved(settings)
    analyzer = ImageAnalyzer(options, settings.models, settings.workspace_files, settings.image_limits)
    work = ImageWork(loaded.record, ("objects", "faces"), loaded.image_rgb)
    shipped = pickle.loads(pickle.dumps(work))  # what a Dask worker receives
    assert shipped.image_rgb is None and len(pickle.dumps(work)) < 2000
    direct, from_copy = analyzer(work), pickle.loads(pickle.dumps(analyzer))(shipped)
    assert len(from_copy.faces) == 1 and from_copy.ran == {"objects": "opencv-darknet", "faces": "insightface"}
    assert Path(from_copy.faces.data["crop_path"][0]).is_file()
    assert from_copy.faces.xyxy.tolist() == direct.faces.xyxy.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("task_runner", ["default", "dask"])
def test_flow_builds_the_same_registry_as_run_manifest(
    prefect_harness, manifest_flow, task_runner: str, samples_dir: Path, demo_workspace: Settings, tmp_path: Path
) -> None:
    database = tmp_path / "ws" / "refbench.duckdb"
    result = manifest_flow(photos_dir=samples_dir, db_path=database, task_runner=task_runner)
    assert registry(database) == registry(demo_workspace.database)
    assert result["images_total"] == registry(database)["counts"]["images"] > 20
    with read_workspace(Settings(db_path=database)) as ws:
        run = ws.runs.get(result["run_id"])
    assert (run.kind, run.status, run.parameters["task_runner"]) == ("manifest", "completed", task_runner)


@pytest.mark.slow
def test_flow_rerun_adds_nothing_then_describes_and_unknown_backend_raises(
    prefect_harness, manifest_flow, samples_dir: Path, demo_copy: Settings
) -> None:
    before = registry(demo_copy.database)
    result = manifest_flow(photos_dir=samples_dir, db_path=demo_copy.database, describer="local")
    assert result["images_new"] == 0
    assert registry(demo_copy.database) == before
    assert result["described"]["assets"] == sum(result["assets_by_type"].values()) > 0
    with read_workspace(demo_copy) as ws:
        described = sum(a.reverse_prompt is not None for a in ws.assets.list())
    assert described == result["described"]["by_status"]["ok"] > 0
    # backends are typed choices (refbench.names): Prefect refuses a wrong one before the run starts
    with pytest.raises(ParameterTypeError, match="face_model: Input should be 'insightface' or 'opencv-yunet-sface'"):
        manifest_flow(photos_dir=samples_dir, db_path=demo_copy.database, face_model="nope", face_threshold=0.5)

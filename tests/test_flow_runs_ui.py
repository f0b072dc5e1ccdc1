"""What a Prefect flow run shows: a task per image named by its file on the run itself (no empty parent), a
summary and a metrics artifact, and a one-line failure when the input is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from uuid import UUID

import pytest
from _prefect_harness import shared_harness
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId
from prefect.flows import load_flow_from_entrypoint
from refbench.errors import InputNotFound
from refbench.settings import PROJECT_ROOT

PHOTOS = ("obama_1.jpg", "bus.jpg", "dog.jpg")


@pytest.fixture(scope="session")
def prefect_harness():
    yield from shared_harness()


@pytest.fixture(scope="module")
def manifest_flow():
    return load_flow_from_entrypoint(str(PROJECT_ROOT / "flows" / "manifest.py") + ":manifest_flow")


def task_run_names(flow_run_id: UUID) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(run.name for run in runs)


def artifacts(flow_run_id: UUID) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {artifact.key: artifact for artifact in found}


@pytest.mark.slow
def test_the_flow_run_shows_its_work(prefect_harness, manifest_flow, samples_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(samples_dir / name, photos / name)
    state = manifest_flow(photos_dir=photos, db_path=tmp_path / "ws" / "refbench.duckdb", return_state=True)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    assert task_run_names(flow_run_id) == sorted(f"analyze-{name}" for name in PHOTOS)
    found = artifacts(flow_run_id)
    assert {"manifest-summary", "manifest-summary-metrics"} <= set(found)
    summary = found["manifest-summary"].data
    assert "| images (new / total) | 3 / 3 |" in summary and "![contact_sheet](data:image/jpeg;base64," in summary
    table = found["manifest-summary-metrics"].data  # stored as JSON text
    metrics = {row["metric"] for row in (json.loads(table) if isinstance(table, str) else table)}
    assert {"images_total", "faces", "identities", "seconds_detect"} <= metrics


@pytest.mark.slow
def test_a_missing_folder_fails_the_run_with_one_line(prefect_harness, manifest_flow, tmp_path: Path) -> None:
    database = tmp_path / "ws" / "refbench.duckdb"
    state = manifest_flow(photos_dir=tmp_path / "nope", db_path=database, return_state=True)
    assert state.is_failed()
    assert state.message.splitlines() == [f"InputNotFound: {tmp_path / 'nope'} is not a folder"]
    with pytest.raises(InputNotFound, match="is not a folder"):  # a Python caller gets the typed error
        manifest_flow(photos_dir=tmp_path / "nope", db_path=database)
    assert not database.exists()

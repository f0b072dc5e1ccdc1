"""Run tracking: two manifest runs with different face thresholds, listed and compared (library and CLI)."""

from __future__ import annotations

import pytest
from refbench.cli import app
from refbench.cli.app import console
from refbench.errors import OptionError, WorkspaceMissing
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Metric
from typer.testing import CliRunner

from tests.conftest import read_workspace


@pytest.fixture
def two_runs(demo_copy: Settings, samples_dir, backends: Backends) -> tuple[str, str]:
    """The demo run, then a re-cluster of the same photos at a stricter threshold."""
    with read_workspace(demo_copy) as ws:
        first = ws.runs.latest(kind="manifest").run_id
    second = run_manifest(
        samples_dir, settings=demo_copy, options=ManifestOptions(face_threshold=0.9), backends=backends
    ).run_id
    return first, second


def test_compare_runs_shows_threshold_and_identity_changes(demo_copy: Settings, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    with read_workspace(demo_copy) as ws:
        comparison = ws.runs.compare(first, second)
        runs = ws.runs.list(kind="manifest")
        before = ws.runs.previous(ws.runs.get(second))
    threshold_a, threshold_b = comparison.value("parameter", "face_threshold")
    assert threshold_a != threshold_b == 0.9
    identities_a, identities_b = comparison.value("metric", "identities")
    assert identities_b > identities_a  # a stricter threshold splits people into more identities
    assert ("metric", "images_new") in {(r.section, r.name) for r in comparison.differences()}
    assert comparison.value("metric", "faces")[0] == comparison.value("metric", "faces")[1]
    assert [r.run_id for r in runs[:2]] == [second, first]
    assert before.run_id == first
    assert runs[0].duration_s > 0 and runs[0].metrics["identities"] == identities_b


def test_v_runs_has_one_row_per_run_with_duration(demo_copy: Settings, two_runs: tuple[str, str]) -> None:
    with read_workspace(demo_copy) as ws:
        runs = [ws.runs.get(run_id) for run_id in two_runs]
    assert [run.run_id for run in runs] == list(two_runs)
    for run in runs:
        # v_runs' seconds_total column: the sum of the run-level seconds_* metrics.
        seconds = sum(value for name, value in run.metrics.items() if name.startswith("seconds_"))
        assert run.duration_s > 0 and run.metrics["identities"] > 0 and seconds > 0


def test_runs_cli_lists_and_compares_side_by_side(
    demo_copy: Settings, two_runs: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_runs
    monkeypatch.setattr(console, "width", 250)  # CliRunner has no terminal: rich would fold run ids at 80
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--db", str(demo_copy.database)])
    assert listed.exit_code == 0, listed.output
    assert first[:20] in listed.output and second[:20] in listed.output
    compared = runner.invoke(
        app, ["runs", "compare", first, second, "--db", str(demo_copy.database), "--only-differences"]
    )
    assert compared.exit_code == 0, compared.output
    assert "face_threshold" in compared.output and "identities" in compared.output
    assert "0.9" in compared.output


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("nope", r"^unknown run 'nope'; known: t-1, t-2; see `refbench runs list`$"),
        ("t-", r"^run id 't-' is ambiguous: it matches several runs \(t-1, t-2, \.\.\.\); give more of it$"),
        ("t-2", None),
    ],
)
def test_get_run_by_id_or_unique_prefix(settings: Settings, run_id: str, message: str | None) -> None:
    with Workspace.open(settings) as ws:
        for name in ("t-1", "t-2"):
            with ws.runs.track("test", {}, run_id=name):
                pass
        if message is None:
            assert ws.runs.get(run_id).run_id == "t-2"
        else:
            with pytest.raises(OptionError, match=message):  # UnknownNameError is an OptionError too
                ws.runs.get(run_id)


@pytest.mark.parametrize(
    ("fails", "status", "error"), [(False, "completed", None), (True, "failed", "RuntimeError: boom")]
)
def test_tracked_run_records_status(settings: Settings, fails: bool, status: str, error: str | None) -> None:
    with Workspace.open(settings) as ws:
        if fails:
            with pytest.raises(RuntimeError, match="boom"), ws.runs.track("test", {"x": 1}, run_id="t-1"):
                raise RuntimeError("boom")
        else:
            with ws.runs.track("test", {"x": 1}, run_id="t-1") as tracked:
                tracked.log(Metric("answer", 42, "units"))
        run = ws.runs.get("t-1")
    assert (run.status, run.error, run.parameters) == (status, error, {"x": 1})
    assert run.metrics == ({} if fails else {"answer": 42.0})


@pytest.mark.parametrize(
    "command",
    [["runs", "list"], ["runs", "compare", "a", "b"], ["describe", "--backend", "local"], ["clean", "CHAR_01"]],
)
def test_commands_on_a_missing_workspace_fail_without_creating_one(tmp_path, command: list[str]) -> None:
    database = tmp_path / "nowhere" / "refbench.duckdb"
    result = CliRunner().invoke(app, [*command, "--db", str(database)])
    assert result.exit_code != 0
    assert isinstance(result.exception, WorkspaceMissing)
    assert "no workspace database at" in str(result.exception)
    assert not database.parent.exists()

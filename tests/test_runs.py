"""Run tracking: two manifest runs with different face thresholds, listed and compared (library and CLI)."""

from __future__ import annotations

import duckdb
import pytest
from refbench import store
from refbench.cli import app
from refbench.cli.app import console
from refbench.errors import ConfigError
from refbench.manifest import Backends, ManifestOptions, run_manifest
from refbench.runs import compare_runs, get_run, latest_run, list_runs, previous_run, tracked_run
from refbench.settings import Settings
from typer.testing import CliRunner


@pytest.fixture
def two_runs(demo_copy: Settings, samples_dir, backends: Backends) -> tuple[str, str]:
    """The demo run, then a re-cluster of the same photos at a stricter threshold."""
    con = store.connect(demo_copy.database)
    first = latest_run(con, kind="manifest").run_id
    con.close()
    second = run_manifest(
        samples_dir, settings=demo_copy, options=ManifestOptions(face_threshold=0.9), backends=backends
    ).run_id
    return first, second


def test_compare_runs_shows_threshold_and_identity_changes(demo_copy: Settings, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    con = store.connect(demo_copy.database)
    try:
        comparison = compare_runs(con, first, second)
        runs = list_runs(con, kind="manifest")
        before = previous_run(con, second)
    finally:
        con.close()
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
    con = duckdb.connect(str(demo_copy.database), read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, duration_s, identities, seconds_total FROM v_runs WHERE run_id IN (?, ?)", list(two_runs)
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == 2
    assert all(duration > 0 and identities > 0 and seconds > 0 for _, duration, identities, seconds in rows)


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
        ("nope", "no run matches 'nope'"),
        ("t-", r"'t-' matches several runs \(t-1, t-2, ...\)"),
        ("t-2", None),
    ],
)
def test_get_run_by_id_or_unique_prefix(settings: Settings, run_id: str, message: str | None) -> None:
    con = store.connect(settings.database)
    try:
        for name in ("t-1", "t-2"):
            with tracked_run(con, run_id=name, kind="test", parameters={}):
                pass
        if message is None:
            assert get_run(con, run_id).run_id == "t-2"
        else:
            with pytest.raises(ConfigError, match=message):
                get_run(con, run_id)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("fails", "status", "error"), [(False, "completed", None), (True, "failed", "RuntimeError: boom")]
)
def test_tracked_run_records_status(settings: Settings, fails: bool, status: str, error: str | None) -> None:
    con = store.connect(settings.database)
    try:
        if fails:
            with (
                pytest.raises(RuntimeError, match="boom"),
                tracked_run(con, run_id="t-1", kind="test", parameters={"x": 1}),
            ):
                raise RuntimeError("boom")
        else:
            with tracked_run(con, run_id="t-1", kind="test", parameters={"x": 1}) as run_id:
                store.log_metrics(con, run_id, [("answer", 42, "units")])
        run = get_run(con, "t-1")
    finally:
        con.close()
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
    assert "no workspace database at" in str(result.exception)
    assert not database.parent.exists()

"""Reports: papermill in a subprocess → executed notebook + offline HTML without code; the run is recorded."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from _prefect_harness import shared_harness
from prefect.flows import load_flow_from_entrypoint
from refbench.cli import app
from refbench.errors import InputNotFound, OptionError, UnknownNameError
from refbench.pipelines.report import ReportError, absolute_paths, parse_parameters, run_report
from refbench.registry import Workspace
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

NOTEBOOK = PROJECT_ROOT / "notebooks" / "04_manifest_report.ipynb"
EMBEDDED_IMAGE = re.compile(r'<img[^>]+src="data:image/(?:png|jpeg);base64,')


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server for the session (shared with other modules)."""
    yield from shared_harness()


def check_report(html_path: Path, notebook_path: Path, database: Path, run_id: str) -> None:
    """The HTML hides code, embeds the figures and fetches nothing; the run row says completed."""
    html = html_path.read_text()
    assert "explore." not in html and "open_workspace" not in html  # code cells are hidden
    assert len(EMBEDDED_IMAGE.findall(html)) >= 5  # contact sheet, galleries, assets, seconds
    assert not re.search(r'<script[^>]+src="https?://', html)  # nothing from a CDN
    assert "Manifest report" in html and "Contact sheet" in html
    assert nbformat.read(notebook_path, as_version=4).cells[0].metadata["tags"] == ["parameters"]
    with Workspace.open(database, read_only=True) as ws:
        run = ws.runs.get(run_id)
        images = ws.runs.series(run_id, "embedded_images")
    assert (run.run_id, run.kind, run.status, Path(run.parameters["notebook"]).name) == (
        run_id,
        "report",
        "completed",
        NOTEBOOK.name,
    )
    assert images and images[0].value >= 5


@pytest.mark.slow
def test_report_cli_writes_notebook_and_offline_html(demo_copy: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(NOTEBOOK),
            "-p",
            "db_path",
            str(demo_copy.database),
            "-p",
            "max_faces",
            "3",
            "--reports-dir",
            str(tmp_path / "reports"),
        ],
    )
    assert result.exit_code == 0, result.output
    (html,) = (tmp_path / "reports").glob("04_manifest_report-*.html")
    (executed,) = (tmp_path / "reports").glob("04_manifest_report-*.ipynb")
    assert html.stem == executed.stem
    run_id = "report-" + html.stem.removeprefix("04_manifest_report-")
    check_report(html, executed, demo_copy.database, run_id)


@pytest.mark.slow
def test_report_flow_renders_under_prefect(prefect_harness, demo_copy: Settings, tmp_path: Path) -> None:
    report_flow = load_flow_from_entrypoint(str(PROJECT_ROOT / "flows" / "report.py") + ":report_flow")
    result = report_flow(
        notebook=NOTEBOOK, db_path=demo_copy.database, reports_dir=tmp_path / "out", parameters={"max_faces": 2}
    )
    assert Path(result["html"]).parent == tmp_path / "out"
    check_report(Path(result["html"]), Path(result["notebook"]), demo_copy.database, result["run_id"])


@pytest.mark.slow
def test_failing_notebook_raises_with_the_cell_and_marks_the_run_failed(settings: Settings, tmp_path: Path) -> None:
    notebook = tmp_path / "broken.ipynb"
    parameters = nbformat.v4.new_code_cell("db_path = ''")
    parameters.metadata["tags"] = ["parameters"]
    nbformat.write(nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell("1 / 0")]), notebook)
    with pytest.raises(ReportError, match="ZeroDivisionError"):
        run_report(notebook, parameters={}, settings=settings)
    with read_workspace(settings) as ws:
        (run,) = ws.runs.list(kind="report")
    assert run.status == "failed" and "ZeroDivisionError" in run.error


@pytest.mark.parametrize(
    ("tokens", "expected", "error"),
    [
        (
            ["-p", "db_path", "/tmp/x.duckdb", "-p", "max_faces", "3"],
            {"db_path": "/tmp/x.duckdb", "max_faces": 3},
            None,
        ),
        (["--parameter", "threshold", "0.45", "-p", "run_id", ""], {"threshold": 0.45, "run_id": ""}, None),
        (["-p", "db_path"], None, "expected `-p KEY VALUE`"),
        (["db_path", "x"], None, "expected `-p KEY VALUE`"),
    ],
)
def test_parse_parameters(tokens: list[str], expected: dict | None, error: str | None) -> None:
    if error:
        with pytest.raises(OptionError, match=error):
            parse_parameters(tokens)
    else:
        assert parse_parameters(tokens) == expected


@pytest.mark.parametrize(
    ("notebook", "parameters", "message"),
    [
        (Path("nope.ipynb"), {}, "no notebook at"),
        (
            NOTEBOOK,
            {"db_path": "/nonexistent/refbench.duckdb"},
            "no workspace database at /nonexistent/refbench.duckdb",
        ),
    ],
)
def test_missing_inputs_are_config_errors(settings: Settings, notebook: Path, parameters: dict, message: str) -> None:
    with pytest.raises(InputNotFound, match=message):
        run_report(notebook, parameters=parameters, settings=settings)
    assert not Path("/nonexistent").exists() and not settings.database.exists()


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"db_path": "data/x.duckdb"}, {"db_path": str(Path("data/x.duckdb").resolve())}),
        ({"images_dir": "/abs/photos", "max_faces": 3}, {"images_dir": "/abs/photos", "max_faces": 3}),
        ({"run_id": "manifest-1", "identities_file": ""}, {"run_id": "manifest-1", "identities_file": ""}),
    ],
)
def test_path_parameters_become_absolute(parameters: dict, expected: dict) -> None:
    """Notebooks run in their own folder: relative paths from the caller must survive the move."""
    assert absolute_paths(parameters) == expected


NOTEBOOK_04 = PROJECT_ROOT / "notebooks" / "04_manifest_report.ipynb"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('__import__("os").system("touch PWNED"); x', r"unknown parameter of 04_manifest_report.ipynb '__import__"),
        ("dbpath", r"unknown parameter of 04_manifest_report.ipynb 'dbpath'; did you mean 'db_path'\?"),
        ("max faces", r"did you mean 'max_faces'\?"),
    ],
)
def test_only_declared_parameter_names_reach_the_notebook(
    demo_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    """papermill writes parameter names into code as they are: an undeclared one is refused before anything runs."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["report", str(NOTEBOOK_04), "--db", str(demo_copy.database), "-p", name, "1"], env={"COLUMNS": "250"}
    )
    assert result.exit_code != 0 and isinstance(result.exception, UnknownNameError)
    assert re.search(message, str(result.exception)), str(result.exception)
    assert not (tmp_path / "PWNED").exists()
    with read_workspace(demo_copy) as ws:
        assert not ws.runs.list(kind="report")  # refused before a run was recorded

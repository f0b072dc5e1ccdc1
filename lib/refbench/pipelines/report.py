"""Parameterized notebook reports: papermill executes, nbconvert renders offline HTML, runs records.

papermill runs in a subprocess: inside a Prefect task its kernel client collides with the
task runner's event loop ("This event loop is already running", STACK.md). The HTML hides code
and embeds every figure as a base64 image, so a report reads offline; widgets are left out of
it (they need JavaScript from a CDN) — report notebooks show static figures of what matters.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from refbench.errors import InputError, InputNotFound, OptionError, ReportError, UnknownNameError
from refbench.registry import Workspace
from refbench.settings import REPORT_MODE_ENV, Settings
from refbench.types import Metric

KERNEL = "python3"
PATH_SUFFIXES = ("_path", "_dir", "_file")
CELL_TIMEOUT_S = 300  # a cell that hangs (e.g. a kernel that lost its channels) fails instead of waiting forever
# The lab template minus every <script> it would fetch from a CDN (require.js, MathJax, widgets, mermaid).
OFFLINE_TEMPLATE = (
    '{%- extends "lab/index.html.j2" -%}'
    "{%- block html_head_js -%}{%- endblock html_head_js -%}"
    "{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}"
)
# Widget state would pull JavaScript from a CDN at view time; reports carry static figures instead.
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
HEADING = re.compile(r"^#{1,2}\s+(.+)$", re.MULTILINE)
CELL_STARTED = re.compile(r"Executing Cell (\d+)-")  # papermill's --log-output line at each cell start


# nbconvert warns that figures lack alt text on every export; reports are read by people, not screen readers yet.
_QUIET_LOG = logging.getLogger("refbench.reports.nbconvert")
_QUIET_LOG.setLevel(logging.ERROR)


@dataclass(frozen=True)
class Report:
    """What a report run produced."""

    run_id: str
    notebook: Path
    html: Path
    seconds: float


def parse_parameters(tokens: Sequence[str]) -> dict[str, Any]:
    """``-p KEY VALUE`` pairs (papermill's CLI form) as a dict; values parsed as YAML scalars.

    Raises:
        OptionError: a token is not ``-p``/``--parameter`` or a pair is incomplete.
    """
    parameters: dict[str, Any] = {}
    rest = list(tokens)
    while rest:
        if rest[0] not in ("-p", "--parameter") or len(rest) < 3:
            raise OptionError(f"expected `-p KEY VALUE`, got {' '.join(rest[:3])!r}")
        _, key, value = rest[:3]
        parameters[key] = yaml.safe_load(value) if value else value
        rest = rest[3:]
    return parameters


def absolute_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """Path-like parameters (``*_path``, ``*_dir``, ``*_file``) made absolute from the caller's directory.

    Notebooks run in their own folder, as in Jupyter, so a relative path from the command line
    would otherwise point somewhere else.
    """
    return {
        key: str(Path(value).resolve()) if isinstance(value, str) and value and key.endswith(PATH_SUFFIXES) else value
        for key, value in parameters.items()
    }


def report_database(parameters: dict[str, Any], settings: Settings) -> Path:
    """The workspace a report reads (its ``db_path`` parameter, else the settings'): where its run is recorded."""
    return Path(parameters["db_path"]) if parameters.get("db_path") else settings.database


def run_report(
    notebook: Path,
    *,
    parameters: dict[str, Any],
    settings: Settings,
    timeout_s: int = 900,
    on_cell: CellCallback | None = None,
) -> Report:
    """Execute ``notebook`` with ``parameters`` and write ``reports/<name>-<run>.ipynb`` and ``.html``.

    The run is recorded in the workspace the report reads (``runs`` kind ``report``); the database
    is closed while the notebook runs, because DuckDB lets no reader in beside a writer. ``on_cell``
    hears of each cell as it starts (progress).

    Raises:
        InputNotFound: the notebook, or the database its ``db_path`` parameter names, does not exist.
        ReportError: a cell raised, or papermill did not finish within ``timeout_s``.
    """
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise InputNotFound(f"no notebook at {notebook}")
    check_parameter_names(notebook, parameters)
    parameters = absolute_paths(parameters)
    database = report_database(parameters, settings)
    if parameters.get("db_path") and not database.is_file():
        raise InputNotFound(f"no workspace database at {database} (parameter db_path)")
    out_dir = settings.reports_dir or settings.for_database(database).reports
    out_dir.mkdir(parents=True, exist_ok=True)
    with Workspace.open(database) as ws:  # closed again before the notebook's kernel opens it
        run_id = ws.runs.start("report", {"notebook": str(notebook), **parameters}).run_id
    stem = f"{notebook.stem}-{run_id.removeprefix('report-')}"
    executed, html_path = out_dir / f"{stem}.ipynb", out_dir / f"{stem}.html"
    start = time.perf_counter()
    try:
        execute_notebook(notebook, executed, parameters=parameters, timeout_s=timeout_s, on_cell=on_cell)
        executed_s = time.perf_counter() - start
        n_images = write_html(executed, html_path)
    except BaseException as error:
        _record_end(database, run_id, error=f"{type(error).__name__}: {error}")
        raise
    seconds = time.perf_counter() - start
    _record_end(
        database,
        run_id,
        metrics=[
            Metric("seconds_execute", executed_s, "s"),
            Metric("seconds_total", seconds, "s"),
            Metric("html_bytes", html_path.stat().st_size, "bytes"),
            Metric("embedded_images", n_images, "images"),
        ],
        artifacts={executed: "report_notebook", html_path: "report_html"},
    )
    return Report(run_id, executed, html_path, seconds)


def _record_end(
    database: Path,
    run_id: str,
    *,
    error: str | None = None,
    metrics: Sequence[Metric] = (),
    artifacts: dict[Path, str] | None = None,
) -> None:
    """Close a report's run: status, metrics and the files it wrote."""
    with Workspace.open(database) as ws:
        run = ws.runs.tracked(run_id)
        run.log_many(metrics)
        for path, kind in (artifacts or {}).items():
            ws.artifacts.add([path], kind=kind, run_id=run_id)
        run.finish(status="failed" if error else "completed", error=error)


@dataclass(frozen=True)
class CellProgress:
    """A cell papermill starts: its 1-based position among the executed notebook's cells, and its first line."""

    index: int
    total: int
    source: str


CellCallback = Callable[[CellProgress], None]


def execute_notebook(
    notebook: Path,
    output: Path,
    *,
    parameters: dict[str, Any],
    timeout_s: int,
    cell_timeout_s: int = CELL_TIMEOUT_S,
    on_cell: CellCallback | None = None,
) -> None:
    """Run papermill in a fresh Python process (never in this one's event loop), in the notebook's folder.

    The kernel runs in report mode (``REFBENCH_REPORT_MODE=1``): explorers render static stills instead of
    widgets. ``on_cell`` hears of every cell as it starts, read from papermill's log as it is written.

    Raises:
        ReportError: a cell raised (papermill's message names it) or time ran out.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(parameters, handle)
    command = [
        *(sys.executable, "-m", "papermill", str(notebook), str(output), "-f", handle.name, "-k", KERNEL),
        *("--cwd", str(Path(notebook).resolve().parent), "--execution-timeout", str(cell_timeout_s)),
        *("--log-output", "--log-level", "INFO"),  # "Executing Cell N" lines: progress per cell
    ]
    sources = _cell_sources(notebook, injected=bool(parameters))
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env={**os.environ, REPORT_MODE_ENV: "1"},
    )
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(timeout_s, stop)  # reading the log blocks: the timer ends a stuck run
    watchdog.start()
    try:
        log = _follow_cells(process, sources, on_cell)
        returncode = process.wait()
    finally:
        watchdog.cancel()
        Path(handle.name).unlink(missing_ok=True)
    if timed_out.is_set():
        raise ReportError(f"{notebook} did not finish within {timeout_s} s ({output} holds the partial run)")
    if returncode != 0:
        raise ReportError(f"{notebook} failed ({output} holds the partial run): {_papermill_error(log)}")


def _follow_cells(process: subprocess.Popen, sources: list[str], on_cell: CellCallback | None) -> str:
    """Read papermill's log to its end, calling ``on_cell`` at each cell start; returns the log."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        started = CELL_STARTED.search(line)
        if started and on_cell:
            index = int(started.group(1))
            on_cell(CellProgress(index, len(sources), sources[index - 1] if index <= len(sources) else ""))
    return "".join(lines)


def _cell_sources(notebook: Path, *, injected: bool) -> list[str]:
    """First line of each cell as papermill numbers them (its injected parameters cell follows ``parameters``)."""
    cells = nbformat.read(notebook, as_version=4).cells
    sources = [(c.source.strip().splitlines() or [""])[0] for c in cells]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if injected:
        sources.insert(tagged[0] + 1 if tagged else 0, "# Parameters (injected)")
    return sources


def _papermill_error(stderr: str) -> str:
    """The part of papermill's stderr that names the failing cell and exception."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    marker = next(
        (
            i
            for i, line in enumerate(lines)
            if "PapermillExecutionError" in line or "An Exception was encountered at" in line
        ),
        None,
    )
    return " | ".join(lines[marker:][:12] if marker is not None else lines[-6:])


def write_html(executed: Path, html_path: Path) -> int:
    """Render an executed notebook as self-contained HTML without code; returns the embedded images.

    Widget views and CDN scripts are dropped; matplotlib and image outputs stay as base64 ``<img>``, so
    the file reads offline.
    """
    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.pop("widgets", None)
    n_images = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            data.pop(WIDGET_MIME, None)
            n_images += any(key.startswith("image/") for key in data) + data.get("text/html", "").count("data:image/")
    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        log=_QUIET_LOG,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": report_title(notebook)}})
    html_path.write_text(body, encoding="utf-8")
    return n_images


def report_title(notebook: nbformat.NotebookNode) -> str:
    """The report's first heading (from a markdown cell or a markdown output), else the notebook's name."""
    for cell in notebook.cells:
        texts = [cell.source] if cell.cell_type == "markdown" else []
        texts += [o.get("data", {}).get("text/markdown", "") for o in cell.get("outputs", [])]
        for text in texts:
            heading = HEADING.search(text)
            if heading:
                return heading.group(1).replace("`", "").strip()
    return notebook.metadata.get("papermill", {}).get("input_path", "report").rsplit("/", 1)[-1]


def notebook_parameters(notebook: Path) -> dict[str, str]:
    """Names and default source text of a notebook's ``parameters`` cell, as papermill reads them.

    Raises:
        InputError: the notebook has no cell tagged ``parameters``, or more than one.
    """
    from papermill.translators import PythonTranslator  # the notebooks run the python3 kernel

    cells = [c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise InputError(f"{notebook} has {len(cells)} cells tagged 'parameters'; papermill needs exactly one")
    return {parameter.name: parameter.default for parameter in PythonTranslator.inspect(cells[0])}


def check_parameter_names(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse a parameter the notebook does not declare: papermill writes each name into code as it is, so an
    undeclared name would be silently ignored at best and run as code at worst.

    Raises:
        UnknownNameError: with the declared names that come closest (``dbpath`` → ``db_path``).
    """
    declared = notebook_parameters(notebook)
    for name in parameters:
        if name not in declared or not name.isidentifier():
            raise UnknownNameError(f"parameter of {notebook.name}", name, declared)

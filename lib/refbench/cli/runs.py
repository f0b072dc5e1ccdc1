"""Commands of run tracking and reports: ``runs list``, ``runs compare A B``, ``report NOTEBOOK -p K V``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from refbench.cli.app import CONTEXT, DbOption, app, console, settings_for

runs_app = typer.Typer(
    help="Runs of flows, notebooks and reports: list and compare.", no_args_is_help=True, context_settings=CONTEXT
)
app.add_typer(runs_app, name="runs")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _usd(value: Any) -> str:
    """An estimated cost (``cost_usd*`` metrics of plan runs) in dollars."""
    return f"${value:.2f}" if isinstance(value, (int, float)) else _cell(value)


@runs_app.command("list")
def runs_list(
    db: DbOption = None,
    kind: Annotated[str | None, typer.Option(help="Only runs of this kind (manifest, report, ...).")] = None,
    limit: Annotated[int, typer.Option(help="Newest N runs.")] = 30,
) -> None:
    """Runs, newest first, with duration and headline metrics."""
    from rich.table import Table

    from refbench.pipelines.read import list_runs

    rows = list_runs(settings_for(db), kind=kind, limit=limit)
    table = Table("run", "kind", "status", "started (UTC)", "seconds", "images", "faces", "identities")
    failures = any(run.error for run in rows)
    if failures:
        table.add_column("why it failed", overflow="fold")
    for run in rows:
        table.add_row(
            run.run_id,
            run.kind,
            run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            _cell(run.duration_s),
            *[_cell(run.metrics.get(k)) for k in ("images_total", "faces", "identities")],
            *([reason(run.error)] if failures else []),
            style="red" if run.status == "failed" else None,
        )
    console.print(table)


def reason(error: str | None, *, limit: int = 160) -> str:
    """A failed run's error as one short line."""
    text = " ".join((error or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@runs_app.command("compare")
def runs_compare(
    a: Annotated[str, typer.Argument(help="First run id (or unique prefix).")],
    b: Annotated[str, typer.Argument(help="Second run id (or unique prefix).")],
    db: DbOption = None,
    only_differences: Annotated[bool, typer.Option(help="Show only the lines where the runs differ.")] = False,
) -> None:
    """Two runs side by side: parameters, metrics and versions; differing lines in bold."""
    from rich.markup import escape
    from rich.table import Table

    from refbench.pipelines.read import compare_runs

    comparison = compare_runs(settings_for(db), a, b)
    table = Table("section", "name", comparison.a.run_id, comparison.b.run_id, title="runs compared")
    for row in comparison.differences() if only_differences else comparison.rows:
        style = "bold yellow" if row.differs else None
        cell = _usd if row.name.startswith("cost_usd") else _cell
        table.add_row(row.section, row.name, cell(row.a), cell(row.b), style=style)
    console.print(table)
    console.print(f"{len(comparison.differences())} of {len(comparison.rows)} lines differ")
    for run in (comparison.a, comparison.b):
        if run.error:
            console.print(f"[red]{run.run_id} failed:[/red] {escape(reason(run.error, limit=400))}", soft_wrap=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def report(
    ctx: typer.Context,
    notebook: Annotated[Path, typer.Argument(help="Notebook with a cell tagged `parameters`.")],
    db: Annotated[
        Path | None, typer.Option(help="Workspace to record the run in (default: db_path parameter).")
    ] = None,
    reports_dir: Annotated[
        Path | None, typer.Option(help="Output folder (default: reports/ beside the workspace).")
    ] = None,
) -> None:
    """Execute a notebook with `-p KEY VALUE ...` and write reports/<name>-<run>.ipynb and .html."""
    from refbench.cli.progress import progress
    from refbench.pipelines.report import CellProgress, parse_parameters, run_report

    parameters = parse_parameters(ctx.args)
    settings = settings_for(db)
    if reports_dir:
        settings = settings.model_copy(update={"reports_dir": reports_dir})
    if db and "db_path" not in parameters:
        parameters["db_path"] = str(db)
    with progress(f"report {notebook.stem}") as advance:

        def on_cell(cell: CellProgress) -> None:
            advance(cell.index - 1, cell.total, f"cell {cell.index}: {cell.source}")

        result = run_report(notebook, parameters=parameters, settings=settings, on_cell=on_cell)
    console.print(
        f"report {result.run_id} ({result.seconds:.1f} s)\n  notebook: {result.notebook}\n  html:     {result.html}"
    )

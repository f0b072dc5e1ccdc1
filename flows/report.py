"""Prefect flow of a notebook report: papermill (in a subprocess) → .ipynb + offline HTML, run recorded.

``python flows/report.py notebooks/04_manifest_report.ipynb`` or the ``manifest-report`` deployment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE
from refbench.errors import RefbenchError
from refbench.pipelines.prefect_artifacts import failed, publish
from refbench.pipelines.report import CellProgress, run_report
from refbench.settings import Settings


@task(name="render-report", cache_policy=NO_CACHE, task_run_name="render-{notebook.name}")
def render_task(notebook: Path, parameters: dict, settings: Settings) -> dict:
    """Execute and render one notebook (papermill runs in its own process, away from this event loop)."""
    logger = get_run_logger()

    def on_cell(cell: CellProgress) -> None:
        logger.info("cell %d/%d: %s", cell.index, cell.total, cell.source)

    report = run_report(notebook, parameters=parameters, settings=settings, on_cell=on_cell)
    return {
        "run_id": report.run_id,
        "notebook": str(report.notebook),
        "html": str(report.html),
        "seconds": report.seconds,
    }


@flow(name="report", log_prints=True)
def report_flow(
    notebook: Path = Path("notebooks/04_manifest_report.ipynb"),
    parameters: dict | None = None,
    db_path: Path | None = None,
    reports_dir: Path | None = None,
) -> dict:
    """Run a parameterized notebook as a report under ``reports/``.

    Args:
        notebook: notebook with one cell tagged ``parameters``.
        parameters: papermill parameters; ``db_path`` is filled in from ``db_path`` when missing.
        db_path: workspace the report reads and records its run in; default the settings'.
        reports_dir: output folder; default ``reports/``.

    Returns:
        The report's run id, output paths and seconds.
    """
    settings = Settings().for_database(db_path)
    if reports_dir:
        settings = settings.model_copy(update={"reports_dir": Path(reports_dir)})
    parameters = {"db_path": str(settings.database), **(parameters or {})}
    try:
        result = render_task(Path(notebook), parameters, settings)
    except RefbenchError as error:
        return failed(error)
    rows = [("notebook", f"`{notebook}`"), ("html", f"`{result['html']}`"), ("seconds", f"{result['seconds']:.1f}")]
    html = Path(result["html"]).resolve()
    create_link_artifact(link=html.as_uri(), link_text=html.name, key="report-html")
    publish(key="report-summary", title=f"report {result['run_id']}", rows=rows, metrics=[], image=None)
    get_run_logger().info("report %s written to %s", result["run_id"], result["html"])
    return result


if __name__ == "__main__":
    report_flow(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("notebooks/04_manifest_report.ipynb"))

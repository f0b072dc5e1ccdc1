"""Prefect flow of the verification calibration: ``refbench calibrate`` as a task, logged to DuckDB.

Run it locally with
``python flows/calibrate.py data/samples/identities.csv data/samples/photos insightface``
or through a deployment (``prefect.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from refbench.errors import RefbenchError
from refbench.identity.calibration import summary_metrics
from refbench.names import FaceModel
from refbench.pipelines.calibrate import CalibrationOutcome, run_calibration
from refbench.pipelines.prefect_artifacts import failed, publish
from refbench.settings import Settings

# Embedding, metrics, plots and the DuckDB writes are one library call: the run it records is the CLI's.
calibrate_task = task(run_calibration, name="calibrate", cache_policy=NO_CACHE)


@flow(name="calibrate", log_prints=True)
def calibrate_flow(
    images_dir: Path,
    identities_file: Path | None = None,
    pairs_file: Path | None = None,
    face_model: FaceModel | None = None,
    distractors_dir: Path | None = None,
    db_path: Path | None = None,
    reports_dir: Path | None = None,
    set_default: bool = True,
) -> dict:
    """Calibrate a face model's same-person threshold on labelled photos and log the metrics to DuckDB.

    Args:
        images_dir: folder the labelled file names are relative to.
        identities_file: CSV ``file,identity`` (all pairs are formed); or give ``pairs_file``.
        pairs_file: CSV ``a,b,same``.
        face_model: face model backend; default the settings' (``REFBENCH_FACE_MODEL``).
        distractors_dir: photos of other people whose faces add different-person pairs.
        db_path: DuckDB workspace file; default ``REFBENCH_DB_PATH`` or ``data/refbench.duckdb``.
        reports_dir: where plots go (under ``calibration/``); default the settings' reports folder.
        set_default: make the recommended threshold the workspace default of ``face_model``.

    Returns:
        Run id, calibration id, the headline figures and the plot paths, as plain values.
    """
    overrides = {k: v for k, v in {"db_path": db_path, "reports_dir": reports_dir}.items() if v is not None}
    settings = Settings(**overrides)
    try:
        outcome: CalibrationOutcome = calibrate_task(
            settings,
            images_dir=Path(images_dir),
            pairs_file=pairs_file,
            identities_file=identities_file,
            distractors_dir=distractors_dir,
            face_model=face_model,
            set_default=set_default,
            extra_parameters={"orchestrator": "prefect"},
        )
    except RefbenchError as error:
        return failed(error)
    m = outcome.calibration.metrics
    publish(
        key="calibration-summary",
        title=f"calibration {outcome.calibration.calibration_id}",
        rows=[
            ("face model", outcome.calibration.face_model),
            ("pairs same / different", f"{m.n_genuine} / {m.n_impostor}"),
            ("AUC / EER", f"{m.auc:.4f} / {m.eer:.4f}"),
            ("recommended threshold", f"{outcome.calibration.recommended_threshold:.3f}"),
        ],
        metrics=summary_metrics(outcome.calibration),
        image=outcome.plots[0] if outcome.plots else None,  # the ROC with its operating point
    )
    get_run_logger().info(
        "calibration %s: AUC %.4f, EER %.4f, recommended threshold %.3f",
        outcome.calibration.calibration_id,
        m.auc,
        m.eer,
        outcome.calibration.recommended_threshold,
    )
    return {
        "run_id": outcome.run_id,
        "calibration_id": outcome.calibration.calibration_id,
        "face_model": outcome.calibration.face_model,
        "auc": m.auc,
        "eer": m.eer,
        "eer_threshold": m.eer_threshold,
        "best_accuracy": m.best_accuracy,
        "recommended_threshold": outcome.calibration.recommended_threshold,
        "accuracy_at_current": m.accuracy_at_current,
        "best_cluster_threshold": outcome.best_cluster_threshold,
        "workspace_bcubed_f1": outcome.manifest_clusters.bcubed_f1 if outcome.manifest_clusters else None,
        "n_no_face": len(outcome.calibration.no_face),
        "plots": [str(path) for path in outcome.plots],
        "database": str(settings.database),
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    calibrate_flow(
        images_dir=Path(args[1] if len(args) > 1 else "data/samples/photos"),
        identities_file=Path(args[0] if args else "data/samples/identities.csv"),
        face_model=args[2] if len(args) > 2 else None,
    )

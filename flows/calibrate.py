"""Prefect flow of the verification calibration: the same library steps as ``refbench calibrate``, as tasks.

Run it locally with
``python flows/calibrate.py data/samples/identities.csv data/samples/photos insightface``
or through a deployment. Every DuckDB write happens in the flow process (DuckDB has a single writer).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from refbench import store
from refbench.calibration import (
    Calibration,
    EmbeddedImages,
    LabeledPair,
    calibrate,
    embed_distractors,
    embed_images,
    save_calibration,
    summary_rows,
)
from refbench.calibration_plots import save_calibration_plots
from refbench.calibration_run import (
    cluster_sweep,
    labelled_pairs,
    manifest_cluster_rows,
    sweep_rows,
    workspace_cluster_scores,
)
from refbench.cluster_metrics import SweepPoint, best_sweep_point
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.manifest import new_run_id, resolve_threshold
from refbench.settings import Settings
from refbench.versions import git_commit, package_versions


@task(name="load-labels", cache_policy=NO_CACHE)
def load_labels_task(
    pairs_file: Path | None, identities_file: Path | None
) -> tuple[list[LabeledPair], dict[str, str] | None, Path]:
    """Labelled pairs from a pairs or an identities file."""
    return labelled_pairs(pairs_file=pairs_file, identities_file=identities_file)


@task(name="embed-images", cache_policy=NO_CACHE)
def embed_task(pairs: list[LabeledPair], images_dir: Path, analyzer: FaceAnalyzer) -> EmbeddedImages:
    """Largest-face embedding of every labelled image."""
    return embed_images([f for p in pairs for f in (p.a, p.b)], images_dir=images_dir, analyzer=analyzer)


@task(name="embed-distractors", cache_policy=NO_CACHE)
def distractors_task(folder: Path, analyzer: FaceAnalyzer) -> dict:
    """Every face of the distractor photos."""
    return embed_distractors(folder, analyzer=analyzer)


@task(name="verification-metrics", cache_policy=NO_CACHE)
def metrics_task(
    pairs: list[LabeledPair],
    embedded: EmbeddedImages,
    distractors: dict | None,
    images_dir: Path,
    analyzer: FaceAnalyzer,
    current_threshold: float,
    source: str,
) -> Calibration:
    """ROC, AUC, EER, FAR thresholds and accuracy of the scored pairs."""
    return calibrate(
        pairs,
        images_dir=images_dir,
        analyzer=analyzer,
        current_threshold=current_threshold,
        source=source,
        embedded=embedded,
        distractors=distractors,
    )


@task(name="cluster-sweep", cache_policy=NO_CACHE)
def sweep_task(embedded: EmbeddedImages, identities: dict[str, str]) -> list[SweepPoint]:
    """BCubed / pairwise F1 of the identity clustering against its threshold."""
    return cluster_sweep(embedded, identities)


@task(name="plots", cache_policy=NO_CACHE)
def plots_task(calibration: Calibration, folder: Path, sweep: list[SweepPoint]) -> list[Path]:
    """ROC, histogram and sweep PNGs."""
    return save_calibration_plots(calibration, folder, threshold=calibration.recommended_threshold, sweep=sweep)


@flow(name="calibrate", log_prints=True)
def calibrate_flow(
    images_dir: Path,
    identities_file: Path | None = None,
    pairs_file: Path | None = None,
    face_model: str = "insightface",
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
        face_model: face model backend.
        distractors_dir: photos of other people whose faces add different-person pairs.
        db_path: DuckDB workspace file; default ``REFBENCH_DB_PATH`` or ``data/refbench.duckdb``.
        reports_dir: where plots go (under ``calibration/``); default the settings' reports folder.
        set_default: make the recommended threshold the workspace default of ``face_model``.

    Returns:
        Run id, calibration id, the headline figures and the plot paths, as plain values.
    """
    overrides = {k: v for k, v in {"db_path": db_path, "reports_dir": reports_dir}.items() if v is not None}
    settings = Settings(**overrides)
    pairs, identities, source = load_labels_task(pairs_file, identities_file)
    analyzer = create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
    current = resolve_threshold(settings, analyzer.name)
    run_id = new_run_id("calibrate")
    con = store.connect(settings.database)
    try:
        store.start_run(
            con,
            run_id=run_id,
            kind="calibrate",
            parameters={
                "source": str(source),
                "images_dir": str(images_dir),
                "face_model": analyzer.name,
                "distractors_dir": str(distractors_dir) if distractors_dir else None,
                "set_default": set_default,
                "orchestrator": "prefect",
            },
            versions=package_versions(),
            git_commit=git_commit(),
            execution_provider=analyzer.execution_provider,
        )
        embedded = embed_task(pairs, Path(images_dir), analyzer)
        distractors = distractors_task(Path(distractors_dir), analyzer) if distractors_dir else None
        calibration = metrics_task(pairs, embedded, distractors, Path(images_dir), analyzer, current, str(source))
        sweep = sweep_task(embedded, identities) if identities else []
        plots = plots_task(calibration, settings.reports_dir / "calibration", sweep)
        clusters = workspace_cluster_scores(con, identities, face_model=analyzer.name)
        save_calibration(con, calibration, run_id=run_id, set_default=set_default)
        store.log_metrics(
            con, run_id, [*summary_rows(calibration), *sweep_rows(sweep), *manifest_cluster_rows(clusters)]
        )
        store.insert_rows(
            con, "artifacts", [{"path": str(p), "kind": "calibration_plot", "run_id": run_id} for p in plots]
        )
        store.finish_run(con, run_id, status="completed")
    except BaseException as error:
        store.finish_run(con, run_id, status="failed", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        con.close()
    m = calibration.metrics
    get_run_logger().info(
        "calibration %s: AUC %.4f, EER %.4f, recommended threshold %.3f",
        calibration.calibration_id,
        m.auc,
        m.eer,
        calibration.recommended_threshold,
    )
    return {
        "run_id": run_id,
        "calibration_id": calibration.calibration_id,
        "face_model": analyzer.name,
        "auc": m.auc,
        "eer": m.eer,
        "eer_threshold": m.eer_threshold,
        "best_accuracy": m.best_accuracy,
        "recommended_threshold": calibration.recommended_threshold,
        "accuracy_at_current": m.accuracy_at_current,
        "best_cluster_threshold": best_sweep_point(sweep).threshold if sweep else None,
        "workspace_bcubed_f1": clusters.bcubed_f1 if clusters else None,
        "n_no_face": len(calibration.no_face),
        "plots": [str(p) for p in plots],
        "database": str(settings.database),
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    calibrate_flow(
        images_dir=Path(args[1] if len(args) > 1 else "data/samples/photos"),
        identities_file=Path(args[0] if args else "data/samples/identities.csv"),
        face_model=args[2] if len(args) > 2 else "insightface",
    )

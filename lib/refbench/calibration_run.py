"""One calibration run end to end (labels → embeddings → metrics → sweep → plots → DuckDB), for the CLI.

``flows/calibrate.py`` runs the same library steps as Prefect tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from refbench import store
from refbench.calibration import (
    Calibration,
    EmbeddedImages,
    LabeledPair,
    calibrate,
    embed_distractors,
    embed_images,
    load_identities,
    load_pairs,
    pairs_from_identities,
    save_calibration,
    summary_rows,
)
from refbench.calibration_plots import save_calibration_plots
from refbench.cluster_metrics import (
    ClusterScores,
    SweepPoint,
    best_sweep_point,
    manifest_cluster_scores,
    threshold_sweep,
)
from refbench.errors import ConfigError
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.manifest import resolve_threshold
from refbench.settings import Settings

SWEEP_THRESHOLDS = np.round(np.arange(0.05, 0.905, 0.01), 2)


@dataclass
class CalibrationOutcome:
    """What a calibration run produced."""

    run_id: str
    calibration: Calibration
    sweep: list[SweepPoint] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    threshold_set: bool = False
    manifest_clusters: ClusterScores | None = None  # the workspace's identities vs the labels, when it has faces

    @property
    def best_cluster_threshold(self) -> float | None:
        """The clustering threshold of highest BCubed F1 (``None`` without identities)."""
        return best_sweep_point(self.sweep).threshold if self.sweep else None


def labelled_pairs(
    *, pairs_file: Path | None, identities_file: Path | None
) -> tuple[list[LabeledPair], dict[str, str] | None, Path]:
    """Pairs from exactly one of a pairs file or an identities file; returns (pairs, identities or None, source)."""
    if (pairs_file is None) == (identities_file is None):
        raise ConfigError("give exactly one of a pairs file (a,b,same) or an identities file (file,identity)")
    if pairs_file is not None:
        return load_pairs(pairs_file), None, pairs_file
    identities = load_identities(identities_file)
    return pairs_from_identities(identities), identities, identities_file


def cluster_sweep(embedded: EmbeddedImages, identities: dict[str, str]) -> list[SweepPoint]:
    """F1 of the identity clustering vs threshold over the labelled images that have a face."""
    files = [f for f in identities if f in embedded.embeddings]
    if len(files) < 2:
        return []
    embeddings = np.stack([embedded.embeddings[f] for f in files])
    return threshold_sweep(embeddings, [identities[f] for f in files], SWEEP_THRESHOLDS)


def sweep_rows(points: list[SweepPoint]) -> list[tuple]:
    """Metric rows (name, value, unit, step, label) of a sweep; step is the threshold in hundredths."""
    return [
        row
        for p in points
        for row in (
            ("cluster_bcubed_f1", p.scores.bcubed_f1, "ratio", round(p.threshold * 100), f"{p.threshold:.2f}"),
            ("cluster_pairwise_f1", p.scores.pairwise_f1, "ratio", round(p.threshold * 100), f"{p.threshold:.2f}"),
        )
    ]


def workspace_cluster_scores(
    con: duckdb.DuckDBPyConnection, identities: dict[str, str] | None, *, face_model: str
) -> ClusterScores | None:
    """Cluster quality of the workspace's identities against the labels; ``None`` when it has no such faces."""
    if not identities:
        return None
    try:
        return manifest_cluster_scores(con, identities, face_model=face_model)
    except ConfigError:  # the manifest has not run on these photos with this model: nothing to score
        return None


def manifest_cluster_rows(scores: ClusterScores | None) -> list[tuple]:
    """Metric rows of the workspace's cluster quality."""
    if scores is None:
        return []
    return [
        ("manifest_bcubed_f1", scores.bcubed_f1, "ratio"),
        ("manifest_pairwise_f1", scores.pairwise_f1, "ratio"),
        ("manifest_purity", scores.purity, "ratio"),
        ("manifest_clusters", scores.n_clusters, "clusters"),
    ]


def run_calibration(
    settings: Settings,
    *,
    images_dir: Path,
    pairs_file: Path | None = None,
    identities_file: Path | None = None,
    distractors_dir: Path | None = None,
    face_model: str = "insightface",
    set_default: bool = True,
    analyzer: FaceAnalyzer | None = None,
    extra_parameters: dict[str, str] | None = None,
) -> CalibrationOutcome:
    """Calibrate ``face_model`` on labelled images, store it (and maybe the new default), write plots.

    ``distractors_dir`` holds photos of people absent from the labels (group photos): each face in it
    adds different-person pairs.
    """
    pairs, identities, source = labelled_pairs(pairs_file=pairs_file, identities_file=identities_file)
    if not images_dir.is_dir():
        raise ConfigError(f"image folder not found: {images_dir}")
    if distractors_dir is not None and not distractors_dir.is_dir():
        raise ConfigError(f"distractor folder not found: {distractors_dir}")
    analyzer = analyzer or create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
    current = resolve_threshold(settings, analyzer.name)
    run_id = store.new_run_id("calibrate")
    con = store.connect(settings.database)
    parameters = {
        "source": str(source),
        "images_dir": str(images_dir),
        "face_model": analyzer.name,
        "distractors_dir": str(distractors_dir) if distractors_dir else None,
        "set_default": set_default,
        **(extra_parameters or {}),
    }
    try:
        with store.tracked_run(
            con, run_id=run_id, kind="calibrate", parameters=parameters, execution_provider=analyzer.execution_provider
        ):
            embedded = embed_images([f for p in pairs for f in (p.a, p.b)], images_dir=images_dir, analyzer=analyzer)
            distractors = embed_distractors(distractors_dir, analyzer=analyzer) if distractors_dir else None
            calibration = calibrate(
                pairs,
                images_dir=images_dir,
                analyzer=analyzer,
                current_threshold=current,
                source=str(source),
                embedded=embedded,
                distractors=distractors,
            )
            outcome = CalibrationOutcome(run_id, calibration, threshold_set=set_default)
            outcome.sweep = cluster_sweep(embedded, identities) if identities else []
            outcome.manifest_clusters = workspace_cluster_scores(con, identities, face_model=analyzer.name)
            outcome.plots = save_calibration_plots(
                calibration,
                settings.reports_dir / "calibration",
                threshold=calibration.recommended_threshold,
                sweep=outcome.sweep,
            )
            save_calibration(con, calibration, run_id=run_id, set_default=set_default)
            store.log_metrics(
                con,
                run_id,
                [
                    *summary_rows(calibration),
                    *sweep_rows(outcome.sweep),
                    *manifest_cluster_rows(outcome.manifest_clusters),
                ],
            )
            store.insert_rows(
                con,
                "artifacts",
                [{"path": str(p), "kind": "calibration_plot", "run_id": run_id} for p in outcome.plots],
            )
    finally:
        con.close()
    return outcome

"""One calibration run end to end (labels → embeddings → metrics → sweep → plots → DuckDB), for the CLI.

``flows/calibrate.py`` runs the same library steps as Prefect tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from refbench.errors import CalibrationError, InputNotFound
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.identity.calibration import (
    Calibration,
    EmbeddedImages,
    LabeledPair,
    calibrate,
    embed_distractors,
    embed_images,
    load_identities,
    load_pairs,
    pairs_from_identities,
    summary_metrics,
)
from refbench.identity.metrics import ClusterScores, SweepPoint, best_sweep_point, largest_face_scores, threshold_sweep
from refbench.identity.plots import save_calibration_plots
from refbench.pipelines.common import face_threshold
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Metric, Progress

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
        raise CalibrationError("give exactly one of a pairs file (a,b,same) or an identities file (file,identity)")
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


def sweep_metrics(points: list[SweepPoint]) -> list[Metric]:
    """Metrics of a sweep, one per threshold: step is the threshold in hundredths, label the threshold."""
    return [
        Metric(name, value, "ratio", round(p.threshold * 100), f"{p.threshold:.2f}")
        for p in points
        for name, value in (("cluster_bcubed_f1", p.scores.bcubed_f1), ("cluster_pairwise_f1", p.scores.pairwise_f1))
    ]


def workspace_cluster_scores(
    ws: Workspace, identities: dict[str, str] | None, *, face_model: str
) -> ClusterScores | None:
    """Cluster quality of the workspace's identities against the labels; ``None`` when it has no such faces."""
    if not identities:
        return None
    try:
        return largest_face_scores(identities, ws.faces.largest_per_image(face_model))
    except CalibrationError:  # the manifest has not run on these photos with this model: nothing to score
        return None


def manifest_cluster_metrics(scores: ClusterScores | None) -> list[Metric]:
    """Metrics of the workspace's cluster quality."""
    if scores is None:
        return []
    return [
        Metric("manifest_bcubed_f1", scores.bcubed_f1, "ratio"),
        Metric("manifest_pairwise_f1", scores.pairwise_f1, "ratio"),
        Metric("manifest_purity", scores.purity, "ratio"),
        Metric("manifest_clusters", scores.n_clusters, "clusters"),
    ]


def run_calibration(
    settings: Settings,
    *,
    images_dir: Path,
    pairs_file: Path | None = None,
    identities_file: Path | None = None,
    distractors_dir: Path | None = None,
    face_model: str | None = None,
    set_default: bool = True,
    analyzer: FaceAnalyzer | None = None,
    extra_parameters: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> CalibrationOutcome:
    """Calibrate ``face_model`` (default: the settings') on labelled images, store it (and maybe the new
    default), write plots.

    ``distractors_dir`` holds photos of people absent from the labels (group photos): each face in it
    adds different-person pairs.
    """
    pairs, identities, source = labelled_pairs(pairs_file=pairs_file, identities_file=identities_file)
    if not images_dir.is_dir():
        raise InputNotFound(f"image folder not found: {images_dir}")
    if distractors_dir is not None and not distractors_dir.is_dir():
        raise InputNotFound(f"distractor folder not found: {distractors_dir}")
    analyzer = analyzer or create_face_analyzer(
        face_model or settings.face_model, model_dir=settings.models, providers=settings.providers
    )
    parameters = {
        "source": str(source),
        "images_dir": str(images_dir),
        "face_model": analyzer.name,
        "distractors_dir": str(distractors_dir) if distractors_dir else None,
        "set_default": set_default,
        **(extra_parameters or {}),
    }
    limits = settings.image_limits
    with (
        Workspace.open(settings) as ws,
        ws.runs.track("calibrate", parameters, execution_provider=analyzer.execution_provider) as run,
    ):
        current = face_threshold(ws, analyzer.name).value
        files = [f for p in pairs for f in (p.a, p.b)]
        embedded = embed_images(files, images_dir=images_dir, analyzer=analyzer, limits=limits, progress=progress)
        distractors = (
            embed_distractors(distractors_dir, analyzer=analyzer, limits=limits, progress=progress)
            if distractors_dir
            else None
        )
        calibration = calibrate(
            pairs,
            images_dir=images_dir,
            analyzer=analyzer,
            current_threshold=current,
            source=str(source),
            embedded=embedded,
            distractors=distractors,
        )
        outcome = CalibrationOutcome(run.run_id, calibration, threshold_set=set_default)
        outcome.sweep = cluster_sweep(embedded, identities) if identities else []
        outcome.manifest_clusters = workspace_cluster_scores(ws, identities, face_model=analyzer.name)
        outcome.plots = save_calibration_plots(
            calibration,
            settings.reports / "calibration",
            threshold=calibration.recommended_threshold,
            sweep=outcome.sweep,
        )
        ws.calibrations.save(calibration, run_id=run.run_id, set_default=set_default)
        run.log_many(
            [
                *summary_metrics(calibration),
                *sweep_metrics(outcome.sweep),
                *manifest_cluster_metrics(outcome.manifest_clusters),
            ]
        )
        ws.artifacts.add(outcome.plots, kind="calibration_plot", run_id=run.run_id)
    return outcome

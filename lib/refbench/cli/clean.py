"""``refbench clean``: clean reference sheets of registered assets, beside the originals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import CleanTier, DbOption, FaceModel, app, console, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.pipelines.clean import CleanRun


@app.command()
def clean(
    tags: Annotated[
        list[str] | None, typer.Argument(help="Asset tags (default: every character, prop, vehicle, animal).")
    ] = None,
    tier: Annotated[
        CleanTier, typer.Option(help="original: the crop; rembg-gray: background removed; generative: Gemini.")
    ] = "rembg-gray",
    gemini_model: Annotated[str, typer.Option(help="Image model of the generative tier.")] = "gemini-2.5-flash-image",
    base_url: Annotated[str | None, typer.Option(help="API base URL (e.g. a loopback `refbench fake-gemini`).")] = None,
    face_model: Annotated[
        FaceModel | None, typer.Option(help="Face model that validates generative sheets (default: the settings').")
    ] = None,
    db: DbOption = None,
) -> None:
    """Make clean references (tier 1 crop, tier 2 gray background, tier 3 generated + ArcFace-checked)."""
    from refbench.cli.progress import progress
    from refbench.pipelines.clean import run_clean_sheets

    settings = settings_for(db)
    generator = None
    if tier == "generative":
        from refbench.generation.chain import GeminiImageGenerator
        from refbench.google_api import GoogleApiSettings, make_client

        api = GoogleApiSettings(**({"base_url": base_url} if base_url else {}))  # else REFBENCH_GEMINI_BASE_URL
        generator = GeminiImageGenerator(
            make_client(mode="gemini", settings=api),
            model=gemini_model,
            policy=api.policy(),
            limits=settings.image_limits,
        )
    with progress(f"clean ({tier})") as advance:
        run = run_clean_sheets(
            settings, tier=tier, tags=tags or (), generator=generator, face_model=face_model, progress=advance
        )
    console.print(results_table(run))


def results_table(run: CleanRun) -> Table:
    """One row per stored clean reference."""
    from rich.table import Table

    table = Table(
        "tag", "tier", "method", "status", "similarity", "file", title=f"clean {run.run_id} ({run.seconds:.1f} s)"
    )
    for r in run.results:
        similarity = "-" if r.similarity is None else f"{r.similarity:.3f} (>= {r.threshold:.3f})"
        table.add_row(r.tag, str(r.tier), r.method, r.status, similarity, str(r.path))
    return table

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
        CleanTier,
        typer.Option(
            help="original: the crop; rembg-gray: background removed; generative: Gemini, ArcFace-checked; "
            "multi-angle: the missing views generated and checked."
        ),
    ] = "rembg-gray",
    auto: Annotated[
        bool, typer.Option("--auto", help="Pick the tier per asset from its quality, its views and the cost.")
    ] = False,
    max_cost_usd: Annotated[float, typer.Option(help="--auto: most USD generation may cost (worst case).")] = 1.0,
    gemini_model: Annotated[str, typer.Option(help="Image model of the generated tiers.")] = "gemini-2.5-flash-image",
    base_url: Annotated[str | None, typer.Option(help="API base URL (e.g. a loopback `refbench fake-gemini`).")] = None,
    face_model: Annotated[
        FaceModel | None, typer.Option(help="Face model that validates generative sheets (default: the settings').")
    ] = None,
    db: DbOption = None,
) -> None:
    """Make clean references: tier 1 crop, tier 2 gray background, tier 3 generated and ArcFace-checked, tier 4
    (multi-angle) the missing views generated and checked for identity, head angle and face size."""
    from refbench.clean import GENERATED_TIERS
    from refbench.cli.progress import progress
    from refbench.generation.images import connect_image_generator, generator_available
    from refbench.pipelines.clean import run_clean_sheets

    settings = settings_for(db)
    chosen = "auto" if auto else tier
    generator = None
    if chosen in GENERATED_TIERS or (auto and generator_available()):
        generator = connect_image_generator(model=gemini_model, base_url=base_url, limits=settings.image_limits)
    with progress(f"clean ({chosen})") as advance:
        made = run_clean_sheets(
            settings,
            tier=chosen,
            tags=tags or (),
            generator=generator,
            face_model=face_model,
            max_cost_usd=max_cost_usd,
            progress=advance,
        )
    for choice in made.choices:
        console.print(f"{choice.tag}: {choice.tier} ({choice.reason})", soft_wrap=True)
    console.print(results_table(made))


def results_table(run: CleanRun) -> Table:
    """One row per stored clean reference."""
    from rich.table import Table

    title = f"clean {run.run_id} ({run.seconds:.1f} s" + (f", ${run.cost_usd:.3f})" if run.cost_usd else ")")
    table = Table("tag", "tier", "method", "status", "similarity", "file", title=title)
    for r in run.results:
        similarity = "-" if r.similarity is None else f"{r.similarity:.3f} (>= {r.threshold:.3f})"
        method = r.method if r.view is None else f"{r.method} {r.view}"
        table.add_row(r.tag, str(r.tier), method, r.status, similarity, str(r.path))
    return table

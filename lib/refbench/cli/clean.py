"""``refbench clean``: clean reference sheets of registered assets, beside the originals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from refbench.clean import CLEANERS
from refbench.clean.run import CleanRun, run_clean_sheets
from refbench.cli.app import app, console
from refbench.settings import Settings


@app.command()
def clean(
    tags: Annotated[
        list[str] | None, typer.Argument(help="Asset tags (default: every character, prop, vehicle, animal).")
    ] = None,
    tier: Annotated[str, typer.Option(help=f"Clean tier: {', '.join(CLEANERS)}.")] = "rembg-gray",
    gemini_model: Annotated[str, typer.Option(help="Image model of the generative tier.")] = "gemini-2.5-flash-image",
    base_url: Annotated[str | None, typer.Option(help="API base URL (e.g. a loopback `refbench fake-gemini`).")] = None,
    face_model: Annotated[str, typer.Option(help="Face model that validates generative sheets.")] = "insightface",
    db: Annotated[Path | None, typer.Option(help="DuckDB workspace file.")] = None,
) -> None:
    """Make clean references (tier 1 crop, tier 2 gray background, tier 3 generated + ArcFace-checked)."""
    settings = Settings(db_path=db) if db else Settings()
    generator = None
    if tier == "generative":
        from refbench.generation.chain import GeminiImageGenerator
        from refbench.generation.submit import make_client

        generator = GeminiImageGenerator(make_client(mode="gemini", base_url=base_url), model=gemini_model)
    console.print(
        results_table(
            run_clean_sheets(settings, tier=tier, tags=tags or (), generator=generator, face_model=face_model)
        )
    )


def results_table(run: CleanRun) -> Table:
    """One row per stored clean reference."""
    table = Table(
        "tag", "tier", "method", "status", "similarity", "file", title=f"clean {run.run_id} ({run.seconds:.1f} s)"
    )
    for r in run.results:
        similarity = "-" if r.similarity is None else f"{r.similarity:.3f} (>= {r.threshold:.3f})"
        table.add_row(r.tag, str(r.tier), r.method, r.status, similarity, str(r.path))
    return table

"""The typer application every command module attaches to, and what the commands share."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from refbench.errors import RefbenchError
from refbench.settings import Settings

app = typer.Typer(
    name="refbench",
    help="Identity-preserving reference sets for image and video generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Model weights: provision and inspect.", no_args_is_help=True)
samples_app = typer.Typer(help="The bundled sample photos.", no_args_is_help=True)
identities_app = typer.Typer(
    help="Review and refine face identities (corrections survive every re-run).", no_args_is_help=True
)
assets_app = typer.Typer(help="Review and refine assets: names, types, references, exclusions.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(samples_app, name="samples")
app.add_typer(identities_app, name="identities")
app.add_typer(assets_app, name="assets")
console = Console()

DbOption = Annotated[Path | None, typer.Option(help="DuckDB workspace file (default: REFBENCH_DB_PATH or data/).")]


def settings_for(db: Path | None) -> Settings:
    """The settings (environment included), pointed at ``--db`` when given."""
    return Settings().for_database(db)


def run_cli() -> None:
    """Run the app; project errors print one clear line and exit 1 instead of a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except RefbenchError as error:
        from rich.markup import escape

        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from error

"""The typer application every command module attaches to."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

from refbench.errors import RefbenchError

app = typer.Typer(
    name="refbench",
    help="Identity-preserving reference sets for image and video generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Model weights: provision and inspect.", no_args_is_help=True)
samples_app = typer.Typer(help="The bundled sample photos.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(samples_app, name="samples")
console = Console()


def run_cli() -> None:
    """Run the app; project errors print one clear line and exit 1 instead of a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except RefbenchError as error:
        console.print(f"[red]error:[/red] {error}")
        raise SystemExit(1) from error

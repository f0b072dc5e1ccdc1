"""The typer application every command module attaches to, and what the commands share.

Start-up matters (``refbench --help`` runs in well under half a second): this module and the command
modules import only typer, rich and the names of choices; settings, models and data libraries are imported
inside the commands that use them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from refbench.errors import RefbenchError
from refbench.names import ApiMode, CleanTier, Describer, Detector, FaceModel

if TYPE_CHECKING:
    from refbench.settings import Settings

# Choices (refbench.names) are checked by typer before any work and listed in --help.
__all__ = ["ApiMode", "CleanTier", "DbOption", "Describer", "Detector", "FaceModel", "app", "console", "run_cli"]

CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="refbench",
    help="Identity-preserving reference sets for image and video generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)
models_app = typer.Typer(help="Model weights: provision and inspect.", no_args_is_help=True, context_settings=CONTEXT)
samples_app = typer.Typer(help="The bundled sample photos.", no_args_is_help=True, context_settings=CONTEXT)
identities_app = typer.Typer(
    help="Review and refine face identities (corrections survive every re-run).",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
assets_app = typer.Typer(
    help="Assets: declare whole images (logos, products, textures), then name, retype, reference or exclude them"
    " (corrections survive every re-run).",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(models_app, name="models")
app.add_typer(samples_app, name="samples")
app.add_typer(identities_app, name="identities")
app.add_typer(assets_app, name="assets")
console = Console()

DbOption = Annotated[Path | None, typer.Option(help="DuckDB workspace file (default: REFBENCH_DB_PATH or data/).")]


def settings_for(db: Path | None) -> Settings:
    """The settings (environment included), pointed at ``--db`` when given."""
    from refbench.settings import Settings

    return Settings().for_database(db)


class RedactKeys(logging.Filter):
    """Replaces any configured API key in a log record's message (third-party libraries log request errors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from refbench.credentials import redact

        record.msg, record.args = redact(record.getMessage()), ()
        return True


def _version(value: bool) -> None:
    if value:
        from refbench import __version__

        console.print(f"refbench {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Identity-preserving reference sets for image and video generation."""


def run_cli() -> None:
    """Run the app; project errors print one clear line and exit 1 instead of a traceback. No API key is ever
    printed: errors and log lines pass through ``refbench.credentials.redact``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactKeys())
    try:
        app()
    except RefbenchError as error:
        from rich.markup import escape

        from refbench.credentials import redact

        console.print(f"[red]error:[/red] {escape(redact(str(error)))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from error

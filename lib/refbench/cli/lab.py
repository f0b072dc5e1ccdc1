"""``refbench lab``: JupyterLab on loopback with the notebooks open, its URL (with the token) printed first."""

from __future__ import annotations

import contextlib
import subprocess
from typing import Annotated

import typer

from refbench.cli.app import app, console


@app.command()
def lab(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8888,
    token: Annotated[str | None, typer.Option(help="Access token (default: a new random one).")] = None,
) -> None:
    """Open the notebooks in JupyterLab (127.0.0.1 only, offline); Ctrl-C stops it."""
    from refbench.settings import PROJECT_ROOT
    from refbench.workbench.lab import lab_command, lab_url, new_token

    token = token or new_token()
    console.print(f"JupyterLab: [bold]{lab_url(port=port, token=token)}[/bold]  (Ctrl-C stops it)", soft_wrap=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops it
        subprocess.run(lab_command(root_dir=PROJECT_ROOT, port=port, token=token), check=False)

"""JupyterLab for the notebooks: on loopback, offline, with a token (``refbench lab``, ``make lab``, the browser test).

JupyterLab asks the internet for news, update checks and an extension catalogue by default; none of that
is reachable here and none of it is needed to work on the notebooks, so each is switched off.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

OFFLINE = (
    "--LabApp.news_url=None",  # no news feed fetched at start
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",  # no extension catalogue from PyPI
)


def new_token() -> str:
    """A random token that protects the server (anyone on the machine can reach loopback)."""
    return secrets.token_hex(24)


def lab_command(
    *, root_dir: Path, port: int, token: str, open_path: str = "notebooks", settings_dir: Path | None = None
) -> list[str]:
    """The ``jupyter lab`` command line: 127.0.0.1 only, no browser of its own, offline, ``open_path`` first.

    ``settings_dir`` replaces the user's JupyterLab settings (a test's own, e.g. no windowed notebooks).
    """
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",  # a busy port is an error, not a silent move to another URL
        "--no-browser",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.default_url=/lab/tree/{open_path}",
        *OFFLINE,
        *([f"--LabApp.user_settings_dir={settings_dir}"] if settings_dir else []),
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI and containers run as root; Jupyter refuses by default
    ]


def lab_url(*, port: int, token: str, path: str = "") -> str:
    """The URL that opens JupyterLab (at ``path`` under its root) with the token."""
    return f"http://127.0.0.1:{port}/lab{'/tree/' + path if path else ''}?token={token}"

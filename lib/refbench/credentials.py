"""The one API-key resolver of every Google call (describe, image generation, Veo submit).

Looked up at the moment of use, in the SDK's own order — ``GOOGLE_API_KEY``, then ``GEMINI_API_KEY`` (the
google-genai client prefers the first when both are set) — then in a secrets file outside the repository
(``KEY=value`` lines, ``REFBENCH_SECRETS_FILE`` or ``~/.config/refbench/secrets.env``). The key lives only in
the SDK client: never in settings, run parameters, logs or the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

from refbench.errors import ApiKeyMissing, SecretsFileError
from refbench.settings import PROJECT_ROOT

API_KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
SECRETS_FILE_VARIABLE = "REFBENCH_SECRETS_FILE"
DEFAULT_SECRETS_FILE = Path("~/.config/refbench/secrets.env")


def secrets_file() -> Path:
    """Where the secrets file is looked for."""
    return Path(os.environ.get(SECRETS_FILE_VARIABLE) or DEFAULT_SECRETS_FILE).expanduser()


def find_api_key() -> str | None:
    """The API key from the environment, else from the secrets file; ``None`` when there is none.

    Raises:
        SecretsFileError: the secrets file lies inside the repository (it could be committed).
    """
    for name in API_KEY_VARIABLES:
        if os.environ.get(name):
            return os.environ[name].strip()
    path = secrets_file()
    if not path.is_file():
        return None
    if path.resolve().is_relative_to(PROJECT_ROOT.resolve()):
        raise SecretsFileError(
            f"secrets file {path} lies inside the repository {PROJECT_ROOT}: move it to "
            f"{DEFAULT_SECRETS_FILE} or set {SECRETS_FILE_VARIABLE}"
        )
    for line in path.read_text().splitlines():
        name, _, value = line.strip().removeprefix("export ").partition("=")
        if name.strip() in API_KEY_VARIABLES and value.strip():
            return value.strip().strip("'\"")
    return None


def resolve_api_key() -> str:
    """The API key, or an ``ApiKeyMissing`` that says where it is looked for."""
    key = find_api_key()
    if not key:
        raise ApiKeyMissing(
            f"no Gemini API key: set {' or '.join(API_KEY_VARIABLES)} in the environment or in "
            f"{secrets_file()} (outside the repository)"
        )
    return key

"""The one API-key resolver of every Google call (describe, image generation, Veo submit).

Looked up at the moment of use, in the SDK's own order — ``GOOGLE_API_KEY``, then ``GEMINI_API_KEY`` (the
google-genai client prefers the first when both are set) — then in a secrets file outside the repository
(``KEY=value`` lines, ``REFBENCH_SECRETS_FILE`` or ``~/.config/refbench/secrets.env``). The key lives only in
the SDK client: never in settings, run parameters, logs or the registry.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

from refbench.errors import ApiKeyInvalid, ApiKeyMissing, RefbenchError, SecretsFileError
from refbench.settings import PROJECT_ROOT

API_KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
SECRETS_FILE_VARIABLE = "REFBENCH_SECRETS_FILE"
DEFAULT_SECRETS_FILE = Path("~/.config/refbench/secrets.env")
REDACTED = "[redacted key]"
_REMEMBERED: set[str] = set()  # keys handed to a client directly (not through the environment): redacted too
_KEY_FORM = re.compile(r"[\x21-\x7e]{8,512}")  # printable ASCII without spaces: what an API key is made of


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
    return _from_secrets_file()


def _from_secrets_file() -> str | None:
    path = secrets_file()
    if not path.is_file():
        return None
    if path.resolve().is_relative_to(PROJECT_ROOT.resolve()):
        raise SecretsFileError(
            f"secrets file {path} lies inside the repository {PROJECT_ROOT}: move it to "
            f"{DEFAULT_SECRETS_FILE} or set {SECRETS_FILE_VARIABLE}"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:  # as ssh refuses a private key others can read or change
        raise SecretsFileError(
            f"secrets file {path} is open to other users (mode {mode:04o}): run `chmod 600 {path}` (refusing to "
            "use a key others could read or replace)"
        )
    for line in path.read_text().splitlines():
        name, _, value = line.strip().removeprefix("export ").partition("=")
        if name.strip() in API_KEY_VARIABLES and value.strip():
            return value.strip().strip("'\"")
    return None


def resolve_api_key() -> str:
    """The API key, checked for form.

    Raises:
        ApiKeyMissing: none is set (the message says where it is looked for).
        ApiKeyInvalid: it holds whitespace or control characters (a newline pasted from a file), or is too short
            or long to be a key; the message never contains the key.
    """
    key = find_api_key()
    if not key:
        raise ApiKeyMissing(
            f"no Gemini API key: set {' or '.join(API_KEY_VARIABLES)} in the environment or in "
            f"{secrets_file()} (outside the repository)"
        )
    return remember(check_key_form(key))


def check_key_form(key: str) -> str:
    """``key`` when it looks like an API key (8-512 printable ASCII characters, no whitespace)."""
    if not _KEY_FORM.fullmatch(key):
        problem = "whitespace or control characters (a newline from a file?)" if key.strip() else "nothing"
        raise ApiKeyInvalid(
            f"the API key holds {problem} or is not 8-512 printable ASCII characters ({len(key)} characters); "
            "check the value of GOOGLE_API_KEY / GEMINI_API_KEY or the secrets file"
        )
    return key


def remember(key: str) -> str:
    """Add a key given directly to a client to what ``redact`` hides; returns it."""
    _REMEMBERED.add(key)
    return key


def known_keys() -> list[str]:
    """Every key value configured here (environment, secrets file, keys given to clients), raw and stripped:
    what ``redact`` hides."""
    values = [os.environ.get(name, "") for name in API_KEY_VARIABLES] + sorted(_REMEMBERED)
    with contextlib.suppress(RefbenchError, OSError):  # an unusable secrets file holds no key we will send
        values.append(_from_secrets_file() or "")
    # as written, stripped, and as an error message quotes it (repr escapes a newline as \\n)
    variants = {v for value in values for v in (value, value.strip(), repr(value)[1:-1], repr(value.encode())[2:-1])}
    return sorted((v for v in variants if len(v.strip()) >= 8), key=len, reverse=True)


def redact(text: str | None) -> str | None:
    """``text`` with every configured API key replaced by ``[redacted key]`` (for anything stored or printed)."""
    if not text:
        return text
    for key in known_keys():
        text = text.replace(key, REDACTED)
    return text

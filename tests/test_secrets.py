"""The Gemini API key: read only from the environment or a secrets file outside the repo, and never written anywhere."""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from refbench.cli import app
from refbench.credentials import API_KEY_VARIABLES, SECRETS_FILE_VARIABLE, find_api_key, redact, resolve_api_key
from refbench.describe import default_backend
from refbench.describe.gemini import GeminiDescriber, GeminiSettings
from refbench.errors import ApiKeyInvalid, ApiKeyMissing, SecretsFileError
from refbench.fakes.gemini import FakeGemini
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

KEY = "rbk-SECRET-5f1e9c2a7d3b-do-not-store"


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key in the environment and a secrets-file path that does not exist yet (returned)."""
    for name in API_KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config" / "secrets.env"
    monkeypatch.setenv(SECRETS_FILE_VARIABLE, str(path))
    return path


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


def test_the_key_reaches_the_api_but_no_output(
    demo_copy: Settings, fake: FakeGemini, no_key: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything the SDK, httpx and refbench log
    fake.add_rule("429", times=1).add_rule("503", match="ASSET TYPE: vehicle")
    fake.add_rule("safety", match="ASSET TYPE: animal")
    env = {
        "GEMINI_API_KEY": KEY,
        "REFBENCH_GEMINI_BASE_URL": fake.url,
        "REFBENCH_GEMINI_DEADLINE_S": "1",
        "REFBENCH_GEMINI_INITIAL_BACKOFF_S": "0.05",
        "REFBENCH_GEMINI_MAX_BACKOFF_S": "0.2",
    }
    result = CliRunner().invoke(app, ["describe", "--db", str(demo_copy.database)], env=env)
    assert result.exit_code == 0, result.output
    assert fake.requests and {r.api_key for r in fake.requests} == {KEY}, "the key must reach the server"
    with read_workspace(demo_copy) as ws:
        (run,) = ws.runs.list(kind="describe")
        statuses = Counter(c.status for c in ws.descriptions.calls(run_id=run.run_id))
    # DuckDB compresses strings on disk (FSST), so the file bytes alone could hide a stored key: ask the registry too
    with read_workspace(demo_copy) as ws:
        scan = ws.find_text(KEY)
    assert scan.columns > 50 and not scan.hits, f"API key stored in {set(scan.hits)}"
    assert statuses["ok"] and statuses["error"] and statuses["blocked"]  # every path was taken
    needles = [KEY, base64.b64encode(KEY.encode()).decode()]
    texts = {"cli output": result.output, "log": caplog.text}
    files = [p for p in demo_copy.data_dir.rglob("*") if p.is_file()]
    assert demo_copy.database in files
    for path in files:  # the DuckDB file (and its WAL, if any), reports, anything the run wrote
        texts[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in texts.items():
        for needle in needles:
            assert needle not in text, f"API key found in {where}"


@pytest.mark.parametrize(
    ("env", "file_text", "expected"),
    [
        ({"GEMINI_API_KEY": "from-env"}, None, "from-env"),
        ({"GOOGLE_API_KEY": "from-google-env"}, None, "from-google-env"),
        # the SDK's own order: GOOGLE_API_KEY wins when both are set
        ({"GEMINI_API_KEY": "from-env", "GOOGLE_API_KEY": "from-google-env"}, None, "from-google-env"),
        ({"GEMINI_API_KEY": "from-env"}, "GEMINI_API_KEY=from-file\n", "from-env"),
        ({}, "# refbench\nGEMINI_API_KEY=from-file\n", "from-file"),
        ({}, "export GOOGLE_API_KEY='quoted-file'\n", "quoted-file"),
        ({}, "OTHER=1\n", None),
        ({}, None, None),
    ],
)
def test_key_sources(
    no_key: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], file_text: str | None, expected: str | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if file_text is not None:
        no_key.parent.mkdir(parents=True)
        no_key.write_text(file_text)
        no_key.chmod(0o600)
    assert find_api_key() == expected
    assert default_backend() == ("gemini" if expected else "local")


def test_secrets_file_inside_the_repository_is_refused(no_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRETS_FILE_VARIABLE, str(PROJECT_ROOT / "pyproject.toml"))
    with pytest.raises(SecretsFileError, match="lies inside the repository"):
        find_api_key()


def test_missing_key_says_where_to_put_it(no_key: Path) -> None:
    with pytest.raises(ApiKeyMissing) as error:
        resolve_api_key()
    assert str(error.value) == (
        f"no Gemini API key: set GOOGLE_API_KEY or GEMINI_API_KEY in the environment or in {no_key}"
        " (outside the repository)"
    )


def test_key_is_not_a_setting_and_not_in_the_repr() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        GeminiSettings(api_key=KEY)
    describer = GeminiDescriber(GeminiSettings(base_url="http://127.0.0.1:9"), api_key=KEY)
    assert KEY not in repr(describer) and KEY not in str(vars(describer.settings))


@pytest.mark.parametrize("mode", [0o666, 0o644, 0o620, 0o604])
def test_a_secrets_file_others_can_read_or_change_is_refused(no_key: Path, mode: int) -> None:
    no_key.parent.mkdir(parents=True)
    no_key.write_text("GEMINI_API_KEY=from-file-0123\n")
    no_key.chmod(mode)
    with pytest.raises(SecretsFileError, match=rf"open to other users \(mode {mode:04o}\): run `chmod 600"):
        find_api_key()
    no_key.chmod(0o600)
    assert find_api_key() == "from-file-0123"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (KEY + "\nsecond-line", "whitespace or control characters"),
        (KEY[:10] + "\x07" + KEY[10:], "whitespace or control characters"),
        ("two words-0123456", "whitespace or control characters"),
        ("short", "or is not 8-512 printable ASCII"),
        ("ключ-0123456789", "or is not 8-512 printable ASCII"),
    ],
)
def test_a_malformed_key_is_refused_without_showing_it(
    no_key: Path, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", value)
    with pytest.raises(ApiKeyInvalid, match=problem) as error:
        resolve_api_key()
    assert value.strip() not in str(error.value) and KEY not in str(error.value)


def test_every_configured_key_is_redacted(no_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY + "\n")
    message = f"Illegal header value {(KEY + chr(10)).encode()!r}; server said: key {KEY} is not valid"
    redacted = redact(message)
    assert KEY not in redacted and redacted.count("[redacted key]") == 2
    assert redact("nothing secret here") == "nothing secret here" and redact(None) is None

"""Every Google call is bounded in attempts, wall-clock time and size, never follows a redirect to another
origin, and never stores or prints the key — against loopback fakes that misbehave as a hostile or broken
endpoint does (trickle, hang, endless body, HTML, redirect, an error that echoes the key, a reset)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from refbench.describe.gemini import GeminiDescriber, GeminiSettings
from refbench.errors import GenerationError, RemoteCallFailed
from refbench.fakes.gemini import FakeGemini
from refbench.fakes.veo import FakeVeo
from refbench.google_api import GoogleApiSettings, RetryPolicy, make_client
from refbench.pipelines.describe import describe_assets
from refbench.settings import Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

KEY = "remote-test-key-7f3a9c"
FAST = {"initial_backoff_s": 0.05, "max_backoff_s": 0.2}


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(stall_s=30, huge_bytes=50_000_000) as server:
        yield server


def describe_one_misbehaving(settings: Settings, fake: FakeGemini, kind: str, **overrides: float) -> dict:
    """Describe every asset while ``kind`` is served, forever, to the requests of one environment asset."""
    with read_workspace(settings) as ws:
        target = ws.assets.list().of_type("environment")[0]
    fake.add_rule(kind, match="ASSET TYPE: environment\n")
    values = {"deadline_s": 3.0, "request_timeout_s": 1.0, "concurrency": 4, **FAST, **overrides}
    start = time.monotonic()
    summary = describe_assets(settings, GeminiDescriber(GeminiSettings(base_url=fake.url, **values), api_key=KEY))
    seconds = time.monotonic() - start
    with read_workspace(settings) as ws:
        calls = {c.tag: c for c in ws.descriptions.calls(run_id=summary.run_id)}
        environments = {a.tag for a in ws.assets.list().of_type("environment")}
    return {"summary": summary, "seconds": seconds, "target": calls[target.tag], "calls": calls, "env": environments}


@pytest.mark.parametrize("kind", ["trickle", "hang"])
def test_a_server_that_trickles_or_hangs_cannot_hold_the_run(demo_copy: Settings, fake: FakeGemini, kind: str) -> None:
    found = describe_one_misbehaving(demo_copy, fake, kind)
    target = found["target"]
    assert target.status == "error" and "gave up" in target.reason and target.seconds <= 3.0 + 1.5
    assert found["seconds"] < 20  # every environment stalls, at most ~deadline each, 4 at a time
    others = [c for tag, c in found["calls"].items() if tag not in found["env"]]
    assert others and all(c.status == "ok" for c in others)


def test_an_endless_body_is_cut_at_the_size_cap(demo_copy: Settings, fake: FakeGemini) -> None:
    found = describe_one_misbehaving(demo_copy, fake, "huge", max_response_bytes=2_000_000)
    assert found["target"].status == "error" and "response body over 2000000 bytes" in found["target"].reason


def test_an_answer_that_is_not_json_is_asked_once_more_then_recorded(demo_copy: Settings, fake: FakeGemini) -> None:
    found = describe_one_misbehaving(demo_copy, fake, "html")
    target = found["target"]
    assert (target.status, target.attempts) == ("malformed", 2)
    assert "not JSON" in target.reason


def test_a_redirect_to_another_origin_is_never_followed(demo_copy: Settings, fake: FakeGemini) -> None:
    with FakeGemini() as elsewhere:
        fake.redirect_to = elsewhere.url
        found = describe_one_misbehaving(demo_copy, fake, "redirect")
    assert elsewhere.requests == [], "the key travelled to another origin"
    assert (
        found["target"].status == "error" and "refused to send a request to http://127.0.0.1:" in found["target"].reason
    )


def test_an_error_that_echoes_the_key_is_stored_redacted(demo_copy: Settings, fake: FakeGemini) -> None:
    found = describe_one_misbehaving(demo_copy, fake, "echo_key", deadline_s=1.0)
    reason = found["target"].reason
    assert fake.requests and any(r.answered == "echo_key" for r in fake.requests)
    assert KEY not in reason and "[redacted key]" in reason
    with read_workspace(demo_copy) as ws:
        assert not ws.find_text(KEY).hits


def test_a_429_storm_stops_at_the_run_budget(demo_copy: Settings, fake: FakeGemini) -> None:
    fake.retry_delay_s = 0.3  # RetryInfo the policy must honour
    fake.add_rule("429")
    settings = GeminiSettings(base_url=fake.url, deadline_s=1.0, concurrency=2, run_budget_s=2.0, **FAST)
    start = time.monotonic()
    summary = describe_assets(demo_copy, GeminiDescriber(settings, api_key=KEY))
    assert time.monotonic() - start < 2.0 + 1.0 + 2  # the budget, one call in flight per worker, start-up
    assert summary.by_status["error"] == summary.assets and summary.by_status["ok"] == 0
    with read_workspace(demo_copy) as ws:
        reasons = [c.reason for c in ws.descriptions.calls(run_id=summary.run_id)]
    # each of the 2 workers starts an asset at most every deadline (1 s) within the 2 s budget, plus one at its end
    assert sum("time budget is spent" in r for r in reasons) >= summary.assets - 2 * (2 + 1)


def test_the_policy_honours_retry_info_and_its_bounds() -> None:
    calls: list[float] = []

    def always_failing() -> None:
        calls.append(time.monotonic())
        raise TimeoutError("simulated")

    from refbench.google_api import CallTimedOut

    def flaky() -> None:
        calls.append(time.monotonic())
        raise CallTimedOut("slow")

    with pytest.raises(TimeoutError):  # not retryable: raised as it is, after one attempt
        RetryPolicy(max_attempts=5, deadline_s=5).call(always_failing)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(RemoteCallFailed, match=r"gave up after 4 attempt\(s\)"):
        RetryPolicy(max_attempts=4, deadline_s=5, initial_backoff_s=0.01, max_backoff_s=0.02).call(flaky)
    assert len(calls) == 4
    calls.clear()
    start = time.monotonic()
    with pytest.raises(RemoteCallFailed):
        RetryPolicy(max_attempts=100, deadline_s=0.5, initial_backoff_s=0.1, max_backoff_s=0.1).call(flaky)
    # a new attempt at least every 0.05 s (the smallest backoff) and none starting after the 0.5 s deadline
    assert time.monotonic() - start < 0.5 + 0.1 + 0.5 and 2 <= len(calls) <= 0.5 / 0.05 + 1


def test_image_generation_retries_then_falls_back_to_tier_2(demo_copy: Settings, fake: FakeGemini) -> None:
    from refbench.cli import app

    fake.add_rule("503", times=2)  # two failures, then the image: retried, not lost
    env = {
        "COLUMNS": "250",
        "GEMINI_API_KEY": KEY,
        "REFBENCH_GEMINI_BASE_URL": fake.url,
        **{"REFBENCH_GEMINI_INITIAL_BACKOFF_S": "0.05", "REFBENCH_GEMINI_REQUEST_TIMEOUT_S": "2"},
    }
    runner = CliRunner()
    ok = runner.invoke(app, ["clean", "CHAR_13", "--tier", "generative", "--db", str(demo_copy.database)], env=env)
    assert ok.exit_code == 0, ok.output
    assert len(fake.requests) == 3  # REFBENCH_GEMINI_BASE_URL was used, without --base-url
    fake.rules.clear()
    fake.add_rule("hang")  # a server that never answers: bounded, then tier 2
    env |= {"REFBENCH_GEMINI_DEADLINE_S": "1.5", "REFBENCH_GEMINI_REQUEST_TIMEOUT_S": "0.5"}
    start = time.monotonic()
    hung = runner.invoke(app, ["clean", "CHAR_13", "--tier", "generative", "--db", str(demo_copy.database)], env=env)
    assert hung.exit_code == 0, hung.output
    assert time.monotonic() - start < 3 * 1.5 + 30  # three bounded attempts, then rembg (its first load is slow)
    with read_workspace(demo_copy) as ws:
        rows = ws.clean.list(tag="CHAR_13")
    last_run = rows[-1].run_id
    mine = sorted((r for r in rows if r.run_id == last_run), key=lambda r: -r.tier)  # one insert: same timestamp
    assert [(r.tier, r.status) for r in mine] == [(3, "failed"), (2, "ok")]
    assert "gave up after" in mine[0].message and mine[1].is_primary
    assert KEY not in hung.output and KEY not in mine[0].message


def test_a_reset_connection_fails_the_request_not_the_run(
    demo_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from refbench.cli import app

    (tmp_path / "one.yaml").write_text(
        "scenes:\n  - scene_id: one\n    prompt: Two leaders shake hands.\n    shot_type: two_shot\n"
        "    placements: [{asset_tag: CHAR_13, role: subject}, {asset_tag: CHAR_12, role: interaction_target}]\n"
    )
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    monkeypatch.setenv("REFBENCH_GEMINI_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("REFBENCH_GEMINI_INITIAL_BACKOFF_S", "0.05")
    with FakeVeo(reset_submits=5) as veo:
        result = CliRunner().invoke(
            app,
            [
                "plan",
                str(tmp_path / "one.yaml"),
                "--submit",
                "--mode",
                "vertex",
                "--db",
                str(demo_copy.database),
                "--base-url",
                veo.url,
                "--poll-interval",
                "0.01",
            ],
            env={"COLUMNS": "250"},
        )
    assert result.exit_code == 0, result.output  # the plan run completed; the one request failed
    assert "scene one: failed:" in result.output and "gave up after 2 attempt(s)" in result.output
    assert len(veo.requests) == 2
    with read_workspace(demo_copy) as ws:
        (request,) = [r for r in ws.plans.requests() if r.scene_id == "one"]
    assert request.status == "failed" and "RemoteProtocolError" in request.error


def test_make_client_refuses_a_malformed_key() -> None:
    from refbench.errors import ApiKeyInvalid

    with pytest.raises(ApiKeyInvalid):
        make_client(api_key="has a space in it", settings=GoogleApiSettings(base_url="http://127.0.0.1:9"))


def test_generation_errors_never_hold_the_key(fake: FakeGemini) -> None:
    import numpy as np
    from refbench.generation.chain import GeminiImageGenerator

    fake.add_rule("echo_key")
    client = make_client(api_key=KEY, settings=GoogleApiSettings(base_url=fake.url))
    generator = GeminiImageGenerator(client, policy=RetryPolicy(max_attempts=2, initial_backoff_s=0.01))
    with pytest.raises(GenerationError) as error:
        generator.generate("a prompt", np.zeros((32, 32, 3), np.uint8))
    assert KEY not in str(error.value) and "[redacted key]" in str(error.value)

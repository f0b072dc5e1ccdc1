"""The Gemini describer through the real google-genai SDK against the loopback fake server."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import ValidationError
from refbench.describe.gemini import PRICES_USD_PER_MTOK, GeminiDescriber, GeminiSettings, estimate_cost
from refbench.describe.prompts import PROMPT_VERSION, PROMPTS
from refbench.errors import ApiKeyRejected
from refbench.fakes.gemini import FakeGemini
from refbench.google_api import RetryPolicy
from refbench.pipelines.describe import DescribeSummary, describe_assets
from refbench.registry.descriptions import StoredCall
from refbench.settings import Settings
from refbench.types import Asset

from tests.conftest import read_workspace

KEY = "fake-key-for-tests"
DEADLINE_S = 2.5


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


def make_describer(fake: FakeGemini, **overrides: float) -> GeminiDescriber:
    """A describer on the fake with a short deadline and fast backoff, so failure tests stay quick."""
    values = {"deadline_s": DEADLINE_S, "initial_backoff_s": 0.05, "max_backoff_s": 0.4, "concurrency": 4, **overrides}
    return GeminiDescriber(GeminiSettings(base_url=fake.url, **values), api_key=KEY, seed=0)


@dataclass(frozen=True)
class Registry:
    """What the tests compare: the run's status, the active assets and the run's calls, by asset id."""

    run: str | None
    assets: dict[str, Asset]
    calls: dict[str, StoredCall]


def registry(settings: Settings, run_id: str | None) -> Registry:
    """The registry after (or, with ``run_id`` None, before) a describe run."""
    with read_workspace(settings) as ws:
        return Registry(
            run=ws.runs.get(run_id).status if run_id else None,
            assets={a.asset_id: a for a in ws.assets.list()},
            calls={c.asset_id: c for c in ws.descriptions.calls(run_id=run_id)} if run_id else {},
        )


def unique_label(settings: Settings) -> str:
    """A detector label that names exactly one asset, so a failure rule hits one asset and no other."""
    with read_workspace(settings) as ws:
        objects = [a for a in ws.assets.list() if a.asset_type not in ("character", "environment")]
    names = Counter(a.name for a in objects)
    return min(name for name, n in names.items() if n == 1)


FAILURES = [
    # kind served to one asset, how many times (None: always), its expected status, attempts, reason pattern
    (None, None, "ok", 1, None),
    ("429", 2, "ok", 3, None),
    ("500", 1, "ok", 2, None),
    ("503", None, "error", None, r"gave up after \d+ attempt\(s\) in [\d.]+ s \(deadline 2.5 s\): 503 UNAVAILABLE"),
    ("safety", None, "blocked", 1, r"response stopped: SAFETY \(HARM_CATEGORY_DANGEROUS_CONTENT=HIGH\)"),
    ("prompt_blocked", None, "blocked", 1, r"prompt blocked: SAFETY"),
    ("malformed", 1, "ok", 2, None),
    ("malformed", None, "malformed", 2, r"malformed JSON: Invalid JSON"),
]


@pytest.mark.parametrize(("kind", "times", "status", "attempts", "reason"), FAILURES)
def test_failure_paths_leave_the_registry_consistent(
    demo_copy: Settings,
    fake: FakeGemini,
    kind: str | None,
    times: int | None,
    status: str,
    attempts: int | None,
    reason: str | None,
) -> None:
    label = unique_label(demo_copy) if kind else None
    if kind:
        fake.add_rule(kind, times=times, match=f"DETECTOR LABEL: {label}\n")
    before = registry(demo_copy, None).assets
    summary = describe_assets(demo_copy, make_describer(fake))
    after = registry(demo_copy, summary.run_id)
    assert after.run == "completed"
    assert after.assets.keys() == before.keys(), "assets were added or lost"
    assert len(after.calls) == summary.assets == summary.calls == len(before)
    target = [a.asset_id for a in after.assets.values() if a.name == label]
    assert len(target) == (1 if label else 0)
    for asset_id, asset in after.assets.items():
        call = after.calls[asset_id]
        prompt, visual, name, suitability = (
            asset.reverse_prompt,
            asset.visual_description,
            asset.suggested_name,
            asset.suitability,
        )
        if asset_id in target:
            assert call.status == status
            assert attempts is None or call.attempts == attempts
            assert reason is None or re.search(reason, call.reason), call.reason
            described = status == "ok"
            assert bool(prompt) == described and bool(name) == described and (suitability is None) != described
        else:  # every other asset is described, whatever happened to the target
            assert call.status == "ok" and call.attempts == 1 and prompt and visual and 1 <= suitability <= 10


def test_503_gives_up_within_the_deadline(demo_copy: Settings, fake: FakeGemini) -> None:
    match = f"DETECTOR LABEL: {unique_label(demo_copy)}\n"
    fake.add_rule("503", match=match)
    summary = describe_assets(demo_copy, make_describer(fake))
    seconds = [c.seconds for c in registry(demo_copy, summary.run_id).calls.values() if c.status == "error"]
    tried = sum(1 for r in fake.requests if match in r.text)
    assert len(seconds) == 1 and seconds[0] <= DEADLINE_S
    assert 3 <= tried <= GeminiSettings().max_attempts  # backed off, but bounded


def test_usage_and_cost_are_stored_per_call(demo_copy: Settings, fake: FakeGemini) -> None:
    summary = describe_assets(demo_copy, make_describer(fake))
    calls = registry(demo_copy, summary.run_id).calls.values()
    price_in, price_out = PRICES_USD_PER_MTOK["gemini-2.5-flash"]
    for call in calls:
        assert call.tokens_in > 258 and call.tokens_out > 0  # at least one image tile plus the text
        assert call.cost_usd == pytest.approx((call.tokens_in * price_in + call.tokens_out * price_out) / 1e6)
    assert summary.tokens_in == sum(c.tokens_in for c in calls)
    assert summary.cost_usd == pytest.approx(sum(c.cost_usd for c in calls))


def test_requests_carry_the_type_schema_image_and_low_temperature(demo_copy: Settings, fake: FakeGemini) -> None:
    describe_assets(demo_copy, make_describer(fake))
    seen = {}
    for request in fake.requests:
        asset_type = re.search(r"ASSET TYPE: (\w+)", request.text).group(1)
        seen[asset_type] = request.body
    assert set(seen) == {"character", "prop", "animal", "vehicle", "environment"}
    for asset_type, body in seen.items():
        config = body["generationConfig"]
        properties = set(config["responseSchema"]["properties"])
        assert set(PROMPTS[asset_type].schema.model_fields) == properties
        assert config["temperature"] <= 0.3 and config["responseMimeType"] == "application/json"
        parts = body["contents"][0]["parts"]
        assert parts[0]["inlineData"]["mime_type"] == "image/jpeg" and len(parts[0]["inlineData"]["data"]) > 1000
        assert PROMPTS[asset_type].instruction in parts[1]["text"]
    assert {r.path for r in fake.requests} == {"/v1/models/gemini-2.5-flash:generateContent"}


def test_cache_skips_unchanged_assets_and_retries_failures(demo_copy: Settings, fake: FakeGemini) -> None:
    fake.add_rule("503", match=f"DETECTOR LABEL: {unique_label(demo_copy)}\n")
    fake.add_rule("safety", match="ASSET TYPE: environment\n")
    first = describe_assets(demo_copy, make_describer(fake, deadline_s=0.5))
    fake.rules.clear()
    n = len(fake.requests)
    second = describe_assets(demo_copy, make_describer(fake))
    # the error is tried again; ok and blocked answers are final for this content + model + prompt version
    assert (second.calls, second.cached, second.by_status["ok"]) == (1, first.assets - 1, 1)
    assert len(fake.requests) == n + 1
    other = make_describer(fake)
    other.prompt_version = PROMPT_VERSION + "-next"
    third = describe_assets(demo_copy, other)
    assert (third.calls, third.cached) == (third.assets, 0)


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (9, 15.0, 30.0)])
def test_backoff_is_exponential_with_jitter_and_capped(attempt: int, low: float, high: float) -> None:
    rng, policy = random.Random(1), RetryPolicy(initial_backoff_s=1.0, max_backoff_s=30.0)
    delays = [policy.delay(attempt, None, rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high and len(set(delays)) > 100


@pytest.mark.parametrize(
    ("model", "prices", "expected"),
    [
        ("gemini-2.5-flash", {}, (1000 * 0.30 + 200 * 2.50) / 1e6),
        ("models/gemini-2.5-flash-lite", {}, (1000 * 0.10 + 200 * 0.40) / 1e6),
        ("gemini-9-ultra", {}, None),
        ("gemini-9-ultra", {"price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0}, (1000 + 400) / 1e6),
    ],
)
def test_cost_estimate(model: str, prices: dict, expected: float | None) -> None:
    assert estimate_cost(model, 1000, 200, **prices) == (pytest.approx(expected) if expected else None)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"concurrency": 0}, r"concurrency\n  Input should be greater than or equal to 1"),
        ({"deadline_s": 0}, r"deadline_s\n  Input should be greater than 0"),
        ({"max_attempts": 0}, r"max_attempts\n  Input should be greater than or equal to 1"),
        ({"max_response_bytes": 0}, r"max_response_bytes\n  Input should be greater than 0"),
    ],
)
def test_bad_settings_are_refused(overrides: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        GeminiSettings(**overrides)


def test_summary_counts_add_up(demo_copy: Settings, fake: FakeGemini) -> None:
    fake.add_rule("safety", match=f"DETECTOR LABEL: {unique_label(demo_copy)}\n")
    summary: DescribeSummary = describe_assets(demo_copy, make_describer(fake))
    assert sum(summary.by_status.values()) == summary.calls == summary.assets
    assert summary.by_status["blocked"] == 1 and summary.described == summary.assets - 1


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_limit_bounds_requests_in_flight(demo_copy: Settings, concurrency: int) -> None:
    with FakeGemini(latency_s=0.03) as fake:
        describe_assets(demo_copy, make_describer(fake, concurrency=concurrency))
    assert fake.max_in_flight == concurrency


@pytest.mark.parametrize(
    ("model", "thinking"), [("gemini-2.5-flash", {"thinking_budget": 0}), ("gemini-2.5-pro", None)]
)
def test_thinking_is_turned_off_only_where_the_model_allows(
    fake: FakeGemini, demo_copy: Settings, model: str, thinking: dict | None
) -> None:
    describer = GeminiDescriber(GeminiSettings(base_url=fake.url, model=model), api_key=KEY)
    with read_workspace(demo_copy) as ws:
        asset = next(a for a in ws.assets.list() if a.crop_path.is_file())
    assert describer.describe(asset).status == "ok"
    assert fake.requests[-1].body["generationConfig"].get("thinkingConfig") == thinking
    assert fake.requests[-1].path == f"/v1/models/{model}:generateContent"


def test_a_refused_key_stops_the_run_after_the_calls_in_flight(demo_copy: Settings) -> None:
    """An invalid key would fail every asset alike: the run fails at once instead of sending them all."""
    with read_workspace(demo_copy) as ws:
        n_assets = len(ws.assets.list())
    refused = r"refused the API key \(400 INVALID_ARGUMENT: API key not valid"
    with FakeGemini(accepted_keys=("another-key",)) as fake, pytest.raises(ApiKeyRejected, match=refused):
        describe_assets(demo_copy, make_describer(fake, concurrency=2))
    with read_workspace(demo_copy) as ws:
        (run,) = ws.runs.list(kind="describe")
        described = sum(a.reverse_prompt is not None for a in ws.assets.list())
    status, error = run.status, run.error
    assert n_assets > 10
    assert len(fake.requests) <= 4  # the first refusal and what was already in flight; not one per asset
    assert {r.answered for r in fake.requests} == {"key_rejected"}
    assert status == "failed" and "refused the API key" in error and KEY not in error
    assert described == 0

"""Clean sheets from real demo assets: tier 1 and tier 2 beside the originals, tier 3 validated by ArcFace."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.clean import NEUTRAL_GRAY, create_cleaner, make_clean_references
from refbench.clean.generative import GenerativeCleaner, ReplayGenerator
from refbench.errors import ConfigError, GenerationError, ModelUnavailableError, UnknownBackendError, UnknownTagError
from refbench.pipelines.common import face_threshold
from refbench.pipelines.manifest import Backends
from refbench.registry import Workspace
from refbench.settings import PROJECT_ROOT, Settings
from refbench.types import AssetSet

from tests.conftest import read_workspace

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rembg_cleaner(demo_workspace: Settings):
    return create_cleaner("rembg-gray", model_dir=demo_workspace.models, providers=["CPUExecutionProvider"])


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(UnknownBackendError, match="No clean tier backend named 'magic'; available: generative"):
        create_cleaner("magic")


def test_tier2_from_demo_assets_keeps_originals(demo_copy: Settings, rembg_cleaner, tmp_path: Path) -> None:
    with read_workspace(demo_copy) as ws:
        registry = ws.assets.list()
    assets = [registry["CHAR_13"], registry["PROP_01"], registry["ANIM_01"]]
    inputs = [p for a in assets for p in (a.crop_path, a.source_image_path)]
    before = {p: sha256(p) for p in inputs}
    results = make_clean_references(assets, rembg_cleaner, out_dir=tmp_path / "clean")
    with Workspace.open(demo_copy) as ws:
        ws.clean.save(results, run_id="c1")
    assert {p: sha256(p) for p in inputs} == before  # originals and crops byte-identical
    for asset, result in zip(assets, results, strict=True):
        assert (result.tier, result.status, result.path.parent) == (2, "ok", tmp_path / "clean")
        assert result.path not in inputs
        with Image.open(result.path) as out, Image.open(asset.crop_path) as crop:
            assert out.size == crop.size and out.mode == "RGB"
            pixels = np.asarray(out).reshape(-1, 3)
        gray_share = np.mean(np.all(pixels == NEUTRAL_GRAY, axis=1))
        assert 0.02 < gray_share < 0.98, f"{asset.tag}: background share {gray_share:.2f}"
    with read_workspace(demo_copy) as ws:
        stored = sorted(ws.clean.list(), key=lambda c: c.tag)
        registry = ws.assets.list()
    assert [(c.tag, c.tier, c.is_primary, c.status, c.cost_unit, c.run_id) for c in stored] == [
        ("ANIM_01", 2, True, "ok", "s", "c1"),
        ("CHAR_13", 2, True, "ok", "s", "c1"),
        ("PROP_01", 2, True, "ok", "s", "c1"),
    ]
    assert registry["CHAR_13"].clean_path == results[0].path


def test_tier1_points_at_the_crop_and_becomes_primary_only_once(demo_copy: Settings, tmp_path: Path) -> None:
    cleaner = create_cleaner("original")
    with Workspace.open(demo_copy) as ws:
        asset = ws.assets.list()["PROP_01"]
        ws.clean.save(make_clean_references([asset], cleaner, out_dir=tmp_path))
        ws.clean.save(make_clean_references([asset], cleaner, out_dir=tmp_path))
        stored = ws.clean.list(tag="PROP_01")
    assert sorted(c.is_primary for c in stored) == [False, True] and {c.path for c in stored} == {asset.crop_path}


@dataclass
class Tier3:
    """An open demo workspace with what a tier-3 cleaner needs: its assets, identity centroids and threshold."""

    ws: Workspace
    registry: AssetSet
    identities: dict[str, np.ndarray]
    threshold: float


@pytest.fixture
def tier3(demo_copy: Settings, backends: Backends) -> Iterator[Tier3]:
    with Workspace.open(demo_copy) as ws:
        threshold = face_threshold(ws, "insightface").value
        yield Tier3(ws, ws.assets.list(), ws.identities.centroids("insightface"), threshold)


def stored_clean(ws: Workspace, tag: str) -> list[tuple[int, str, bool]]:
    """(tier, status, is_primary) of the stored clean references of ``tag``, by tier."""
    return sorted((c.tier, c.status, c.is_primary) for c in ws.clean.list(tag=tag))


def tier3_cleaner(tier3: Tier3, generator, face_analyzer, **options) -> GenerativeCleaner:
    """A tier-3 cleaner on the demo identities and threshold, falling back to tier 1."""
    return GenerativeCleaner(
        generator=generator,
        face_analyzer=face_analyzer,
        identities=tier3.identities,
        threshold=tier3.threshold,
        fallback=create_cleaner("original"),
        **options,
    )


def test_tier3_accepts_a_sheet_of_the_same_person(tier3: Tier3, backends: Backends, tmp_path: Path) -> None:
    generator = ReplayGenerator([PHOTOS / "obama_2.jpg"])
    cleaner = tier3_cleaner(tier3, generator, backends.faces)
    (result,) = make_clean_references([tier3.registry["CHAR_13"]], cleaner, out_dir=tmp_path)
    tier3.ws.clean.save([result])
    assert (result.tier, result.status, result.attempts) == (3, "ok", 1)
    assert result.similarity >= tier3.threshold == result.threshold
    assert "neutral gray" in result.prompt and generator.received[0][0] == result.prompt
    assert stored_clean(tier3.ws, "CHAR_13") == [(3, "ok", True)]


def test_tier3_falls_back_after_three_failed_attempts(tier3: Tier3, backends: Backends, tmp_path: Path) -> None:
    # Someone else (macron), then no face at all: never the same person.
    generator = ReplayGenerator([PHOTOS / "macron_2.jpg", PHOTOS / "china.jpg", PHOTOS / "macron_1.jpg"])
    cleaner = tier3_cleaner(tier3, generator, backends.faces)
    failed, fallback = make_clean_references([tier3.registry["CHAR_13"]], cleaner, out_dir=tmp_path)
    tier3.ws.clean.save([failed, fallback])
    assert generator.calls == 3
    assert (failed.tier, failed.status, failed.attempts) == (3, "failed", 3)
    assert failed.similarity < tier3.threshold
    assert failed.message.startswith("best ArcFace similarity") and "fell back to tier 1" in failed.message
    assert (fallback.tier, fallback.status) == (1, "ok")
    assert stored_clean(tier3.ws, "CHAR_13") == [(1, "ok", True), (3, "failed", False)]


def test_tier3_never_passes_without_a_face_model(tier3: Tier3) -> None:
    with pytest.raises(ModelUnavailableError, match="need a face model to validate identity"):
        tier3_cleaner(tier3, ReplayGenerator([PHOTOS / "obama_2.jpg"]), None)


@pytest.mark.parametrize(
    "tag, attempts, match",
    [("PROP_01", 3, "only characters with a known identity"), ("CHAR_13", 4, "max_attempts must be 1..3")],
)
def test_tier3_refusals(tier3: Tier3, backends: Backends, tmp_path: Path, tag: str, attempts: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cleaner = tier3_cleaner(tier3, ReplayGenerator([PHOTOS / "obama_2.jpg"]), backends.faces, max_attempts=attempts)
        cleaner.clean(tier3.registry[tag], out_dir=tmp_path)


def test_tier3_through_the_real_sdk_to_a_loopback_gemini(tier3: Tier3, backends: Backends, tmp_path: Path) -> None:
    """GeminiImageGenerator over HTTP: the fake image model hands the reference back, so it must pass ArcFace."""
    from refbench.fakes.gemini import FakeGemini
    from refbench.generation.chain import GeminiImageGenerator
    from refbench.google_api import GoogleApiSettings, make_client

    registry = tier3.registry
    with FakeGemini() as fake:
        client = make_client(mode="gemini", api_key="test-key", settings=GoogleApiSettings(base_url=fake.url))
        cleaner = tier3_cleaner(tier3, GeminiImageGenerator(client), backends.faces)
        (result,) = make_clean_references([registry["CHAR_13"]], cleaner, out_dir=tmp_path)
        fake.add_rule("safety")  # no image in the answer: said, not passed off as a sheet
        with pytest.raises(GenerationError, match="returned no image"):
            GeminiImageGenerator(client).generate("a prompt", np.zeros((64, 64, 3), np.uint8))
    assert (result.tier, result.status, result.attempts, result.method) == (3, "ok", 1, "generative:gemini-image")
    assert result.similarity > 0.9  # the same pixels, re-encoded
    request = fake.requests[0]
    assert request.model == "gemini-2.5-flash-image" and request.api_key == "test-key"
    parts = request.body["contents"][0]["parts"]
    inline = parts[1]["inlineData"]  # the SDK writes mime_type in snake case here; the API takes both
    assert parts[0]["text"] == result.prompt and (inline.get("mimeType") or inline["mime_type"]) == "image/png"
    with Image.open(result.path) as sheet, Image.open(registry["CHAR_13"].crop_path) as crop:
        assert sheet.size == crop.size


def test_clean_command_makes_tier2_sheets_as_a_tracked_run(demo_copy: Settings) -> None:
    from refbench.cli import app
    from typer.testing import CliRunner

    with read_workspace(demo_copy) as ws:
        registry = ws.assets.list()
    prop = next(t for t in registry.tags if t.startswith("PROP_"))
    before = sha256(registry[prop].crop_path)
    result = CliRunner().invoke(
        app, ["clean", "CHAR_13", prop, "--db", str(demo_copy.database)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    with read_workspace(demo_copy) as ws:
        stored = sorted(ws.clean.list(), key=lambda c: c.tag)
        (run,) = ws.runs.list(kind="clean")
        ok = [m.value for m in ws.runs.series(run.run_id, "clean_ok")]
    assert [(c.tag, c.tier, c.status, c.is_primary, c.run_id) for c in stored] == [
        ("CHAR_13", 2, "ok", True, run.run_id),
        (prop, 2, "ok", True, run.run_id),
    ]
    assert (run.kind, run.status) == ("clean", "completed")
    assert ok == [2] and all(c.path.is_file() and c.path.parent.name == "clean" for c in stored)
    assert sha256(registry[prop].crop_path) == before
    assert "CHAR_13" in result.output and "rembg-gray" in result.output


def test_clean_command_generative_tier_and_refusals(demo_copy: Settings) -> None:
    from refbench.cli import app
    from refbench.fakes.gemini import FakeGemini
    from typer.testing import CliRunner

    db, env = str(demo_copy.database), {"COLUMNS": "250", "GEMINI_API_KEY": "test-key"}
    with FakeGemini() as fake:
        result = CliRunner().invoke(
            app, ["clean", "CHAR_13", "--tier", "generative", "--base-url", fake.url, "--db", db], env=env
        )
    assert result.exit_code == 0, result.output
    # The registry, not the printed table: the shared rich console may be narrower than COLUMNS here.
    with read_workspace(demo_copy) as ws:
        stored = [(c.tier, c.method, c.status, c.is_primary) for c in ws.clean.list(tag="CHAR_13")]
    assert stored == [(3, "generative:gemini-image", "ok", True)] and len(fake.requests) == 1
    assert "CHAR_13" in result.output
    unknown = CliRunner().invoke(app, ["clean", "CHAR_99", "--db", db], env=env)
    assert unknown.exit_code != 0 and isinstance(unknown.exception, UnknownTagError)
    assert str(unknown.exception).startswith("unknown tag 'CHAR_99'; did you mean 'CHAR_09'")
    bad_tier = CliRunner().invoke(app, ["clean", "CHAR_13", "--tier", "magic", "--db", db], env=env)
    assert bad_tier.exit_code == 2 and "'magic' is not one of" in bad_tier.output  # typer's choice check
    assert "'multi-angle'" in bad_tier.output

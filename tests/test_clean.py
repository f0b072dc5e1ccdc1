"""Clean sheets from real demo assets: tier 1 and tier 2 beside the originals, tier 3 validated by ArcFace."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench import store
from refbench.clean import NEUTRAL_GRAY, create_cleaner, make_clean_references
from refbench.clean.generative import GenerativeCleaner, ReplayGenerator, identity_embeddings
from refbench.errors import ConfigError, ModelUnavailableError, UnknownBackendError
from refbench.manifest import Backends, resolve_threshold
from refbench.selection import load_registry
from refbench.settings import PROJECT_ROOT, Settings

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
    con = store.connect(demo_copy.database)
    registry = load_registry(con)
    assets = [registry["CHAR_13"], registry["PROP_01"], registry["ANIM_01"]]
    inputs = [p for a in assets for p in (a.crop_path, a.source_image_path)]
    before = {p: sha256(p) for p in inputs}
    results = make_clean_references(con, assets, rembg_cleaner, out_dir=tmp_path / "clean", run_id="c1")
    assert {p: sha256(p) for p in inputs} == before  # originals and crops byte-identical
    for asset, result in zip(assets, results, strict=True):
        assert (result.tier, result.status, result.path.parent) == (2, "ok", tmp_path / "clean")
        assert result.path not in inputs
        with Image.open(result.path) as out, Image.open(asset.crop_path) as crop:
            assert out.size == crop.size and out.mode == "RGB"
            pixels = np.asarray(out).reshape(-1, 3)
        gray_share = np.mean(np.all(pixels == NEUTRAL_GRAY, axis=1))
        assert 0.02 < gray_share < 0.98, f"{asset.tag}: background share {gray_share:.2f}"
    rows = con.execute("SELECT tag, tier, is_primary, status, cost_unit FROM clean_references ORDER BY tag").fetchall()
    assert rows == [("ANIM_01", 2, True, "ok", "s"), ("CHAR_13", 2, True, "ok", "s"), ("PROP_01", 2, True, "ok", "s")]
    assert load_registry(con)["CHAR_13"].clean_path == results[0].path
    con.close()


def test_tier1_points_at_the_crop_and_becomes_primary_only_once(demo_copy: Settings, tmp_path: Path) -> None:
    con = store.connect(demo_copy.database)
    asset = load_registry(con)["PROP_01"]
    cleaner = create_cleaner("original")
    make_clean_references(con, [asset], cleaner, out_dir=tmp_path)
    make_clean_references(con, [asset], cleaner, out_dir=tmp_path)
    rows = con.execute("SELECT path, is_primary FROM clean_references WHERE tag = 'PROP_01'").fetchall()
    assert sorted(p for _, p in rows) == [False, True] and {p for p, _ in rows} == {str(asset.crop_path)}
    con.close()


@pytest.fixture
def tier3(demo_copy: Settings, backends: Backends):
    con = store.connect(demo_copy.database)
    registry = load_registry(con)
    identities = identity_embeddings(con, face_model="insightface")
    threshold = resolve_threshold(demo_copy, "insightface")
    yield con, registry, identities, threshold
    con.close()


def tier3_cleaner(tier3, generator, face_analyzer, **options) -> GenerativeCleaner:
    """A tier-3 cleaner on the demo identities and threshold, falling back to tier 1."""
    _, _, identities, threshold = tier3
    return GenerativeCleaner(
        generator=generator,
        face_analyzer=face_analyzer,
        identities=identities,
        threshold=threshold,
        fallback=create_cleaner("original"),
        **options,
    )


def test_tier3_accepts_a_sheet_of_the_same_person(tier3, backends: Backends, tmp_path: Path) -> None:
    con, registry, identities, threshold = tier3
    generator = ReplayGenerator([PHOTOS / "obama_2.jpg"])
    cleaner = tier3_cleaner(tier3, generator, backends.faces)
    (result,) = make_clean_references(con, [registry["CHAR_13"]], cleaner, out_dir=tmp_path)
    assert (result.tier, result.status, result.attempts) == (3, "ok", 1)
    assert result.similarity >= threshold == result.threshold
    assert "neutral gray" in result.prompt and generator.received[0][0] == result.prompt
    assert con.execute("SELECT tier, is_primary FROM clean_references WHERE tag = 'CHAR_13'").fetchall() == [(3, True)]


def test_tier3_falls_back_after_three_failed_attempts(tier3, backends: Backends, tmp_path: Path) -> None:
    con, registry, identities, threshold = tier3
    # Someone else (macron), then no face at all: never the same person.
    generator = ReplayGenerator([PHOTOS / "macron_2.jpg", PHOTOS / "china.jpg", PHOTOS / "macron_1.jpg"])
    cleaner = tier3_cleaner(tier3, generator, backends.faces)
    failed, fallback = make_clean_references(con, [registry["CHAR_13"]], cleaner, out_dir=tmp_path)
    assert generator.calls == 3
    assert (failed.tier, failed.status, failed.attempts) == (3, "failed", 3)
    assert failed.similarity < threshold
    assert failed.message.startswith("best ArcFace similarity") and "fell back to tier 1" in failed.message
    assert (fallback.tier, fallback.status) == (1, "ok")
    rows = con.execute(
        "SELECT tier, status, is_primary FROM clean_references WHERE tag = 'CHAR_13' ORDER BY tier"
    ).fetchall()
    assert rows == [(1, "ok", True), (3, "failed", False)]


def test_tier3_never_passes_without_a_face_model(tier3) -> None:
    with pytest.raises(ModelUnavailableError, match="need a face model to validate identity"):
        tier3_cleaner(tier3, ReplayGenerator([PHOTOS / "obama_2.jpg"]), None)


@pytest.mark.parametrize(
    "tag, attempts, match",
    [("PROP_01", 3, "only characters with a known identity"), ("CHAR_13", 4, "max_attempts must be 1..3")],
)
def test_tier3_refusals(tier3, backends: Backends, tmp_path: Path, tag: str, attempts: int, match: str) -> None:
    registry = tier3[1]
    with pytest.raises(ConfigError, match=match):
        cleaner = tier3_cleaner(tier3, ReplayGenerator([PHOTOS / "obama_2.jpg"]), backends.faces, max_attempts=attempts)
        cleaner.clean(registry[tag], out_dir=tmp_path)


def test_tier3_through_the_real_sdk_to_a_loopback_gemini(tier3, backends: Backends, tmp_path: Path) -> None:
    """GeminiImageGenerator over HTTP: the fake image model hands the reference back, so it must pass ArcFace."""
    from refbench.fakes.gemini import FakeGemini
    from refbench.generation.chain import GeminiImageGenerator
    from refbench.generation.submit import make_client

    con, registry, identities, threshold = tier3
    with FakeGemini() as fake:
        client = make_client(mode="gemini", api_key="test-key", base_url=fake.url)
        cleaner = tier3_cleaner(tier3, GeminiImageGenerator(client), backends.faces)
        (result,) = make_clean_references(con, [registry["CHAR_13"]], cleaner, out_dir=tmp_path)
        fake.add_rule("safety")  # no image in the answer: said, not passed off as a sheet
        with pytest.raises(ConfigError, match="returned no image"):
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

    con = store.connect(demo_copy.database)
    registry = load_registry(con)
    con.close()
    prop = next(t for t in registry.tags if t.startswith("PROP_"))
    before = sha256(registry[prop].crop_path)
    result = CliRunner().invoke(
        app, ["clean", "CHAR_13", prop, "--db", str(demo_copy.database)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    con = store.connect(demo_copy.database)
    rows = con.execute(
        "SELECT c.tag, c.tier, c.status, c.path, c.is_primary, r.kind, r.status FROM clean_references c"
        " JOIN runs r USING (run_id) ORDER BY c.tag"
    ).fetchall()
    ok = con.execute("SELECT value FROM metrics WHERE name = 'clean_ok'").fetchone()[0]
    con.close()
    assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in rows] == [
        ("CHAR_13", 2, "ok", True, "clean", "completed"),
        (prop, 2, "ok", True, "clean", "completed"),
    ]
    assert ok == 2 and all(Path(r[3]).is_file() and Path(r[3]).parent.name == "clean" for r in rows)
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
    con = store.connect(demo_copy.database)
    stored = con.execute(
        "SELECT tier, method, status, is_primary FROM clean_references WHERE tag = 'CHAR_13'"
    ).fetchall()
    con.close()
    assert stored == [(3, "generative:gemini-image", "ok", True)] and len(fake.requests) == 1
    assert "CHAR_13" in result.output
    unknown = CliRunner().invoke(app, ["clean", "CHAR_99", "--db", db], env=env)
    assert unknown.exit_code != 0 and "no active asset CHAR_99" in str(unknown.exception)
    bad_tier = CliRunner().invoke(app, ["clean", "CHAR_13", "--tier", "magic", "--db", db], env=env)
    assert bad_tier.exit_code != 0 and "generative, original, rembg-gray" in str(bad_tier.exception)

"""The offline describer on the real demo workspace: measured facts in, distinct descriptions out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image
from refbench.cli import app
from refbench.describe import Description, create_describer
from refbench.describe.local import PALETTE, LocalDescriber, describe_yaw, dominant_colours, face_size_factor
from refbench.describe.runner import describe_assets, load_assets
from refbench.errors import ConfigError, UnknownBackendError
from refbench.settings import Settings
from typer.testing import CliRunner


def _assets(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.database), read_only=True)
    try:
        return con.execute(
            "SELECT tag, asset_type, name, reverse_prompt, visual_description, suggested_name,"
            " suitability, asset_id FROM v_assets ORDER BY asset_id"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture
def described(demo_copy: Settings) -> Settings:
    """The demo workspace copy after one local describe run."""
    summary = describe_assets(demo_copy, LocalDescriber())
    assert summary.by_status == {"ok": summary.assets, "blocked": 0, "malformed": 0, "error": 0}
    return demo_copy


def test_every_active_asset_gets_a_distinct_description(described: Settings) -> None:
    rows = _assets(described)
    assert len(rows) > 20
    for tag, _, _, prompt, visual, name, suitability, _ in rows:
        assert prompt and visual and name, tag
        assert 1.0 <= suitability <= 10.0
    assert len({r[3] for r in rows}) == len(rows), "reverse prompts repeat between assets"
    assert len({r[4] for r in rows}) == len(rows), "visual descriptions repeat between assets"
    assert len({round(r[6], 1) for r in rows}) >= 10, "suitability looks constant"


def test_descriptions_mention_measured_facts(described: Settings) -> None:
    colour = re.compile("|".join(sorted(PALETTE, key=len, reverse=True)))
    con = duckdb.connect(str(described.database), read_only=True)
    faces = dict(
        con.execute(
            "SELECT a.asset_id, f.width_frac FROM assets a JOIN identities d USING (identity_id)"
            " JOIN faces f ON f.face_id = d.best_face_id"
        ).fetchall()
    )
    con.close()
    for tag, asset_type, name, prompt, visual, _, _, asset_id in _assets(described):
        assert colour.search(prompt) and colour.search(visual), (tag, prompt)
        if asset_type == "character":
            assert f"{faces[asset_id]:.1%}" in visual and "yaw" in visual, visual
        elif asset_type != "environment":
            assert name in prompt and name in visual, (name, prompt)


def test_suitability_follows_measured_face_quality(described: Settings) -> None:
    con = duckdb.connect(str(described.database), read_only=True)
    rows = con.execute(
        "SELECT a.suitability, f.quality_score, f.width_frac FROM assets a JOIN identities d"
        " USING (identity_id) JOIN faces f ON f.face_id = d.best_face_id WHERE a.active"
    ).fetchall()
    con.close()
    expected = [1 + 9 * q * face_size_factor(w) for _, q, w in rows]
    np.testing.assert_allclose([r[0] for r in rows], expected, atol=0.051)
    worst = min(rows, key=lambda r: r[1])
    assert worst[0] == min(r[0] for r in rows)


def test_local_describer_is_deterministic(demo_copy: Settings) -> None:
    con = duckdb.connect(str(demo_copy.database))
    facts = [f for f, _, _ in load_assets(con) if f is not None][:6]
    con.close()
    first = [LocalDescriber().describe(f) for f in facts]
    second = [LocalDescriber().describe(f) for f in facts]
    assert [d.reverse_prompt for d in first] == [d.reverse_prompt for d in second]
    assert [d.suitability for d in first] == [d.suitability for d in second]


def test_rerun_uses_the_cache_and_a_changed_crop_is_described_again(described: Settings, tmp_path: Path) -> None:
    again = describe_assets(described, LocalDescriber())
    assert (again.calls, again.cached) == (0, again.assets)
    con = duckdb.connect(str(described.database))
    asset_id, crop = con.execute(
        "SELECT asset_id, crop_path FROM v_assets WHERE asset_type = 'prop' LIMIT 1"
    ).fetchone()
    changed = tmp_path / "changed.jpg"  # the crop files belong to the shared demo workspace: change a copy
    with Image.open(crop) as image:
        image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(changed, quality=80)
    con.execute("UPDATE assets SET crop_path = ? WHERE asset_id = ?", [str(changed), asset_id])
    con.close()
    third = describe_assets(described, LocalDescriber())
    assert (third.calls, third.cached) == (1, third.assets - 1)
    forced = describe_assets(described, LocalDescriber(), force=True)
    assert (forced.calls, forced.cached) == (forced.assets, 0)


def test_missing_crop_is_recorded_and_the_run_completes(demo_copy: Settings) -> None:
    con = duckdb.connect(str(demo_copy.database))
    asset_id = con.execute("SELECT asset_id FROM v_assets WHERE asset_type = 'vehicle' LIMIT 1").fetchone()[0]
    con.execute("UPDATE assets SET crop_path = '/nonexistent/crop.jpg' WHERE asset_id = ?", [asset_id])
    con.close()
    summary = describe_assets(demo_copy, LocalDescriber())
    assert summary.by_status["error"] == 1 and summary.by_status["ok"] == summary.assets - 1
    con = duckdb.connect(str(demo_copy.database), read_only=True)
    status, reason = con.execute(
        "SELECT status, reason FROM v_description_calls WHERE asset_id = ?", [asset_id]
    ).fetchone()
    run_status = con.execute("SELECT status FROM runs WHERE run_id = ?", [summary.run_id]).fetchone()[0]
    con.close()
    assert (status, run_status) == ("error", "completed")
    assert re.search("crop file missing: /nonexistent/crop.jpg", reason)


@pytest.mark.parametrize(
    ("rgb_halves", "expected"),
    [
        (((200, 30, 35), (200, 30, 35)), {"red": 1.0}),
        (((25, 35, 90), (245, 245, 245)), {"navy": 0.5, "white": 0.5}),
        (((60, 150, 60), (20, 20, 20)), {"green": 0.5, "black": 0.5}),
    ],
)
def test_dominant_colours_are_named_with_their_share(rgb_halves: tuple, expected: dict[str, float]) -> None:
    image = np.zeros((80, 120, 3), dtype=np.uint8)
    image[:, :60], image[:, 60:] = rgb_halves
    colours = dominant_colours(image)
    assert {c.name: round(c.share, 2) for c in colours} == expected


@pytest.mark.parametrize(
    ("yaw", "words"),
    [
        (3.0, "frontal"),
        (-20.0, "three-quarter view turned camera-left"),
        (30.0, "three-quarter view turned camera-right"),
        (70.0, "profile facing camera-right"),
    ],
)
def test_yaw_words_use_camera_terms(yaw: float, words: str) -> None:
    assert describe_yaw(yaw) == words


@pytest.mark.parametrize(("width_frac", "factor"), [(0.20, 1.0), (0.15, 1.0), (0.05, 2 / 3), (0.40, 0.5), (0.9, 0.5)])
def test_face_size_factor_prefers_the_15_to_25_percent_band(width_frac: float, factor: float) -> None:
    assert face_size_factor(width_frac) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "fine", "backend": "x", "model": "m", "prompt_version": "v"}, "status must be one of"),
        ({"status": "ok", "backend": "x", "model": "m", "prompt_version": "v", "suitability": 11.0}, r"\[1, 10\]"),
    ],
)
def test_description_checks_its_fields(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Description(**kwargs)


@pytest.mark.parametrize(
    ("name", "model", "error", "message"),
    [
        ("llava", None, UnknownBackendError, "No describer backend named 'llava'; available: gemini, local"),
        ("local", "gemini-2.5-pro", ConfigError, "the local describer uses no model"),
    ],
)
def test_create_describer_refuses_what_it_cannot_do(name: str, model: str | None, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        create_describer(name, model=model)


def test_cli_describe_local_on_a_copy_of_the_demo_database(demo_copy: Settings, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_copy.database, db)
    result = CliRunner().invoke(app, ["describe", "--backend", "local", "--db", str(db)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    missing = con.execute("SELECT count(*) FROM v_assets WHERE reverse_prompt IS NULL").fetchone()[0]
    total = con.execute("SELECT count(*) FROM v_assets").fetchone()[0]
    con.close()
    assert missing == 0 and f"│ {total}" in result.output

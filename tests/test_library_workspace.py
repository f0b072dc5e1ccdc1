"""The asset library on a real workspace: declared assets, near-duplicate links, index, search (Python and the
``--json`` contract of the CLI), recommendations and ``plan --auto``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.cli import app
from refbench.errors import ImageRejected, OptionError, UnknownTagError
from refbench.library.evaluation import make_variant
from refbench.pipelines.library import AddSummary, add_assets, near_duplicate_pairs, recommend, run_index, search
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.pipelines.plan import PlanOptions, plan_scenes
from refbench.settings import Settings
from typer.testing import CliRunner

from tests.conftest import MODELS, SAMPLES, read_workspace

DECLARED = ("python_logo.png", "brick.png", "gift_box.png")
JSON_KEYS = {"tag", "asset_type", "score", "source_image_file", "crop_path", "why"}


PHOTOS = ("bus.jpg", "dog.jpg", "obama_1.jpg", "obama_3.jpg", "macron_1.jpg")


@pytest.fixture(scope="module")
def library(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, AddSummary]:
    """A manifest of five photos plus three declared assets, a half-size re-encode of bus.jpg and a broken file."""
    root = tmp_path_factory.mktemp("library")
    photos = root / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLES / "photos" / name, photos / name)
    settings = Settings(data_dir=root, model_dir=MODELS, reports_dir=root / "reports")
    run_manifest(photos, settings=settings, options=ManifestOptions(), backends=backends)
    inbox = root / "inbox"
    inbox.mkdir()
    for name in DECLARED:
        shutil.copy(SAMPLES / "library" / name, inbox / name)
    bus = np.asarray(Image.open(SAMPLES / "photos" / "bus.jpg").convert("RGB"))
    Image.fromarray(make_variant(bus, "half_size")).save(inbox / "bus_half.jpg", quality=85)
    (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return settings, add_assets([inbox], settings=settings)


def tag_of(settings: Settings, file_name: str, asset_type: str | None = None) -> str:
    with read_workspace(settings) as ws:
        return next(
            a.tag for a in ws.assets.list() if a.source_image_file == file_name and asset_type in (None, a.asset_type)
        )


def test_declared_assets_are_typed_tagged_and_keep_their_alpha(library) -> None:
    settings, summary = library
    added = {Path(file).name: (tag, kind) for tag, kind, file, _ in summary.added}
    assert {k: v[1] for k, v in added.items()} == {
        "python_logo.png": "logo",
        "brick.png": "texture",
        "gift_box.png": "product",
        "bus_half.jpg": "prop",
    }
    assert added["python_logo.png"][0].startswith("LOGO_") and added["brick.png"][0].startswith("TEX_")
    assert summary.rejected == {
        str(settings.data_dir / "inbox" / "broken.png"): summary.rejected[
            str(settings.data_dir / "inbox" / "broken.png")
        ]
    }
    with read_workspace(settings) as ws:
        assert {"origin", "has_alpha", "type_reason"} <= set(ws.view_columns("v_assets"))
        logo = ws.assets.list()[added["python_logo.png"][0]]
    with Image.open(logo.crop_path) as crop:
        assert crop.mode == "RGBA" and crop.getextrema()[3][0] == 0  # the transparent background is kept


def test_a_near_duplicate_is_registered_but_linked(library) -> None:
    settings, _ = library
    links = {(p.image_file, p.duplicate_of, p.method) for p in near_duplicate_pairs(settings)}
    assert ("bus_half.jpg", "bus.jpg", "phash") in links
    assert all(a != "bus_half.jpg" or b == "bus.jpg" for a, b, _ in links)
    assert "bus_half.jpg" in {a.source_image_file for a in Workspace_assets(settings)}


def Workspace_assets(settings: Settings):  # noqa: N802 - reads like the table it lists
    with read_workspace(settings) as ws:
        return list(ws.assets.list())


def test_adding_the_same_file_again_adds_nothing(library) -> None:
    settings, _ = library
    again = add_assets([SAMPLES / "library" / "brick.png"], settings=settings, index=False)
    assert again.added == [] and list(again.already.values()) == [tag_of(settings, "brick.png")]


def test_search_json_contract_from_the_command_line(library) -> None:
    settings, _ = library
    result = CliRunner().invoke(app, ["search", "python logo", "-k", "3", "--json", "--db", str(settings.database)])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 3 and all(set(h) >= JSON_KEYS for h in hits)
    assert hits[0]["source_image_file"] == "python_logo.png" and hits[0]["asset_type"] == "logo"
    assert Path(hits[0]["crop_path"]).is_file() and "python" in hits[0]["why"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    typed = json.loads(
        CliRunner()
        .invoke(app, ["search", "animal", "--type", "animal", "--json", "--db", str(settings.database)])
        .output
    )
    assert typed and {h["asset_type"] for h in typed} == {"animal"}


def test_text_search_reads_ocr_text(library) -> None:
    settings, _ = library
    hits = search("cero emisiones", settings=settings, k=3)
    assert (hits[0].source_image_file, hits[0].asset_type) == ("bus.jpg", "vehicle") and "OCR" in hits[0].why
    # bus_half.jpg reads the same words, but repeats bus.jpg: hidden behind it, still registered
    assert "bus_half.jpg" not in {h.source_image_file for h in hits}


def test_an_image_query_with_a_face_returns_the_character(library) -> None:
    settings, _ = library
    hits = search(image=SAMPLES / "photos" / "obama_2.jpg", settings=settings, k=3)
    assert hits[0].asset_type == "character" and hits[0].source_image_file.startswith("obama_")
    assert "face matches" in hits[0].why and hits[0].score > 0.5
    objects = search(image=SAMPLES / "photos" / "dog.jpg", settings=settings, k=3, types=("animal", "vehicle"))
    assert objects[0].source_image_file == "dog.jpg" and "visual cosine" in objects[0].why
    assert {h.asset_type for h in objects} <= {"animal", "vehicle"}


def test_more_like_this_and_recommendations_exclude_the_selection(library) -> None:
    settings, _ = library
    logo = tag_of(settings, "python_logo.png")
    like = search(like=logo, settings=settings, k=5)
    assert logo not in {h.tag for h in like} and len(like) == 5
    style = recommend([logo], settings=settings, k=3, types=("character", "texture", "product"))
    assert logo not in {h.tag for h in style} and {h.asset_type for h in style} <= {"character", "texture", "product"}
    assert "colour" in style[0].why


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, OptionError, "give a text, an image or a tag"),
        ({"like": "LOGO_99"}, UnknownTagError, "unknown tag 'LOGO_99'"),
        ({"image": SAMPLES / "nope.jpg"}, ImageRejected, "unreadable"),
        ({"text": "bus", "k": 0}, OptionError, "k must be at least 1"),
    ],
    ids=["nothing", "unknown-tag", "missing-image", "k-zero"],
)
def test_search_refuses_bad_queries_with_a_reason(library, kwargs, error, message) -> None:
    settings, _ = library
    with pytest.raises(error, match=message):
        search(settings=settings, **kwargs)


def test_index_is_incremental_and_a_rename_refreshes_only_the_text(library) -> None:
    settings, _ = library
    again = run_index(settings)
    assert (again.assets_indexed, again.images_hashed, again.texts_refreshed) == (0, 0, 0)
    brick = tag_of(settings, "brick.png")
    renamed = CliRunner().invoke(app, ["assets", "rename", brick, "terracotta facade", "--db", str(settings.database)])
    assert renamed.exit_code == 0, renamed.output
    refreshed = run_index(settings)
    assert (refreshed.assets_indexed, refreshed.texts_refreshed) == (0, 1)
    assert search("terracotta facade", settings=settings, k=1)[0].tag == brick


def test_plan_auto_places_assets_from_the_prompt_and_stores_why(library, tmp_path: Path) -> None:
    settings, _ = library
    logo, bus = tag_of(settings, "python_logo.png"), tag_of(settings, "bus.jpg", "vehicle")
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(
        "scenes:\n"
        "  - {scene_id: s1, shot_type: object_focus, prompt: 'The python logo painted on the side of the bus.'}\n"
        f"  - {{scene_id: s2, shot_type: medium, prompt: 'The bus drives off.', unpins: [{bus}]}}\n"
    )
    planned = plan_scenes(scenes, settings=settings, options=PlanOptions(), auto=True)
    first, second = planned.plans
    assert set(first.selection.tags) == {logo, bus} and len(first.selection.tags) <= 3
    assert bus not in second.selection.tags  # an unpin still overrides
    with read_workspace(settings) as ws:
        stored = ws.library.placements(planned.run_id)
    assert {(p.scene_id, p.tag) for p in stored} == {("s1", logo), ("s1", bus)}
    assert all(0 < p.confidence <= 1 and "in the prompt" in p.reason for p in stored)


def test_the_flow_task_indexes_incrementally(library) -> None:
    """The manifest flow's index task is ``run_index`` (tested through ``.fn()``, CONVENTIONS.md 10)."""
    import importlib.util

    from refbench.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("manifest_flow", PROJECT_ROOT / "flows" / "manifest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings, _ = library
    summary = module.index_task.fn(settings)
    assert summary.assets_indexed == 0 and summary.assets_unchanged > 0

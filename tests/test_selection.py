"""Reference selection over the real demo registry: shot-type rules, two characters, overrides, storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from refbench.clean import CleanResult
from refbench.errors import SelectionError, UnknownTagError
from refbench.registry import Workspace
from refbench.registry.plans import StoredSelection
from refbench.select.scenes import SceneSpec
from refbench.select.selection import select_references
from refbench.settings import PROJECT_ROOT, Settings
from refbench.types import Asset, AssetSet

from tests.conftest import read_workspace

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"


@pytest.fixture(scope="module")
def registry(demo_workspace: Settings) -> AssetSet:
    with read_workspace(demo_workspace) as ws:
        return ws.assets.list()


def make_scene(shot: str, placements: list[tuple[str, str]], **fields: object) -> SceneSpec:
    return SceneSpec(
        scene_id="t",
        prompt="p",
        shot_type=shot,
        placements=[{"asset_tag": t, "role": r} for t, r in placements],
        **fields,
    )


def test_demo_registry_has_the_tags_the_samples_use(registry: AssetSet) -> None:
    assert {"CHAR_01", "CHAR_02", "CHAR_04", "CHAR_12", "CHAR_13", "CHAR_14", "PROP_01", "ENV_03"} <= set(registry.tags)
    assert registry["CHAR_04"].full_body_path is not None  # bus.jpg: a person box around the face
    # The demo is not described: the description falls back to the name.
    assert registry["CHAR_13"].visual_description is None
    assert registry["CHAR_13"].description == registry["CHAR_13"].name == "character 13"


def test_description_is_the_visual_description_else_the_name() -> None:
    described = _asset("CHAR_01", PHOTOS / "obama_1.jpg", visual_description="a man in a dark suit")
    assert described.description == "a man in a dark suit"
    assert _asset("CHAR_02", PHOTOS / "obama_2.jpg").description == "CHAR_02"


# shot type, placements (tag, role), expected chosen tags in slot order, expected variants
SHOT_RULES = [
    (
        "establishing",
        [("CHAR_13", "subject"), ("PROP_01", "interaction_target"), ("ENV_03", "background")],
        ["ENV_03", "PROP_01", "CHAR_13"],
        ["environment", "object_crop", "face_crop"],
    ),
    (
        "close_up",
        [("PROP_01", "subject"), ("ENV_03", "subject"), ("CHAR_13", "background")],
        ["CHAR_13", "PROP_01", "ENV_03"],
        ["face_crop", "object_crop", "environment"],
    ),
    (
        "two_shot",
        [("CHAR_13", "subject"), ("PROP_01", "subject"), ("ENV_03", "background"), ("CHAR_12", "background")],
        ["CHAR_13", "CHAR_12", "ENV_03"],
        ["face_crop", "face_crop", "environment"],
    ),
    (
        "object_focus",
        [("CHAR_13", "subject"), ("ENV_03", "subject"), ("PROP_01", "background")],
        ["PROP_01", "CHAR_13", "ENV_03"],
        ["object_crop", "face_crop", "environment"],
    ),
    ("wide", [("ENV_03", "background"), ("CHAR_04", "subject")], ["CHAR_04", "ENV_03"], ["full_body", "environment"]),
    (
        "action",
        [("PROP_01", "interaction_target"), ("CHAR_04", "subject")],
        ["CHAR_04", "PROP_01"],
        ["full_body", "object_crop"],
    ),
    (
        "medium",
        [("CHAR_13", "background"), ("ENV_03", "interaction_target"), ("PROP_01", "subject")],
        ["PROP_01", "ENV_03", "CHAR_13"],
        ["object_crop", "environment", "face_crop"],
    ),
]


@pytest.mark.parametrize("shot, placements, tags, variants", SHOT_RULES)
def test_shot_type_rules(registry: AssetSet, shot: str, placements: list, tags: list, variants: list) -> None:
    selection = select_references(make_scene(shot, placements), registry)
    assert selection.tags == tags
    assert [s.variant for s in selection.chosen] == variants
    assert [s.slot for s in selection.chosen] == list(range(1, len(tags) + 1))
    assert all(s.reason for s in selection.chosen)


def test_quality_breaks_ties_within_a_role(registry: AssetSet) -> None:
    tags = ["CHAR_01", "CHAR_03", "CHAR_12", "CHAR_13", "CHAR_14"]
    by_quality = sorted(tags, key=lambda t: -(registry[t].quality or 0))
    selection = select_references(make_scene("medium", [(t, "subject") for t in tags]), registry, max_refs=5)
    assert selection.tags == by_quality
    for tag, slot in zip(by_quality, selection.chosen, strict=True):
        assert f"quality {registry[tag].quality:.2f}" in slot.reason


def test_never_more_than_max_refs(registry: AssetSet) -> None:
    placements = [(t, "subject") for t in ("CHAR_01", "CHAR_03", "CHAR_12", "CHAR_13", "CHAR_14")]
    selection = select_references(make_scene("medium", placements), registry, max_refs=3)
    assert len(selection.chosen) == 3
    assert [s.reason.startswith("over max_refs=3") for s in selection.dropped] == [True, True]
    assert len(select_references(make_scene("medium", placements), registry, max_refs=1).chosen) == 1
    with pytest.raises(SelectionError, match="max_refs must be at least 1"):
        select_references(make_scene("medium", placements), registry, max_refs=0)


def test_duplicate_placement_keeps_best_role(registry: AssetSet) -> None:
    selection = select_references(make_scene("medium", [("CHAR_13", "background"), ("CHAR_13", "subject")]), registry)
    assert selection.tags == ["CHAR_13"] and selection.chosen[0].role.value == "subject"
    assert "duplicate placement of CHAR_13" in selection.dropped[0].reason


def _asset(tag: str, path: Path, **fields: object) -> Asset:
    return Asset(
        asset_id=tag,
        tag=tag,
        asset_type=fields.pop("asset_type", "character"),
        name=tag,
        crop_path=path,
        source_image_id=tag,
        **fields,
    )


def test_identical_images_are_deduplicated(tmp_path: Path) -> None:
    copy = tmp_path / "copy.jpg"
    copy.write_bytes((PHOTOS / "china.jpg").read_bytes())
    registry = AssetSet(
        {
            "ENV_01": _asset("ENV_01", PHOTOS / "china.jpg", asset_type="environment"),
            "ENV_02": _asset("ENV_02", copy, asset_type="environment"),
        }
    )
    selection = select_references(
        make_scene("establishing", [("ENV_01", "background"), ("ENV_02", "background")]), registry
    )
    assert selection.tags == ["ENV_01"]
    assert selection.dropped[0].reason == "same image as ENV_01: de-duplicated"


def test_wide_without_full_body_uses_the_source_photo() -> None:
    asset = _asset("CHAR_01", PHOTOS / "obama_1.jpg", source_image_path=PHOTOS / "obama_2.jpg")
    registry = AssetSet({"CHAR_01": asset})
    (slot,) = select_references(make_scene("wide", [("CHAR_01", "subject")]), registry).chosen
    assert (slot.variant, slot.image_path) == ("source_image", PHOTOS / "obama_2.jpg")
    assert "no full-body crop: whole source photo instead" in slot.reason


# two-shot: (placements, unpins, registry override) -> error message
TWO_SHOT_FAILURES = [
    ([("CHAR_13", "subject"), ("ENV_03", "background")], [], r"two_shot needs two different characters.*\['CHAR_13'\]"),
    (
        [("CHAR_13", "subject"), ("CHAR_12", "subject")],
        ["CHAR_12"],
        r"chosen \['CHAR_13'\] \(unpinned: \['CHAR_12'\]\)",
    ),
    ([("ENV_03", "background")], [], r"placed characters \[\]"),
]


@pytest.mark.parametrize("placements, unpins, match", TWO_SHOT_FAILURES)
def test_two_shot_needs_two_different_characters(
    registry: AssetSet, placements: list, unpins: list, match: str
) -> None:
    with pytest.raises(SelectionError, match=match):
        select_references(make_scene("two_shot", placements, unpins=unpins), registry)


def test_two_tags_of_one_identity_are_not_two_characters() -> None:
    registry = AssetSet(
        {
            "CHAR_01": _asset("CHAR_01", PHOTOS / "obama_1.jpg", identity_id="m/obama"),
            "CHAR_02": _asset("CHAR_02", PHOTOS / "obama_2.jpg", identity_id="m/obama"),
        }
    )
    with pytest.raises(SelectionError, match="two different characters"):
        select_references(make_scene("two_shot", [("CHAR_01", "subject"), ("CHAR_02", "subject")]), registry)
    selection = select_references(make_scene("medium", [("CHAR_01", "subject"), ("CHAR_02", "subject")]), registry)
    assert selection.tags == ["CHAR_01"] and selection.dropped[0].reason == "same identity as CHAR_01"


# overrides: placements, pins, unpins, expected tags, expected dropped (tag, reason start)
OVERRIDES = [
    (
        [
            ("CHAR_13", "subject"),
            ("CHAR_12", "interaction_target"),
            ("CHAR_01", "background"),
            ("ENV_03", "background"),
        ],
        ["ENV_03"],
        [],
        ["ENV_03", "CHAR_13", "CHAR_12"],
        ("CHAR_01", "over max_refs"),
    ),
    (
        [("CHAR_13", "subject"), ("CHAR_12", "subject"), ("ENV_03", "background")],
        [],
        ["CHAR_12"],
        ["CHAR_13", "ENV_03"],
        ("CHAR_12", "unpinned by the user"),
    ),
    (
        [("CHAR_13", "subject"), ("PROP_01", "background"), ("ENV_03", "background")],
        ["PROP_01"],
        ["CHAR_13"],
        ["PROP_01", "ENV_03"],
        ("CHAR_13", "unpinned by the user"),
    ),
]


@pytest.mark.parametrize("placements, pins, unpins, tags, dropped", OVERRIDES)
def test_pins_and_unpins(
    registry: AssetSet, placements: list, pins: list, unpins: list, tags: list, dropped: tuple
) -> None:
    selection = select_references(make_scene("medium", placements, pins=pins, unpins=unpins), registry)
    assert selection.tags == tags
    assert [(s.tag, s.reason[: len(dropped[1])]) for s in selection.dropped] == [dropped]
    for slot in selection.chosen:
        assert slot.pinned == (slot.tag in pins)
        assert slot.reason.startswith("pinned by the user") == (slot.tag in pins)


def test_more_pins_than_slots_is_refused(registry: AssetSet) -> None:
    scene = make_scene("medium", [("CHAR_13", "subject"), ("CHAR_12", "subject")], pins=["CHAR_13", "CHAR_12"])
    with pytest.raises(SelectionError, match=r"2 pinned tags \['CHAR_13', 'CHAR_12'\] exceed max_refs=1"):
        select_references(scene, registry, max_refs=1)


def test_unknown_tag_is_refused(registry: AssetSet) -> None:
    with pytest.raises(UnknownTagError, match="^unknown tag 'CHAR_99'; did you mean 'CHAR_09'"):
        select_references(make_scene("medium", [("CHAR_99", "subject")]), registry)


def test_selection_and_overrides_are_stored(demo_copy: Settings) -> None:
    scene = make_scene(
        "medium",
        [("CHAR_13", "subject"), ("CHAR_12", "subject"), ("ENV_03", "background")],
        pins=["ENV_03"],
        unpins=["CHAR_12"],
    )
    with Workspace.open(demo_copy) as ws:
        selection_id = ws.plans.save_selection(select_references(scene, ws.assets.list()), run_id="r1")
    with read_workspace(demo_copy) as ws:
        stored = ws.plans.selection(selection_id)
        slots = ws.plans.slots(selection_id)
    assert stored == StoredSelection(
        selection_id, "t", "medium", 3, ["ENV_03", "CHAR_13"], ["ENV_03"], ["CHAR_12"], "r1"
    )
    assert [(s.tag, s.slot, s.pinned) for s in slots] == [
        ("ENV_03", 1, True),
        ("CHAR_13", 2, False),
        ("CHAR_12", None, False),
    ]
    assert slots[2].reason == "unpinned by the user (manual override)"


def test_primary_clean_reference_is_used(demo_copy: Settings, tmp_path: Path) -> None:
    clean = tmp_path / "CHAR_13-clean.png"
    clean.write_bytes((PHOTOS / "obama_1.jpg").read_bytes())
    with Workspace.open(demo_copy) as ws:
        asset = ws.assets.list()["CHAR_13"]
        ws.clean.save([CleanResult("CHAR_13", asset.asset_id, 2, "rembg-gray", clean)])
        registry = ws.assets.list()
    assert (registry["CHAR_13"].clean_path, registry["CHAR_13"].clean_tier) == (clean, 2)
    selection = select_references(make_scene("close_up", [("CHAR_13", "subject")]), registry)
    assert (selection.chosen[0].variant, selection.chosen[0].image_path) == ("clean_tier2", clean)
    assert "primary clean reference (tier 2)" in selection.chosen[0].reason

"""Scene specs: valid files load; every kind of mistake is refused naming its scene and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from refbench.errors import SceneSpecError
from refbench.select.scenes import Role, ShotType, load_scenes, parse_scenes
from refbench.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data" / "samples"
KNOWN = ["CHAR_01", "CHAR_12", "CHAR_13", "ENV_03", "PROP_01"]


def scene(**fields: object) -> dict:
    base = {
        "scene_id": "s1",
        "prompt": "A leader waves.",
        "shot_type": "medium",
        "placements": [{"asset_tag": "CHAR_13", "role": "subject"}],
    }
    return {**base, **fields}


def test_valid_scene_parses_with_defaults() -> None:
    (spec,) = parse_scenes({"scenes": [scene()]}, known_tags=KNOWN)
    assert spec.shot_type is ShotType.MEDIUM
    assert spec.placements[0].role is Role.SUBJECT
    assert (spec.aspect_ratio, spec.resolution, spec.duration_seconds) == ("16:9", "720p", None)


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"shot_type": "dutch_angle"}, r"scene 's1', field shot_type: 'dutch_angle' is not one of .*close_up"),
        ({"prompt": None}, r"scene 's1', field prompt:"),
        ({"prompt": "   "}, r"scene 's1', field prompt: prompt must not be blank"),
        (
            {"placements": [{"asset_tag": "CHAR_13", "role": "hero"}]},
            r"field placements\.0\.role: 'hero' is not one of 'subject'",
        ),
        (
            {"placements": [{"asset_tag": "char13", "role": "subject"}]},
            r"field placements\.0\.asset_tag: String should",
        ),
        (
            {"placements": [{"asset_tag": "CHAR_99", "role": "subject"}]},
            r"field placements\.0\.asset_tag: unknown tag 'CHAR_99'",
        ),
        ({"aspect_ratio": "4:3"}, r"field aspect_ratio: aspect ratio '4:3' is not one of 16:9, 9:16"),
        ({"resolution": "8k"}, r"field resolution: resolution '8k' is not one of"),
        ({"duration_seconds": "long"}, r"field duration_seconds:"),
        ({"pins": ["CHAR_12"]}, r"field \(scene\): pins \['CHAR_12'\] are not placed in this scene"),
        ({"pins": ["CHAR_13"], "unpins": ["CHAR_13"]}, r"both pinned and unpinned"),
        ({"colour": "blue"}, r"field colour: Extra inputs are not permitted"),
        ({"first_frame": "does_not_exist.png"}, r"field first_frame: no image file at"),
    ],
)
def test_invalid_scene_is_refused_naming_scene_and_field(fields: dict, match: str, tmp_path: Path) -> None:
    with pytest.raises(SceneSpecError, match=match):
        parse_scenes({"scenes": [scene(**fields)]}, known_tags=KNOWN, base_dir=tmp_path)


def test_missing_prompt_says_required() -> None:
    data = scene()
    del data["prompt"]
    with pytest.raises(SceneSpecError, match=r"scene 's1', field prompt: missing \(this field is required\)"):
        parse_scenes([data])


def test_every_problem_is_listed_and_duplicates_caught() -> None:
    with pytest.raises(SceneSpecError) as caught:
        parse_scenes({"scenes": [scene(), scene(), scene(scene_id="s2", shot_type="x")]}, known_tags=KNOWN)
    assert caught.value.problems == [
        "scene 's1', field scene_id: duplicate scene id",
        "scene 's2', field shot_type: 'x' is not one of 'close_up', 'medium', 'two_shot', 'establishing', "
        "'action', 'object_focus' or 'wide'",
    ]


@pytest.mark.parametrize(
    "data, match", [({}, "non-empty list under 'scenes'"), ({"scenes": []}, "non-empty"), ("text", "non-empty")]
)
def test_file_without_scenes_is_refused(data: object, match: str) -> None:
    with pytest.raises(SceneSpecError, match=match):
        parse_scenes(data)


def test_load_yaml_json_and_broken_files(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"scenes": [scene()]}))
    assert load_scenes(tmp_path / "s.json", known_tags=KNOWN)[0].scene_id == "s1"
    (tmp_path / "bad.yaml").write_text("scenes: [ {scene_id: s1,")
    with pytest.raises(SceneSpecError, match="not valid yaml"):
        load_scenes(tmp_path / "bad.yaml")
    with pytest.raises(SceneSpecError, match="no such file"):
        load_scenes(tmp_path / "missing.yaml")


def test_frames_resolve_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes((SAMPLES / "photos" / "astronaut.png").read_bytes())
    (tmp_path / "s.yaml").write_text("scenes:\n  - {scene_id: f, prompt: p, shot_type: wide, first_frame: first.png}\n")
    (spec,) = load_scenes(tmp_path / "s.yaml")
    assert spec.first_frame == tmp_path / "first.png"


def test_sample_files() -> None:
    tags = [f"{p}_{i:02d}" for p in ("CHAR", "PROP", "ENV", "VEH", "ANIM") for i in range(1, 17)]
    scenes = load_scenes(SAMPLES / "scenes.yaml", known_tags=tags)
    assert {s.shot_type for s in scenes} >= {
        ShotType.ESTABLISHING,
        ShotType.TWO_SHOT,
        ShotType.CLOSE_UP,
        ShotType.OBJECT_FOCUS,
        ShotType.WIDE,
    }
    with pytest.raises(SceneSpecError) as caught:
        load_scenes(SAMPLES / "scenes_invalid.yaml", known_tags=tags)
    assert len(caught.value.problems) == 5
    assert all(p.startswith("scene '") and ", field " in p for p in caught.value.problems)


@pytest.mark.parametrize(
    ("text", "suffix", "problem"),
    [
        ("[" * 5000 + "]" * 5000, ".json", "nested deeper than 20 levels"),
        ("a:\n" + "".join(" " * (2 * i) + "- \n" for i in range(1, 40)), ".yaml", "nested deeper than 20 levels"),
        (
            "scenes:\n  - scene_id: s1\n    prompt: a\n    prompt: b\n    shot_type: wide\n",
            ".yaml",
            "key 'prompt' appears twice in one mapping",
        ),
        ("x: &a [1, 2]\ny: *a\n", ".yaml", r"aliases \(\*a\) are not allowed"),
    ],
    ids=["deep-json", "deep-yaml", "duplicate-key", "alias"],
)
def test_hostile_scene_files_are_refused_with_a_reason(tmp_path: Path, text: str, suffix: str, problem: str) -> None:
    path = tmp_path / f"scenes{suffix}"
    path.write_text(text)
    with pytest.raises(SceneSpecError, match=problem):
        load_scenes(path)


def test_a_file_that_is_not_utf8_or_too_big_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("scenes:\n  - scene_id: café\n".encode("latin-1"))
    with pytest.raises(SceneSpecError, match=r"not UTF-8 text \(byte 25\): save the file as UTF-8"):
        load_scenes(tmp_path / "latin1.yaml")
    (tmp_path / "big.yaml").write_text("scenes:\n  - scene_id: s1\n    prompt: " + "x" * 10_000_000 + "\n")
    with pytest.raises(SceneSpecError, match="over 2000000 bytes"):
        load_scenes(tmp_path / "big.yaml")


def test_a_prompt_longer_than_veo_takes_is_refused_naming_scene_and_field() -> None:
    with pytest.raises(SceneSpecError, match=r"scene 's1', field prompt: String should have at most 4000 characters"):
        parse_scenes({"scenes": [scene(prompt="word " * 1000)]})


@pytest.mark.parametrize(
    "frame", ["../outside.png", "/proc/self/environ", "/etc/passwd", "link_out.png"], ids=lambda f: f.strip("./")
)
def test_frames_outside_the_scenes_folder_are_refused(tmp_path: Path, frame: str) -> None:
    folder = tmp_path / "story"
    folder.mkdir()
    (tmp_path / "outside.png").write_bytes(b"x")
    (folder / "link_out.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(SceneSpecError, match=r"field first_frame: .* is outside the scenes file's folder"):
        parse_scenes({"scenes": [scene(first_frame=frame)]}, base_dir=folder)


def test_a_frame_may_name_a_registered_image(tmp_path: Path) -> None:
    stored = tmp_path / "files" / "originals" / "ab" / "abcd.jpg"
    (parsed,) = parse_scenes(
        {"scenes": [scene(first_frame="zidane.jpg")]}, base_dir=tmp_path, registered_images={"zidane.jpg": stored}
    )
    assert parsed.first_frame == stored

"""View sheets from real photos: Obama facing the camera, turned to his right, and the same turned photo mirrored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.errors import InputError, UnknownTagError
from refbench.faces.pose import VIEWS, View, mirrored, turn_words, view_of_yaw
from refbench.identity.views import bin_faces
from refbench.pipelines.views import run_view_sheet
from refbench.settings import Settings

from tests.conftest import read_workspace


def obama_faces(settings: Settings):
    with read_workspace(settings) as ws:
        gallery = ws.faces.gallery("insightface")
    return gallery[gallery.data["identity_tag"] == "CHAR_01"]


@pytest.mark.parametrize(
    ("yaw", "view"),
    [
        (0.0, View.FRONT),
        (-14.9, View.FRONT),
        (15.0, View.THREE_QUARTER_LEFT),  # nose towards the image's right edge: the subject turned to their left
        (-24.0, View.THREE_QUARTER_RIGHT),
        (44.9, View.THREE_QUARTER_LEFT),
        (45.0, View.PROFILE_LEFT),
        (90.0, View.PROFILE_LEFT),
        (-90.0, View.PROFILE_RIGHT),
    ],
)
def test_yaw_bins_name_the_subjects_own_side(yaw: float, view: View) -> None:
    assert view_of_yaw(yaw) is view
    assert VIEWS[view].contains(yaw)


@pytest.mark.parametrize(
    ("yaw", "reference", "expected"),
    [(25.0, -24.0, True), (25.0, 30.0, False), (-20.0, -40.0, False), (5.0, 30.0, None), (30.0, -14.0, None)],
)
def test_mirrored_needs_two_clearly_turned_faces(yaw: float, reference: float, expected: bool | None) -> None:
    assert mirrored(yaw, reference) is expected


def test_prompts_name_image_edges_not_sides() -> None:
    assert turn_words(24.0) == "turned about 25 degrees, the nose pointing towards the RIGHT edge of the image"
    assert turn_words(-3.0).startswith("facing the camera")
    assert "RIGHT edge" in VIEWS[View.THREE_QUARTER_LEFT].prompt and "LEFT edge" in VIEWS[View.PROFILE_RIGHT].prompt


def test_turned_photos_fill_the_right_bins(turned_workspace: Settings) -> None:
    faces = obama_faces(turned_workspace)
    sheet = bin_faces(faces, tag="CHAR_01", face_model="insightface")
    files = {view: image.image_file for view, image in sheet.images.items()}
    assert files[View.THREE_QUARTER_RIGHT] == "obama_2.jpg"  # he turns to his own right: nose to the left edge
    assert files[View.THREE_QUARTER_LEFT] == "obama_2_mirrored.jpg"
    fronts = {
        name: q
        for name, q, yaw in zip(*(faces.data[k] for k in ("image_file", "quality_score", "yaw")), strict=True)
        if abs(yaw) < 15
    }
    assert sorted(fronts) == ["obama_1.jpg", "obama_3.jpg", "obama_4.jpg"]
    assert files[View.FRONT] == max(fronts, key=fronts.get) == "obama_1.jpg"  # the best quality of its view
    assert sheet.counts == {
        View.PROFILE_RIGHT: 0,
        View.THREE_QUARTER_RIGHT: 1,
        View.FRONT: 3,
        View.THREE_QUARTER_LEFT: 1,
        View.PROFILE_LEFT: 0,
    }
    assert sheet.missing == [View.PROFILE_RIGHT, View.PROFILE_LEFT]
    assert "own left" in sheet.advice[View.PROFILE_LEFT] and "right edge" in sheet.advice[View.PROFILE_LEFT]
    turned, flipped = sheet.images[View.THREE_QUARTER_RIGHT], sheet.images[View.THREE_QUARTER_LEFT]
    assert turned.yaw < -15 < 15 < flipped.yaw and abs(turned.yaw + flipped.yaw) < 3  # mirroring negates yaw


def test_without_the_mirrored_photo_the_left_view_is_missing(turned_workspace: Settings) -> None:
    faces = obama_faces(turned_workspace)
    keep = np.array([name != "obama_2_mirrored.jpg" for name in faces.data["image_file"]])
    sheet = bin_faces(faces[keep], tag="CHAR_01", face_model="insightface")
    assert View.THREE_QUARTER_LEFT in sheet.missing and View.THREE_QUARTER_RIGHT not in sheet.missing


def test_bin_faces_refuses_unmeasured_faces(turned_workspace: Settings) -> None:
    faces = obama_faces(turned_workspace)
    del faces.data["yaw"]
    with pytest.raises(InputError, match="CHAR_01: faces lack yaw"):
        bin_faces(faces, tag="CHAR_01", face_model="insightface")


def test_views_run_stores_and_draws_the_sheet(turned_copy: Settings) -> None:
    made = run_view_sheet(turned_copy, tag="CHAR_01")
    with Image.open(made.path) as png:
        assert png.size == (5 * 240, 44 + 240 + 64)
    with read_workspace(turned_copy) as ws:
        stored = ws.views.latest("CHAR_01")
        run = ws.runs.get(made.run_id)
        filled = [m.value for m in ws.runs.series(made.run_id, "views_filled")]
        assets = ws.assets.list()
    assert stored.sheet == made.sheet and stored.path == made.path and stored.run_id == made.run_id
    assert (run.kind, run.status, filled) == ("views", "completed", [3])
    assert set(assets["CHAR_01"].views) == {"front", "three_quarter_left", "three_quarter_right"}


def test_views_command_json_and_refusals(turned_copy: Settings) -> None:
    from refbench.cli import app
    from typer.testing import CliRunner

    db = str(turned_copy.database)
    result = CliRunner().invoke(app, ["views", "CHAR_01", "--json", "--db", db])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert "subject's own" in printed["directions"]
    assert [v["view"] for v in printed["missing"]] == ["profile_right", "profile_left"]
    assert all(v["photo_to_take"] for v in printed["missing"]) and Path(printed["sheet_path"]).is_file()
    unknown = CliRunner().invoke(app, ["views", "CHAR_1", "--db", db])
    assert isinstance(unknown.exception, UnknownTagError) and "did you mean 'CHAR_01'" in str(unknown.exception)


def test_a_scene_can_ask_for_a_view(turned_copy: Settings) -> None:
    from refbench.select.scenes import parse_scenes
    from refbench.select.selection import select_references

    run_view_sheet(turned_copy, tag="CHAR_01")
    with read_workspace(turned_copy) as ws:
        assets = ws.assets.list()
    side, profile = parse_scenes(
        [
            {"scene_id": "side", "prompt": "He looks to his left.", "shot_type": "close_up",
             "placements": [{"asset_tag": "CHAR_01", "role": "subject", "view": "three_quarter_left"}]},
            {"scene_id": "profile", "prompt": "His profile against the sky.", "shot_type": "close_up",
             "placements": [{"asset_tag": "CHAR_01", "role": "subject", "view": "profile_left"}]},
        ]
    )  # fmt: skip
    (chosen,) = select_references(side, assets).chosen
    assert (chosen.variant, chosen.image_path) == (
        "view_three_quarter_left",
        assets["CHAR_01"].views["three_quarter_left"],
    )
    assert "asked for the 3/4 left (subject's left) view: from its view sheet" in chosen.reason
    (fallback,) = select_references(profile, assets).chosen
    assert (
        fallback.variant == "face_crop" and "view sheet lacks" in fallback.reason and "multi-angle" in fallback.reason
    )


@pytest.mark.parametrize(
    ("placement", "problem"),
    [
        (
            {"asset_tag": "PROP_01", "role": "subject", "view": "front"},
            r"field placements.0: view .front.: only characters \(CHAR_ tags\) have views",
        ),
        ({"asset_tag": "CHAR_01", "role": "subject", "view": "side"}, "'front', 'three_quarter_left'"),
    ],
)
def test_views_in_scene_files_are_checked(placement: dict, problem: str) -> None:
    from refbench.errors import SceneSpecError
    from refbench.select.scenes import parse_scenes

    with pytest.raises(SceneSpecError, match=problem):
        parse_scenes([{"scene_id": "s", "prompt": "p", "shot_type": "close_up", "placements": [placement]}])


@pytest.mark.parametrize(("photo", "view", "mirrored_view"), [
    ("zidane.jpg", View.PROFILE_LEFT, View.PROFILE_RIGHT),  # Zidane shouting, nose at the image's right edge
    ("group_six.jpg", View.PROFILE_RIGHT, View.PROFILE_LEFT),  # the man on the left, turned to his own right
])  # fmt: skip
def test_real_profiles_fill_the_profile_bins_and_mirror_to_the_other(
    demo_workspace: Settings, backends, photo: str, view: View, mirrored_view: View
) -> None:
    import numpy as np
    from refbench.faces.quality import yaw_from_landmarks
    from refbench.ingest import load_image_rgb
    from refbench.settings import PROJECT_ROOT

    with read_workspace(demo_workspace) as ws:
        gallery = ws.faces.gallery("insightface")
    faces = gallery[gallery.data["image_file"] == photo]
    tags = {str(t) for t, yaw in zip(faces.data["identity_tag"], faces.data["yaw"], strict=True) if abs(yaw) >= 45}
    (tag,) = tags  # one profile in the photo
    mine = gallery[gallery.data["identity_tag"] == tag]
    sheet = bin_faces(mine, tag=tag, face_model="insightface")
    assert list(sheet.images) == [view] and sheet.images[view].image_file == photo
    image = load_image_rgb(PROJECT_ROOT / "data" / "samples" / "photos" / photo)
    flipped = backends.faces.analyze(np.ascontiguousarray(image[:, ::-1]))
    x1, y1, x2, y2 = mine.xyxy[0]
    centres = np.column_stack(
        [(flipped.xyxy[:, 0] + flipped.xyxy[:, 2]) / 2, (flipped.xyxy[:, 1] + flipped.xyxy[:, 3]) / 2]
    )
    same = int(np.argmin(np.hypot(centres[:, 0] - (image.shape[1] - (x1 + x2) / 2), centres[:, 1] - (y1 + y2) / 2)))
    assert view_of_yaw(yaw_from_landmarks(flipped.data["landmarks"][same])) is mirrored_view

"""Output checks on real photos: a mirrored copy is flagged and a re-encode is not; a face outside the 15-25% band
is flagged; a video is checked per sampled frame and summarised; every figure is stored."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from refbench.cli import app
from refbench.faces.pose import View
from refbench.identity.checks import (
    check_face_found,
    check_identity,
    check_size_band,
    check_turn_matches,
    check_view,
    measure_face,
)
from refbench.identity.facesim import reference_from_image
from refbench.ingest import load_image_rgb
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

from tests.conftest import read_workspace

PHOTOS = PROJECT_ROOT / "data" / "samples" / "photos"
FRAME_WH = (640, 480)


def on_canvas(image_rgb: np.ndarray, *, scale: float) -> np.ndarray:
    """The photo centred on a grey canvas ``scale`` times its width and height: the same face, smaller in frame."""
    height, width = image_rgb.shape[:2]
    canvas = np.full((round(height * scale), round(width * scale), 3), 128, np.uint8)
    top, left = (canvas.shape[0] - height) // 2, (canvas.shape[1] - width) // 2
    canvas[top : top + height, left : left + width] = image_rgb
    return canvas


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ "Generated" outputs made from obama_2.jpg (turned to his right, face 42% of the width)."""
    folder = tmp_path_factory.mktemp("outputs")
    with Image.open(PHOTOS / "obama_2.jpg") as photo:
        photo = photo.convert("RGB")
        ImageOps.mirror(photo).save(folder / "mirrored.png")
        photo.save(folder / "reencoded.jpg", quality=60)  # same pixels, lossy: never a mirror
        Image.fromarray(on_canvas(np.asarray(photo), scale=2.5)).save(folder / "small.png")
    return {name: folder / name for name in ("mirrored.png", "reencoded.jpg", "small.png")}


@pytest.fixture(scope="module")
def video(outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames: 28 of obama_2 as shot, then 12 mirrored."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, FRAME_WH)
    shot = cv2.resize(load_image_rgb(PHOTOS / "obama_2.jpg"), (240, 460))
    frame = np.full((FRAME_WH[1], FRAME_WH[0], 3), 40, np.uint8)
    frame[10:470, 200:440] = shot
    for index in range(40):
        writer.write(cv2.cvtColor(frame if index < 28 else np.ascontiguousarray(frame[:, ::-1]), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def evaluate_json(settings: Settings, *args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["evaluate-identity", "--db", str(settings.database), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_mirrored_copy_is_flagged_and_a_reencode_is_not(settings: Settings, outputs: dict[str, Path]) -> None:
    printed = evaluate_json(
        settings,
        "--reference",
        str(PHOTOS / "obama_1.jpg"),
        "--orientation-from",
        str(PHOTOS / "obama_2.jpg"),
        str(outputs["mirrored.png"]),
        str(outputs["reencoded.jpg"]),
    )
    mirrored, reencoded = printed
    assert (mirrored["output"], mirrored["mirrored"], reencoded["mirrored"]) == (
        str(outputs["mirrored.png"]),
        True,
        False,
    )
    assert mirrored["yaw"] > 15 and reencoded["yaw"] < -15  # obama_2 turns to his right: nose to the left edge
    assert mirrored["facesim"] > 0.5 and reencoded["facesim"] > 0.5  # still Obama both times
    assert set(mirrored) >= {"output", "facesim", "face_width_frac", "in_size_band", "yaw", "mirrored"}
    with read_workspace(settings) as ws:
        stored = {Path(e.output_path).name: e for e in ws.evaluations.list()}
    assert (stored["mirrored.png"].mirrored, stored["reencoded.jpg"].mirrored) == (True, False)
    assert stored["mirrored.png"].orientation_from == str(PHOTOS / "obama_2.jpg")


def test_without_an_orientation_image_mirroring_is_not_claimed(settings: Settings, outputs: dict[str, Path]) -> None:
    (printed,) = evaluate_json(settings, "--reference", str(PHOTOS / "obama_1.jpg"), str(outputs["mirrored.png"]))
    assert printed["mirrored"] is None


def test_a_face_outside_the_band_is_flagged(settings: Settings, outputs: dict[str, Path]) -> None:
    printed = evaluate_json(
        settings,
        "--reference",
        str(PHOTOS / "obama_1.jpg"),
        str(PHOTOS / "obama_2.jpg"),
        str(outputs["small.png"]),
        str(PHOTOS / "obama_3.jpg"),
    )
    widths = {Path(p["output"]).name: (p["face_width_frac"], p["in_size_band"]) for p in printed}
    assert widths == {
        "obama_2.jpg": (pytest.approx(0.42, abs=0.01), False),
        "small.png": (pytest.approx(0.42 / 2.5, abs=0.015), True),  # the same face, on a 2.5x wider canvas
        "obama_3.jpg": (pytest.approx(0.19, abs=0.01), True),
    }


def test_a_video_is_checked_per_frame_and_summarised(settings: Settings, video: Path) -> None:
    (printed,) = evaluate_json(
        settings,
        "--reference",
        str(PHOTOS / "obama_1.jpg"),
        "--orientation-from",
        str(PHOTOS / "obama_2.jpg"),
        str(video),
    )
    frames = printed["frames"]
    assert printed["kind"] == "video" and len(frames) == 16
    flipped = [f["frame"] for f in frames if f["mirrored"]]
    assert flipped and min(flipped) >= 28 and all(f["mirrored"] is False for f in frames if f["frame"] < 28)
    assert printed["mirrored"] is False  # most frames turn like the orientation image
    assert all(f["in_size_band"] is not None for f in frames)


def test_checks_say_what_is_wrong(backends) -> None:
    turned = load_image_rgb(PHOTOS / "obama_2.jpg")
    measure = measure_face(turned, backends.faces)
    flipped = measure_face(np.ascontiguousarray(turned[:, ::-1]), backends.faces)
    reference = reference_from_image(PHOTOS / "obama_1.jpg", analyzer=backends.faces)
    assert check_face_found(measure_face(load_image_rgb(PHOTOS / "china.jpg"), backends.faces)).ok is False
    assert check_identity(measure, reference, threshold=0.3).ok
    assert not check_size_band(measure).ok and "above the 15%-25% band" in check_size_band(measure).message
    assert check_view(measure, View.THREE_QUARTER_RIGHT).ok
    wrong = check_view(flipped, View.THREE_QUARTER_RIGHT)
    assert not wrong.ok and "wrong way (mirrored)" in wrong.message
    too_little = check_view(measure, View.PROFILE_RIGHT)
    assert not too_little.ok and "is 3/4 right" in too_little.message
    assert check_turn_matches(measure, reference_yaw=-20).ok
    assert "mirrored" in check_turn_matches(flipped, reference_yaw=measure.yaw).message

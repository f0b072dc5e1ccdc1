"""Face quality: orientation from landmarks (mirroring flips the sign), size band, sharpness, exposure, score."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from refbench.errors import ShapeError
from refbench.faces import FaceAnalyzer, create_face_analyzer, largest_face
from refbench.faces.quality import QUALITY_FIELDS, face_quality, measure_faces, yaw_from_landmarks
from refbench.ingest import load_image_rgb
from refbench.pipelines.manifest import Backends
from refbench.settings import PROJECT_ROOT
from refbench.types import FaceQuality

from tests.conftest import read_workspace

# Photos whose face turns clearly (|yaw| > ~8°) with both face models: the sign must flip on a mirrored copy.
TURNED = ["obama_2.jpg", "obama_3.jpg", "biden_1.jpg", "macron_2.jpg", "tom_hanks.png"]


@pytest.fixture(scope="module")
def sface() -> FaceAnalyzer:
    return create_face_analyzer("opencv-yunet-sface", model_dir=PROJECT_ROOT / "data" / "models")


@pytest.fixture(params=["insightface", "opencv-yunet-sface"])
def analyzer(request: pytest.FixtureRequest, backends: Backends, sface: FaceAnalyzer) -> FaceAnalyzer:
    return backends.faces if request.param == "insightface" else sface


def largest_quality(analyzer: FaceAnalyzer, image_rgb: np.ndarray) -> FaceQuality:
    faces = analyzer.analyze(image_rgb)
    assert len(faces) >= 1
    measured = largest_face(measure_faces(image_rgb, faces))
    return FaceQuality(
        **{name: float(measured.data[name][0]) for name in QUALITY_FIELDS}, det_score=float(measured.confidence[0])
    )


@pytest.mark.parametrize("file", TURNED)
def test_mirroring_a_real_photo_flips_the_yaw_sign(samples_dir: Path, analyzer: FaceAnalyzer, file: str) -> None:
    image = load_image_rgb(samples_dir / file)
    original = largest_quality(analyzer, image)
    mirrored = largest_quality(analyzer, np.ascontiguousarray(np.fliplr(image)))
    assert abs(original.yaw) > 5
    assert np.sign(mirrored.yaw) == -np.sign(original.yaw)
    assert abs(original.yaw + mirrored.yaw) < 8  # same magnitude, opposite direction
    assert {original.facing, mirrored.facing} <= {"left", "right", "camera"}
    if abs(original.yaw) >= 15 and abs(mirrored.yaw) >= 15:
        assert {original.facing, mirrored.facing} == {"left", "right"}


@pytest.mark.parametrize(
    ("landmarks", "expected"),
    [
        ([[40, 50], [60, 50], [50, 60], [42, 70], [58, 70]], 0.0),  # nose under the eyes' midpoint
        ([[40, 50], [60, 50], [55, 60], [42, 70], [58, 70]], 30.0),  # offset = half of half the span -> asin(0.5)
        ([[40, 50], [60, 50], [45, 60], [42, 70], [58, 70]], -30.0),
        ([[40, 50], [60, 50], [70, 60], [42, 70], [58, 70]], 90.0),  # beyond the eye: clipped
        ([[60, 50], [40, 50], [55, 60], [58, 70], [42, 70]], 30.0),  # eyes listed right-to-left
    ],
)
def test_yaw_from_landmarks_hand_cases(landmarks: list, expected: float) -> None:
    assert yaw_from_landmarks(np.array(landmarks, dtype=np.float32)) == pytest.approx(expected, abs=1e-4)


def test_yaw_ignores_head_roll() -> None:
    points = np.array([[40, 50], [60, 50], [55, 60], [42, 70], [58, 70]], dtype=np.float64)
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (points - 50) @ rotation.T + 50
    assert yaw_from_landmarks(rolled) == pytest.approx(yaw_from_landmarks(points), abs=1e-6)


def test_yaw_rejects_wrong_shape() -> None:
    with pytest.raises(ShapeError, match=r"expected shape \(5, 2\), got \(4, 2\)"):
        yaw_from_landmarks(np.zeros((4, 2)))


@pytest.mark.parametrize(
    ("width_frac", "in_band"), [(0.10, False), (0.15, True), (0.20, True), (0.25, True), (0.30, False)]
)
def test_best_width_band_flag(width_frac: float, in_band: bool) -> None:
    assert FaceQuality(width_frac, 0.0, 100.0, 0.5, 0.9).in_best_band is in_band


@pytest.mark.parametrize(
    ("yaw", "facing"), [(0.0, "camera"), (14.9, "camera"), (-14.9, "camera"), (20.0, "right"), (-40.0, "left")]
)
def test_facing_names_the_frame_edge(yaw: float, facing: str) -> None:
    assert FaceQuality(0.2, yaw, 100.0, 0.5, 0.9).facing == facing


def test_blur_and_darkness_lower_the_measures(samples_dir: Path, backends: Backends) -> None:
    image = load_image_rgb(samples_dir / "obama_1.jpg")
    faces = backends.faces.analyze(image)
    box, landmarks, score = faces.xyxy[0], faces.data["landmarks"][0], float(faces.confidence[0])
    sharp = face_quality(image, box, landmarks, score)
    blurred = face_quality(cv2.GaussianBlur(image, (0, 0), 6), box, landmarks, score)
    dark = face_quality((image * 0.25).astype(np.uint8), box, landmarks, score)
    assert blurred.sharpness < sharp.sharpness / 5
    assert blurred.quality_score < sharp.quality_score
    assert dark.exposure < sharp.exposure / 2
    assert dark.quality_score < sharp.quality_score
    assert 0.0 <= dark.quality_score <= sharp.quality_score <= 1.0
    assert sharp.width_frac == pytest.approx((box[2] - box[0]) / image.shape[1], abs=2 / image.shape[1])
    assert sharp.det_score == pytest.approx(score)


def test_face_quality_rejects_a_grey_image() -> None:
    with pytest.raises(ShapeError, match=r"expected shape \(H, W, 3\)"):
        face_quality(np.zeros((10, 10), np.uint8), np.array([0, 0, 5, 5]), np.zeros((5, 2)), 0.9)


def test_quality_view_of_the_manifest(demo_workspace) -> None:
    with read_workspace(demo_workspace) as ws:
        rows = ws.faces.quality()
        n_faces = ws.faces.count()
    assert len(rows) == n_faces > 0
    for row in rows:
        # The view classifies in SQL; FaceQuality's properties must agree with it.
        assert row.in_best_band is row.quality.in_best_band and row.facing == row.quality.facing
        assert 0.0 <= row.quality.quality_score <= 1.0

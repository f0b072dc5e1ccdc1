"""Every detector and face-model backend, loaded from real weight files, on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.detect import create_object_detector
from refbench.errors import ModelUnavailableError, ShapeError, UnknownBackendError
from refbench.faces import create_face_analyzer
from refbench.settings import PROJECT_ROOT
from refbench.types import Detections

MODELS = PROJECT_ROOT / "data" / "models"


def rgb(samples_dir: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(samples_dir / name).convert("RGB"))


@pytest.fixture(scope="module")
def darknet():
    return create_object_detector("opencv-darknet", model_dir=MODELS)


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("bus.jpg", {"bus", "person"}),
        ("dog.jpg", {"dog", "bicycle"}),
        ("horses.jpg", {"horse"}),
        ("kite.jpg", {"kite", "person"}),
    ],
)
def test_darknet_finds_the_classic_objects(darknet, samples_dir: Path, photo: str, expected: set[str]) -> None:
    found = darknet.detect(rgb(samples_dir, photo))
    assert expected <= set(found.data["class_name"])
    assert np.all(found.confidence >= 0.4)


def test_darknet_box_is_where_the_bus_is(darknet, samples_dir: Path) -> None:
    found = darknet.detect(rgb(samples_dir, "bus.jpg"))
    bus = found.xyxy[list(found.data["class_name"]).index("bus")]
    assert bus[2] - bus[0] > 0.8 * 810 and 150 < bus[1] < 350  # spans the frame width, roof near y=230


def test_darknet_on_a_blank_image_finds_nothing(darknet) -> None:
    found = darknet.detect(np.full((300, 400, 3), 127, np.uint8))
    assert len(found) == 0 and found.xyxy.shape == (0, 4)


@pytest.mark.parametrize(("model", "dim"), [("insightface", 512), ("opencv-yunet-sface", 128)])
def test_face_models_find_six_faces_with_unit_embeddings(samples_dir: Path, model: str, dim: int) -> None:
    analyzer = create_face_analyzer(model, model_dir=MODELS)
    faces = analyzer.analyze(rgb(samples_dir, "group_six.jpg"))
    assert len(faces) == 6
    assert faces.data["landmarks"].shape == (6, 5, 2)
    assert faces.data["embedding"].shape == (6, dim)
    np.testing.assert_allclose(np.linalg.norm(faces.data["embedding"], axis=1), 1.0, atol=1e-5)
    eyes_left_to_right = faces.data["landmarks"][:, 0, 0] < faces.data["landmarks"][:, 1, 0]
    assert eyes_left_to_right.all()  # image-left eye first, as InsightFace orders them


@pytest.mark.parametrize("model", ["insightface", "opencv-yunet-sface"])
def test_tight_headshot_is_found_through_the_margin(samples_dir: Path, model: str) -> None:
    analyzer = create_face_analyzer(model, model_dir=MODELS)
    faces = analyzer.analyze(rgb(samples_dir, "tom_hanks.png"))  # a 112×112 aligned crop
    assert len(faces) == 1
    assert faces.xyxy.min() >= 0 and faces.xyxy.max() <= 112


def test_same_person_scores_higher_than_different_people(samples_dir: Path) -> None:
    analyzer = create_face_analyzer("insightface", model_dir=MODELS)
    emb = {
        n: analyzer.analyze(rgb(samples_dir, n)).data["embedding"][0]
        for n in ("obama_1.jpg", "obama_2.jpg", "biden_1.jpg")
    }
    same, different = emb["obama_1.jpg"] @ emb["obama_2.jpg"], emb["obama_1.jpg"] @ emb["biden_1.jpg"]
    assert same > 0.6 and different < 0.2


def test_insightface_reports_the_provider_in_use() -> None:
    analyzer = create_face_analyzer("insightface", model_dir=MODELS, providers=["CPUExecutionProvider"])
    assert analyzer.execution_provider == "CPUExecutionProvider"
    # Spinning ORT threads would steal the cores OpenCV's detector runs on next (README, Performance).
    for model in analyzer.app.models.values():
        options = model.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_ultralytics_loads_a_saved_model_file(tmp_path: Path, samples_dir: Path) -> None:
    """The real ``YOLO(path)`` path, on a model built from Ultralytics' own yolov8n.yaml (no download)."""
    from refbench.detect.ultralytics import _offline_environment, ensure_torchvision_nms

    _offline_environment()
    ensure_torchvision_nms()
    from ultralytics import YOLO

    weights = tmp_path / "yolov8n-untrained.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    detector = create_object_detector("ultralytics", model_dir=MODELS, model_path=weights, confidence=0.0001)
    found = detector.detect(rgb(samples_dir, "bus.jpg"))
    assert isinstance(found, Detections) and len(found) > 0  # untrained, but boxes come through NMS
    assert found.xyxy.max() <= 1080 and found.data["class_name"].shape == (len(found),)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: create_object_detector("yolo-magic", model_dir=MODELS),
            UnknownBackendError,
            "No object detector backend named 'yolo-magic'; available: opencv-darknet, ultralytics",
        ),
        (lambda: create_face_analyzer("antelopev2", model_dir=MODELS), UnknownBackendError, "available: insightface"),
        (
            lambda: create_object_detector("opencv-darknet", model_dir=Path("/nonexistent")),
            ModelUnavailableError,
            "refbench models pull",
        ),
        (lambda: create_face_analyzer("insightface", model_dir=Path("/nonexistent")), ModelUnavailableError, "missing"),
        (
            lambda: create_object_detector("ultralytics", model_dir=MODELS, model_path=Path("/no/yolo11n.pt")),
            ModelUnavailableError,
            "does not exist",
        ),
    ],
    ids=[
        "unknown-detector",
        "unknown-face-model",
        "darknet-no-weights",
        "insightface-no-weights",
        "ultralytics-no-file",
    ],
)
def test_backend_errors_say_what_to_do(call, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        call()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"xyxy": np.zeros((2, 3)), "confidence": np.zeros(2), "class_id": np.zeros(2)},
            r"xyxy: expected shape \(N, 4\)",
        ),
        (
            {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(3), "class_id": np.zeros(2)},
            r"confidence: expected shape \(2\)",
        ),
        (
            {
                "xyxy": np.zeros((2, 4)),
                "confidence": np.zeros(2),
                "class_id": np.zeros(2),
                "data": {"embedding": np.zeros((1, 512))},
            },
            "expected 2 rows, got 1",
        ),
    ],
)
def test_detections_validate_shapes(kwargs: dict, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        Detections(**kwargs)


def test_detections_select_rows() -> None:
    dets = Detections(
        np.arange(12).reshape(3, 4), [0.9, 0.2, 0.7], [1, 2, 3], {"class_name": np.array(["a", "b", "c"])}
    )
    kept = dets[dets.confidence > 0.5]
    assert len(kept) == 2 and list(kept.data["class_name"]) == ["a", "c"]
    assert len(Detections.empty()) == 0 and Detections.empty().area.shape == (0,)

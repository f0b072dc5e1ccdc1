"""The ecosystem's idioms: supervision.Detections both ways, and one-call verify / find as in insightface, deepface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import refbench
from refbench.errors import InputError
from refbench.ingest import load_image_rgb
from refbench.pipelines.read import WorkspaceReader
from refbench.settings import Settings
from refbench.types import Detections

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "samples" / "photos"


def sample_detections() -> Detections:
    return Detections(
        np.array([[10, 20, 110, 220], [50, 60, 90, 120]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.array([0, 16], np.int32),
        {"class_name": np.array(["person", "dog"], dtype=object), "landmarks": np.zeros((2, 5, 2), np.float32)},
    )


def test_detections_round_trip_through_supervision_and_feed_its_annotators() -> None:
    import supervision as sv

    ours = sample_detections()
    theirs = ours.to_supervision()
    assert isinstance(theirs, sv.Detections) and len(theirs) == 2
    back = Detections.from_supervision(theirs)
    np.testing.assert_array_equal(back.xyxy, ours.xyxy)
    np.testing.assert_array_equal(back.confidence, ours.confidence)
    np.testing.assert_array_equal(back.class_id, ours.class_id)
    assert back.data["class_name"].tolist() == ["person", "dog"] and back.data["landmarks"].shape == (2, 5, 2)
    canvas = np.zeros((240, 240, 3), np.uint8)
    drawn = sv.BoxAnnotator(thickness=2).annotate(canvas.copy(), theirs)
    assert drawn[20, 10:110].any() and not drawn[0:5, 0:5].any()  # the box's top edge, nothing in the corner


def test_ground_truth_from_supervision_gets_explicit_defaults() -> None:
    import supervision as sv

    truth = sv.Detections(xyxy=np.array([[0, 0, 5, 5]], np.float32), tracker_id=np.array([7]))
    ours = Detections.from_supervision(truth)
    assert (
        ours.confidence.tolist() == [1.0] and ours.class_id.tolist() == [-1] and ours.data["tracker_id"].tolist() == [7]
    )


@pytest.mark.parametrize(
    ("a", "b", "threshold", "same"),
    [
        ("obama_1.jpg", "obama_2.jpg", None, True),
        ("macron_1.jpg", "macron_2.jpg", None, True),
        ("obama_1.jpg", "biden_1.jpg", None, False),
        ("ardern_1.jpg", "sunak_1.jpg", None, False),
        ("obama_1.jpg", "obama_2.jpg", 0.99, False),  # an explicit threshold decides
    ],
)
def test_verify(settings: Settings, a: str, b: str, threshold: float | None, same: bool) -> None:
    result = refbench.verify(PHOTOS / a, PHOTOS / b, threshold=threshold, settings=settings)
    assert result.same is same and result.face_model == "insightface"
    assert result.threshold == (threshold or 0.30) and result.threshold_source == (
        "option" if threshold else "shipped default"
    )
    assert (result.similarity >= result.threshold) is same


def test_verify_takes_arrays_and_refuses_an_image_without_a_face(settings: Settings) -> None:
    pixels = load_image_rgb(PHOTOS / "obama_1.jpg")
    assert refbench.verify(pixels, PHOTOS / "obama_3.jpg", settings=settings).same
    with pytest.raises(InputError, match="no face found in .*flower.jpg"):
        refbench.verify(PHOTOS / "obama_1.jpg", PHOTOS / "flower.jpg", settings=settings)


def test_find_ranks_the_workspace_characters(demo_workspace: Settings) -> None:
    assets = WorkspaceReader(demo_workspace.database).read(lambda ws: ws.assets.list())
    obama = next(a.tag for a in assets.of_type("character") if a.source_image_file.startswith("obama"))
    matches = refbench.find(PHOTOS / "obama_4.jpg", db=demo_workspace.database, top_k=3, settings=demo_workspace)
    assert [m.tag for m in matches][0] == obama and matches[0].same
    assert len(matches) == 3 and not any(m.same for m in matches[1:])
    assert matches[0].similarity > matches[1].similarity and matches[0].image_file.startswith("obama")

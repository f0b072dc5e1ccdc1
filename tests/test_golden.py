"""Golden outputs of the default models on the sample photos, compared with tolerances (tests/golden/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from refbench.faces import largest_face
from refbench.identity import similarity_matrix
from refbench.ingest import load_image_rgb
from refbench.pipelines.manifest import Backends
from refbench.settings import Settings

from tests.conftest import read_workspace
from tests.golden import check_golden, differences

# ONNX Runtime and OpenCV kernels differ slightly between CPUs (AVX2 / AVX-512 / NEON): boxes within a pixel,
# scores and cosines within a few thousandths.
DETECTION_ATOL = {"xyxy": 1.0, "score": 0.01}


def test_detections_on_bus_jpg(samples_dir: Path, backends: Backends, tmp_path: Path) -> None:
    found = backends.detector.detect(load_image_rgb(samples_dir / "bus.jpg"))
    boxes, scores = found.xyxy.astype(float).round(1).tolist(), found.confidence.astype(float).round(3).tolist()
    rows = sorted(zip(found.data["class_name"].tolist(), boxes, scores, strict=True), key=lambda r: (r[0], r[1][0]))
    check_golden(
        "bus_detections",
        {"detector": backends.detector.name, "rows": [{"class": c, "xyxy": b, "score": s} for c, b, s in rows]},
        tmp_path=tmp_path,
        atol=DETECTION_ATOL,
    )


def test_cosine_matrix_of_the_labelled_samples(
    samples_dir: Path, sample_identities: dict[str, str], backends: Backends, tmp_path: Path
) -> None:
    files = sorted(sample_identities)
    embeddings = []
    for name in files:
        face = largest_face(backends.faces.analyze(load_image_rgb(samples_dir / name)))
        assert len(face), name
        embeddings.append(face.data["embedding"][0])
    matrix = similarity_matrix(np.stack(embeddings))
    check_golden(
        "labelled_cosines",
        {"face_model": backends.faces.name, "files": files, "cosine": matrix.astype(float).round(4).tolist()},
        tmp_path=tmp_path,
        atol=0.003,
    )


def test_v_assets_snapshot(demo_workspace: Settings, tmp_path: Path) -> None:
    with read_workspace(demo_workspace) as ws:
        assets = list(ws.assets.list())
    check_golden(
        "demo_assets",
        [
            {
                "tag": a.tag,
                "type": a.asset_type,
                "name": a.name,
                "source": a.source_image_file,
                "quality": None if a.quality is None else round(a.quality, 4),
            }
            for a in assets
        ],
        tmp_path=tmp_path,
        atol={"quality": 0.01},
    )


def test_a_mismatch_is_written_to_disk_for_a_human(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"differ from .*bus_detections.json") as failure:
        check_golden("bus_detections", {"detector": "other", "rows": []}, tmp_path=tmp_path, atol=DETECTION_ATOL)
    assert (tmp_path / "bus_detections.actual.json").is_file()
    assert "$.detector: 'other'" in (tmp_path / "bus_detections.diff.txt").read_text()
    assert str(tmp_path) in str(failure.value)


@pytest.mark.parametrize(
    ("expected", "actual", "atol", "n_differences"),
    [
        ({"a": [1.0, 2.0]}, {"a": [1.0, 2.4]}, 0.5, 0),
        ({"a": [1.0, 2.0]}, {"a": [1.0, 2.6]}, 0.5, 1),
        ({"a": 1}, {"b": 1}, 0.5, 2),
        ([1, 2], [1], 0.5, 1),
        ({"a": "x"}, {"a": "y"}, 10.0, 1),
        ({"xyxy": [1.0], "score": 0.5}, {"xyxy": [1.9], "score": 0.52}, {"xyxy": 1.0, "score": 0.01}, 1),
    ],
)
def test_differences_use_the_tolerance(expected: object, actual: object, atol: object, n_differences: int) -> None:
    assert len(differences(expected, actual, atol=atol)) == n_differences

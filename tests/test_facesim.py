"""FaceSim-Arc on real photos and on a video built from them; results stored in DuckDB; the CLI command."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from refbench.cli import app
from refbench.errors import InputError, InputNotFound, ShapeError, UnknownTagError
from refbench.identity.facesim import (
    evaluate_output,
    facesim,
    is_tag,
    reference_from_image,
    sample_video_frames,
)
from refbench.ingest import load_image_rgb
from refbench.registry import Workspace
from typer.testing import CliRunner

from tests.conftest import read_workspace

FRAME_WH = (480, 360)
# np.linspace(0, 39, 16) rounded, worked out by hand: 0, 2.6, 5.2, 7.8, 10.4, 13, 15.6, 18.2, ...
EXPECTED_INDICES = [0, 3, 5, 8, 10, 13, 16, 18, 21, 23, 26, 29, 31, 34, 36, 39]


def letterbox(image_rgb: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The image scaled to fit ``size_wh`` on black, as a video frame."""
    width, height = size_wh
    scale = min(width / image_rgb.shape[1], height / image_rgb.shape[0])
    resized = cv2.resize(image_rgb, (round(image_rgb.shape[1] * scale), round(image_rgb.shape[0] * scale)))
    frame = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return frame


@pytest.fixture(scope="module")
def video(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames (MJPG .avi): 30 of Obama (obama_2.jpg), then 10 of a cat (no face)."""
    path = tmp_path_factory.mktemp("video") / "generated.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, FRAME_WH)
    assert writer.isOpened()
    obama = letterbox(load_image_rgb(samples_dir / "obama_2.jpg"), FRAME_WH)
    cat = letterbox(load_image_rgb(samples_dir / "cat.png"), FRAME_WH)
    for index in range(40):
        writer.write(cv2.cvtColor(obama if index < 30 else cat, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_an_image_with_itself_scores_one(samples_dir: Path, backends) -> None:
    reference = reference_from_image(samples_dir / "obama_1.jpg", analyzer=backends.faces)
    result = evaluate_output(samples_dir / "obama_1.jpg", reference, analyzer=backends.faces)
    assert result.output_kind == "image" and result.scores == pytest.approx([1.0], abs=1e-5)
    assert result.mean == pytest.approx(1.0, abs=1e-5) and result.no_face_rate == 0.0


@pytest.mark.parametrize(
    ("output", "low", "high"),
    [
        ("biden_1.jpg", 0.0, 0.3),  # a different person
        ("sunak_1.jpg", 0.0, 0.3),
        ("obama_4.jpg", 0.5, 1.0),  # the same person, another photo
    ],
)
def test_other_photos(samples_dir: Path, backends, output: str, low: float, high: float) -> None:
    reference = reference_from_image(samples_dir / "obama_1.jpg", analyzer=backends.faces)
    result = evaluate_output(samples_dir / output, reference, analyzer=backends.faces)
    assert low <= result.mean < high


def test_negative_cosines_are_clipped_to_zero() -> None:
    embedding = np.array([0.6, 0.8], dtype=np.float32)
    assert facesim(embedding, -embedding) == 0.0
    assert facesim(embedding, embedding) == pytest.approx(1.0)


def test_embeddings_of_different_models_are_refused() -> None:
    # Was a ConfigError; the library now raises ShapeError, which is no ConfigError subclass.
    with pytest.raises(ShapeError, match=r"differ in shape: \(512,\) vs \(128,\)"):
        facesim(np.ones(512, np.float32), np.ones(128, np.float32))


def test_video_yields_16_evenly_spaced_frames(video: Path) -> None:
    indices, frames = sample_video_frames(video)
    assert indices == EXPECTED_INDICES
    assert len(frames) == 16 and frames[0].shape == (FRAME_WH[1], FRAME_WH[0], 3)


def test_facesim_of_a_video(samples_dir: Path, video: Path, backends) -> None:
    reference = reference_from_image(samples_dir / "obama_1.jpg", analyzer=backends.faces)
    result = evaluate_output(video, reference, analyzer=backends.faces)
    assert result.output_kind == "video" and len(result.scores) == 16
    assert result.n_no_face == 4 and result.no_face_rate == 0.25  # frames 31, 34, 36, 39 show the cat
    assert all(s is None for s in result.scores[-4:])
    assert 0.5 < result.min <= result.mean < 1.0


def test_short_videos_give_every_frame(samples_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, FRAME_WH)
    frame = letterbox(load_image_rgb(samples_dir / "obama_1.jpg"), FRAME_WH)
    for _ in range(5):
        writer.write(frame)
    writer.release()
    assert sample_video_frames(path)[0] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("reference", "tag"), [("CHAR_01", True), ("CHAR_12", True), ("char_01", True), ("photos/CHAR_01.jpg", False)]
)
def test_tags_and_images_are_told_apart(reference: str, tag: bool) -> None:
    """``char_01`` is a mistyped tag, not a file: the workspace answers it with "did you mean 'CHAR_01'"."""
    assert is_tag(reference) is tag


def test_reference_errors(samples_dir: Path, demo_workspace, backends) -> None:
    with pytest.raises(InputError, match="no face found in the reference image"):
        reference_from_image(samples_dir / "cat.png", analyzer=backends.faces)
    with pytest.raises(InputNotFound, match="neither a CHAR tag nor an existing image"):
        reference_from_image(samples_dir / "missing.jpg", analyzer=backends.faces)
    with (
        read_workspace(demo_workspace) as ws,
        pytest.raises(UnknownTagError, match="unknown tag 'CHAR_99'; did you mean "),
    ):
        ws.identities.reference_embedding("CHAR_99", face_model="insightface")


def test_results_are_stored(samples_dir: Path, video: Path, backends, settings) -> None:
    reference = reference_from_image(samples_dir / "obama_1.jpg", analyzer=backends.faces)
    results = [evaluate_output(p, reference, analyzer=backends.faces) for p in (samples_dir / "obama_4.jpg", video)]
    with Workspace.open(settings) as ws:
        ids = ws.evaluations.save(
            results,
            reference="obama_1.jpg",
            reference_kind="image",
            face_model="insightface",
            run_id=None,
        )
        rows = sorted(ws.evaluations.list(), key=lambda r: r.output_kind)
        frames = ws.evaluations.frame_scores(ids[1])
    assert [(r.output_kind, r.n_frames, r.n_no_face, r.reference_kind) for r in rows] == [
        ("image", 1, 0, "image"),
        ("video", 16, 4, "image"),
    ]
    assert rows[0].facesim_mean == pytest.approx(results[0].mean)
    assert frames.count(None) == 4


def test_cli_evaluates_against_a_character_tag(samples_dir: Path, video: Path, demo_copy) -> None:
    with read_workspace(demo_copy) as ws:
        tag = str(ws.faces.of_image(ws.images.by_file("obama_1.jpg").image_id).data["identity_tag"][0])
    result = CliRunner().invoke(
        app,
        [
            "evaluate-identity",
            "--reference",
            tag,
            "--db",
            str(demo_copy.database),
            str(samples_dir / "obama_4.jpg"),
            str(samples_dir / "biden_1.jpg"),
            str(video),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "FaceSim-Arc" in result.output
    with read_workspace(demo_copy) as ws:
        evaluations = ws.evaluations.list()
        (run,) = ws.runs.list(kind="evaluate-identity")
        metrics = len(ws.runs.series(run.run_id, "facesim_mean"))
    scores = {r.output_path: r.facesim_mean for r in evaluations}
    # The pipeline, not the caller, tells a tag from an image path.
    assert {(r.reference_kind, r.run_id) for r in evaluations} == {("tag", run.run_id)}
    assert scores[str(samples_dir / "obama_4.jpg")] > 0.5 > 0.3 > scores[str(samples_dir / "biden_1.jpg")]
    assert scores[str(video)] > 0.5 and metrics == 3

"""Identity preservation of generated outputs: FaceSim-Arc, as PuLID, ConsisID and Phantom measure it.

Cosine between the reference face's ArcFace embedding and the largest face of each output image, or of
16 evenly spaced frames of a video (read with OpenCV); negative cosines are clipped to 0. Frames without
a face are counted (``no_face_rate``) and left out of the mean and min rather than scored 0, so that
"the face is lost" and "the face changed" stay two separate numbers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import duckdb
import numpy as np

from refbench import store
from refbench.calibration import largest_face_embedding, load_image_rgb
from refbench.errors import ConfigError, ImageRejected
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.settings import Settings

N_VIDEO_FRAMES = 16
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
TAG_PATTERN = re.compile(r"^CHAR_\d+$")


@dataclass(frozen=True)
class FaceSimResult:
    """FaceSim-Arc of one output (an image, or a video's sampled frames)."""

    output_path: Path
    output_kind: str  # image | video
    frame_indices: list[int]
    scores: list[float | None]  # per frame: max(cosine, 0), None when no face was found

    @property
    def n_no_face(self) -> int:
        """Frames in which no face was found."""
        return sum(s is None for s in self.scores)

    @property
    def no_face_rate(self) -> float:
        """Fraction of frames without a face."""
        return self.n_no_face / len(self.scores) if self.scores else 1.0

    @property
    def mean(self) -> float | None:
        """Mean FaceSim-Arc over frames with a face (``None`` when none has one)."""
        found = [s for s in self.scores if s is not None]
        return float(np.mean(found)) if found else None

    @property
    def min(self) -> float | None:
        """Lowest FaceSim-Arc over frames with a face."""
        found = [s for s in self.scores if s is not None]
        return float(np.min(found)) if found else None


def facesim(reference_embedding: np.ndarray, embedding: np.ndarray) -> float:
    """FaceSim-Arc of two L2-normalized embeddings (D,): the cosine, negatives clipped to 0."""
    if reference_embedding.shape != embedding.shape:
        raise ConfigError(
            f"embeddings differ in shape: {reference_embedding.shape} vs {embedding.shape}"
            " (reference and output must use the same face model)"
        )
    return float(np.clip(np.dot(reference_embedding, embedding), 0.0, 1.0))


def sample_video_frames(path: Path, *, n_frames: int = N_VIDEO_FRAMES) -> tuple[list[int], list[np.ndarray]]:
    """``n_frames`` evenly spaced frames of a video, as (indices, RGB uint8 (H, W, 3) frames).

    Videos shorter than ``n_frames`` give all their frames.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ConfigError(f"OpenCV cannot open the video {path}")
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0:
            raise ConfigError(f"video {path} reports no frames")
        indices = sorted(set(np.linspace(0, total - 1, num=min(n_frames, total)).round().astype(int).tolist()))
        frames, kept = [], []
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame_bgr = capture.read()
            if ok:
                frames.append(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
                kept.append(index)
    finally:
        capture.release()
    if not frames:
        raise ConfigError(f"no frame of {path} could be decoded")
    return kept, frames


def evaluate_output(
    path: Path, reference_embedding: np.ndarray, *, analyzer: FaceAnalyzer, n_frames: int = N_VIDEO_FRAMES
) -> FaceSimResult:
    """FaceSim-Arc of one generated image or video against a reference embedding (D,)."""
    if not path.is_file():
        raise ConfigError(f"output not found: {path}")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        kind, (indices, frames) = "video", sample_video_frames(path, n_frames=n_frames)
    else:
        kind, indices, frames = "image", [0], [load_image_rgb(path)]
    scores = []
    for frame in frames:
        embedding = largest_face_embedding(analyzer, frame)
        scores.append(None if embedding is None else facesim(reference_embedding, embedding))
    return FaceSimResult(path, kind, indices, scores)


def is_tag(reference: str) -> bool:
    """Whether ``reference`` names a character asset (``CHAR_01``) rather than an image file."""
    return bool(TAG_PATTERN.match(reference))


def reference_from_tag(con: duckdb.DuckDBPyConnection, tag: str, *, face_model: str) -> np.ndarray:
    """Embedding (D,) of the best face of the character ``tag``, as embedded by ``face_model``."""
    row = con.execute(
        "SELECT f.embedding, f.embedding_dim FROM assets a JOIN identities d ON d.identity_id = a.identity_id"
        " JOIN faces f ON f.face_id = d.best_face_id WHERE a.tag = ? AND a.active AND d.face_model = ?",
        [tag, face_model],
    ).fetchone()
    if row is None:
        raise ConfigError(
            f"no active character {tag} with {face_model} faces in this workspace"
            " (run `refbench manifest` with that face model first)"
        )
    return np.asarray(row[0][: row[1]], dtype=np.float32)


def reference_from_image(path: Path, *, analyzer: FaceAnalyzer) -> np.ndarray:
    """Embedding (D,) of the largest face of a reference image."""
    if not path.is_file():
        raise ConfigError(f"reference is neither a CHAR tag nor an existing image: {path}")
    try:
        embedding = largest_face_embedding(analyzer, load_image_rgb(path))
    except ImageRejected as error:
        raise ConfigError(f"reference image {path} cannot be read: {error}") from error
    if embedding is None:
        raise ConfigError(f"no face found in the reference image {path}")
    return embedding


def save_evaluations(
    con: duckdb.DuckDBPyConnection,
    results: Sequence[FaceSimResult],
    *,
    reference: str,
    face_model: str,
    run_id: str | None,
) -> list[str]:
    """Store FaceSim-Arc results (one row per output, one per scored frame); returns their evaluation ids."""
    ids = []
    for result in results:
        evaluation_id = f"facesim-{uuid.uuid4().hex[:12]}"
        store.insert_rows(
            con,
            "identity_evaluations",
            [
                {
                    "evaluation_id": evaluation_id,
                    "face_model": face_model,
                    "reference": reference,
                    "reference_kind": "tag" if is_tag(reference) else "image",
                    "output_path": str(result.output_path),
                    "output_kind": result.output_kind,
                    "n_frames": len(result.scores),
                    "n_no_face": result.n_no_face,
                    "facesim_mean": result.mean,
                    "facesim_min": result.min,
                    "no_face_rate": result.no_face_rate,
                    "run_id": run_id,
                    "created_at": store.now(),
                }
            ],
        )
        con.executemany(
            "INSERT INTO identity_evaluation_frames (evaluation_id, frame_index, score) VALUES (?, ?, ?)",
            [[evaluation_id, i, s] for i, s in zip(result.frame_indices, result.scores, strict=True)],
        )
        ids.append(evaluation_id)
    return ids


@dataclass(frozen=True)
class IdentityEvaluation:
    """One ``evaluate-identity`` run: its id, the face model used and a result per output."""

    run_id: str
    face_model: str
    results: list[FaceSimResult]


def run_identity_evaluation(
    settings: Settings, *, reference: str, outputs: Sequence[Path], face_model: str = "insightface"
) -> IdentityEvaluation:
    """Score ``outputs`` against a CHAR tag or a reference image; store results, frames and metrics as a run."""
    if not outputs:
        raise ConfigError("give at least one output image or video")
    analyzer = create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
    run_id = store.new_run_id("evaluate")
    con = store.connect(settings.database)
    try:
        if is_tag(reference):
            embedding = reference_from_tag(con, reference, face_model=analyzer.name)
        else:
            embedding = reference_from_image(Path(reference), analyzer=analyzer)
        parameters = {"reference": reference, "outputs": [str(p) for p in outputs], "face_model": analyzer.name}
        with store.tracked_run(
            con,
            run_id=run_id,
            kind="evaluate-identity",
            parameters=parameters,
            execution_provider=analyzer.execution_provider,
        ):
            results = [evaluate_output(p, embedding, analyzer=analyzer) for p in outputs]
            save_evaluations(con, results, reference=reference, face_model=analyzer.name, run_id=run_id)
            store.log_metrics(con, run_id, [row for r in results for row in _metric_rows(r)])
    finally:
        con.close()
    return IdentityEvaluation(run_id, analyzer.name, results)


def _metric_rows(result: FaceSimResult) -> list[tuple]:
    label = str(result.output_path)
    return [
        ("facesim_mean", result.mean, "cosine", None, label),
        ("facesim_min", result.min, "cosine", None, label),
        ("no_face_rate", result.no_face_rate, "ratio", None, label),
    ]

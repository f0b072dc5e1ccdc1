"""Identity preservation of generated outputs: FaceSim-Arc, as PuLID, ConsisID and Phantom measure it.

Cosine between the reference face's ArcFace embedding and the largest face of each output image, or of
16 evenly spaced frames of a video (read with OpenCV); negative cosines are clipped to 0. Frames without
a face are counted (``no_face_rate``) and left out of the mean and min rather than scored 0, so that
"the face is lost" and "the face changed" stay two separate numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from refbench.errors import ImageRejected, InputError, InputNotFound, ShapeError
from refbench.faces import FaceAnalyzer, largest_face
from refbench.ingest import load_image_rgb
from refbench.settings import ImageLimits
from refbench.types import Metric

N_VIDEO_FRAMES = 16
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
TAG_PATTERN = re.compile(r"^CHAR_\d+$", re.IGNORECASE)  # char_01 is a mistyped tag (did-you-mean), not a file


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
        raise ShapeError(
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
        raise InputError(f"OpenCV cannot open the video {path}")
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0:
            raise InputError(f"video {path} reports no frames")
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
        raise InputError(f"no frame of {path} could be decoded")
    return kept, frames


def evaluate_output(
    path: Path,
    reference_embedding: np.ndarray,
    *,
    analyzer: FaceAnalyzer,
    n_frames: int = N_VIDEO_FRAMES,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> FaceSimResult:
    """FaceSim-Arc of one generated image or video against a reference embedding (D,)."""
    if not path.is_file():
        raise InputNotFound(f"output not found: {path}")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        kind, (indices, frames) = "video", sample_video_frames(path, n_frames=n_frames)
    else:
        try:
            kind, indices, frames = "image", [0], [load_image_rgb(path, limits=limits)]
        except ImageRejected as error:
            raise InputError(f"output {path} cannot be read: {error}") from error
    scores = []
    for frame in frames:
        face = largest_face(analyzer.analyze(frame))
        scores.append(facesim(reference_embedding, face.data["embedding"][0]) if len(face) else None)
    return FaceSimResult(path, kind, indices, scores)


def is_tag(reference: str) -> bool:
    """Whether ``reference`` names a character asset (``CHAR_01``) rather than an image file."""
    return bool(TAG_PATTERN.match(reference))


def reference_from_image(
    path: Path,
    *,
    analyzer: FaceAnalyzer,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> np.ndarray:
    """Embedding (D,) of the largest face of a reference image."""
    if not path.is_file():
        raise InputNotFound(f"reference is neither a CHAR tag nor an existing image: {path}")
    try:
        face = largest_face(analyzer.analyze(load_image_rgb(path, limits=limits)))
    except ImageRejected as error:
        raise InputError(f"reference image {path} cannot be read: {error}") from error
    if not len(face):
        raise InputError(f"no face found in the reference image {path}")
    return np.asarray(face.data["embedding"][0], dtype=np.float32)


def metrics_of(result: FaceSimResult) -> list[Metric]:
    """Run metrics of one output's FaceSim-Arc, labelled with its path."""
    label = str(result.output_path)
    return [
        Metric("facesim_mean", result.mean, "cosine", label=label),
        Metric("facesim_min", result.min, "cosine", label=label),
        Metric("no_face_rate", result.no_face_rate, "ratio", label=label),
    ]

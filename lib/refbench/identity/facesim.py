"""Identity preservation of generated outputs: FaceSim-Arc, as PuLID, ConsisID and Phantom measure it.

Cosine between the reference face's ArcFace embedding and the largest face of each output image, or of
16 evenly spaced frames of a video (read with OpenCV); negative cosines are clipped to 0. Frames without
a face are counted (``no_face_rate``) and left out of the mean and min rather than scored 0, so that
"the face is lost" and "the face changed" stay two separate numbers.

The same largest face is also measured for size (face width / image width, against the 15–25% band) and
pose (signed yaw from landmarks); given the yaw of an orientation image, an output whose face turns the
other way (both clearly turned, |yaw| >= 15°) is flagged ``mirrored``. A video's frames are summarised by
their median (size, yaw) and majority (band, mirrored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from refbench.errors import ImageRejected, InputError, InputNotFound, ShapeError
from refbench.faces import FaceAnalyzer, largest_face
from refbench.faces.pose import mirrored
from refbench.faces.quality import yaw_from_landmarks
from refbench.ingest import load_image_rgb
from refbench.settings import ImageLimits
from refbench.types import Metric, width_in_best_band

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
    yaws: list[float | None] = field(default_factory=list)  # per frame, degrees (> 0: nose to the right edge)
    width_fracs: list[float | None] = field(default_factory=list)  # per frame: face width / image width
    orientation_yaw: float | None = None  # yaw of the face in the orientation image, when one was given

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

    @property
    def face_width_frac(self) -> float | None:
        """Median face width / image width over frames with a face."""
        return _median(self.width_fracs)

    @property
    def in_size_band(self) -> bool | None:
        """Whether the (median) face width lies in the 15–25% band; ``None`` without a face."""
        width = self.face_width_frac
        return None if width is None else width_in_best_band(width)

    @property
    def yaw(self) -> float | None:
        """Median yaw over frames with a face."""
        return _median(self.yaws)

    @property
    def frame_mirrored(self) -> list[bool | None]:
        """Per frame: turned the other way than the orientation image (``None``: undecidable or no orientation)."""
        if self.orientation_yaw is None:
            return [None] * len(self.yaws)
        return [None if y is None else mirrored(y, self.orientation_yaw) for y in self.yaws]

    @property
    def mirrored(self) -> bool | None:
        """Whether most decidable frames turn the other way than the orientation image; ``None`` when no frame is
        decidable (no orientation image, no face, or a face not clearly turned)."""
        decided = [m for m in self.frame_mirrored if m is not None]
        return None if not decided else sum(decided) > len(decided) / 2

    def to_json(self) -> dict[str, Any]:
        """The output's figures as ``evaluate-identity --json`` prints them (videos add their frames)."""
        summary = {
            "output": str(self.output_path),
            "kind": self.output_kind,
            "facesim": _round(self.mean),
            "facesim_min": _round(self.min),
            "no_face_rate": round(self.no_face_rate, 4),
            "face_width_frac": _round(self.face_width_frac),
            "in_size_band": self.in_size_band,
            "yaw": _round(self.yaw, 1),
            "mirrored": self.mirrored,
        }
        if self.output_kind == "video":
            summary["frames"] = [
                {
                    "frame": index,
                    "facesim": _round(score),
                    "face_width_frac": _round(width),
                    "in_size_band": None if width is None else width_in_best_band(width),
                    "yaw": _round(yaw, 1),
                    "mirrored": flipped,
                }
                for index, score, width, yaw, flipped in zip(
                    self.frame_indices, self.scores, self.width_fracs, self.yaws, self.frame_mirrored, strict=True
                )
            ]
        return summary


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return float(np.median(found)) if found else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


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
    orientation_yaw: float | None = None,
) -> FaceSimResult:
    """FaceSim-Arc, face size and yaw of one generated image or video against a reference embedding (D,); with
    ``orientation_yaw`` (the yaw of the face the output should turn like) also whether it is mirrored."""
    if not path.is_file():
        raise InputNotFound(f"output not found: {path}")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        kind, (indices, frames) = "video", sample_video_frames(path, n_frames=n_frames)
    else:
        try:
            kind, indices, frames = "image", [0], [load_image_rgb(path, limits=limits)]
        except ImageRejected as error:
            raise InputError(f"output {path} cannot be read: {error}") from error
    figures = [_frame_figures(frame, reference_embedding, analyzer) for frame in frames]
    scores, yaws, widths = (list(column) for column in zip(*figures, strict=True))
    return FaceSimResult(path, kind, indices, scores, yaws, widths, orientation_yaw)


def _frame_figures(
    frame_rgb: np.ndarray, reference_embedding: np.ndarray, analyzer: FaceAnalyzer
) -> tuple[float | None, float | None, float | None]:
    """(FaceSim-Arc, yaw, face width fraction) of a frame's largest face; all ``None`` without a face."""
    face = largest_face(analyzer.analyze(frame_rgb))
    if not len(face):
        return None, None, None
    width = float((face.xyxy[0, 2] - face.xyxy[0, 0]) / frame_rgb.shape[1])
    return facesim(reference_embedding, face.data["embedding"][0]), yaw_from_landmarks(face.data["landmarks"][0]), width


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


def orientation_yaw_of(
    path: Path,
    *,
    analyzer: FaceAnalyzer,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
) -> float:
    """Yaw (degrees) of the largest face of an orientation image: what outputs are checked for mirroring against."""
    if not path.is_file():
        raise InputNotFound(f"orientation image not found: {path}")
    try:
        face = largest_face(analyzer.analyze(load_image_rgb(path, limits=limits)))
    except ImageRejected as error:
        raise InputError(f"orientation image {path} cannot be read: {error}") from error
    if not len(face):
        raise InputError(f"no face found in the orientation image {path}")
    return yaw_from_landmarks(face.data["landmarks"][0])


def metrics_of(result: FaceSimResult) -> list[Metric]:
    """Run metrics of one output (FaceSim-Arc, size, yaw, mirrored), labelled with its path."""
    label = str(result.output_path)
    metrics = [
        Metric("facesim_mean", result.mean, "cosine", label=label),
        Metric("facesim_min", result.min, "cosine", label=label),
        Metric("no_face_rate", result.no_face_rate, "ratio", label=label),
        Metric("face_width_frac", result.face_width_frac, "ratio", label=label),
        Metric("yaw", result.yaw, "deg", label=label),
    ]
    if result.mirrored is not None:
        metrics.append(Metric("mirrored", float(result.mirrored), "bool", label=label))
    return metrics

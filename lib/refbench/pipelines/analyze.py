"""The per-image work of a manifest: detect objects, find and embed faces, measure them, save crops.

``ImageAnalyzer`` is a small picklable callable, so any mapper can run it: the builtin ``map`` in this
process, a thread pool, or Dask workers in other processes. Loaded models are not shared across threads
(OpenCV's DNN networks must not run concurrently): each thread and process loads its own copy once.
Decoded pixels and loaded models never travel between processes; a worker reloads the image from its
read-only workspace copy (a record pickles in bytes, a decoded image in megabytes).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from refbench.assets.crops import FACE_PADDING, OBJECT_PADDING, save_crop, save_thumbnail
from refbench.detect import OBJECT_DETECTORS, ObjectDetector, create_object_detector
from refbench.errors import OptionError, UnknownBackendError
from refbench.faces import FACE_ANALYZERS, FaceAnalyzer, create_face_analyzer
from refbench.faces.quality import measure_faces
from refbench.identity import check_threshold
from refbench.ingest import load_image_rgb
from refbench.settings import ImageLimits, Settings
from refbench.types import Detections, ImageAnalysis, ImageRecord, face_row_id, object_row_id

STAGES = ("objects", "faces")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestOptions:
    """What a manifest run uses. ``None`` backends mean the settings' (``REFBENCH_OBJECT_DETECTOR``,
    ``REFBENCH_FACE_MODEL``); a ``None`` threshold means the workspace's calibrated one, else the shipped default.

    Values are checked here, before any model loads or any file is read.
    """

    detector: str | None = None
    detector_model: Path | None = None
    face_model: str | None = None
    face_threshold: float | None = None
    object_confidence: float = 0.4

    def __post_init__(self) -> None:
        if self.detector is not None and self.detector not in OBJECT_DETECTORS:  # before minutes of work, not after
            raise UnknownBackendError("object detector", self.detector, list(OBJECT_DETECTORS))
        if self.face_model is not None and self.face_model not in FACE_ANALYZERS:
            raise UnknownBackendError("face model", self.face_model, list(FACE_ANALYZERS))
        if self.face_threshold is not None:
            check_threshold(self.face_threshold, what="face threshold")
        if not 0.0 <= self.object_confidence <= 1.0:
            raise OptionError(f"object confidence must lie in [0, 1], got {self.object_confidence}")

    def resolved(self, settings: Settings) -> ManifestOptions:
        """These options with the settings' default backends filled in."""
        return ManifestOptions(
            detector=self.detector or settings.object_detector,
            detector_model=self.detector_model,
            face_model=self.face_model or settings.face_model,
            face_threshold=self.face_threshold,
            object_confidence=self.object_confidence,
        )


@dataclass
class Backends:
    """Loaded models, created once per process and thread and passed in explicitly."""

    detector: ObjectDetector
    faces: FaceAnalyzer


def load_backends(options: ManifestOptions, settings: Settings) -> Backends:
    """Load the object detector and face model ``options`` name (the settings' defaults where unset)."""
    options = options.resolved(settings)
    return Backends(
        detector=create_object_detector(
            options.detector,
            model_dir=settings.models,
            model_path=options.detector_model,
            confidence=options.object_confidence,
        ),
        faces=create_face_analyzer(options.face_model, model_dir=settings.models, providers=settings.providers),
    )


def shared_backends(options: ManifestOptions, *, model_dir: Path, providers: tuple[str, ...] | None = None) -> Backends:
    """The models ``options`` names, loaded once per process and thread (thread pools reuse their threads)."""
    return _cached_backends(options, Path(model_dir), providers, threading.get_ident())


@lru_cache(maxsize=16)
def _cached_backends(
    options: ManifestOptions, model_dir: Path, providers: tuple[str, ...] | None, thread_id: int
) -> Backends:
    return load_backends(options, Settings(model_dir=model_dir, providers=list(providers) if providers else None))


@dataclass(frozen=True)
class ImageWork:
    """One image to analyze and the stages it still needs; its pixels ride along only inside this process."""

    record: ImageRecord
    stages: tuple[str, ...]
    image_rgb: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "image_rgb": None}  # a worker reloads the workspace copy instead


@dataclass(frozen=True)
class ImageAnalyzer:
    """Analyzes one ``ImageWork``; settings here, the image in the call (CONVENTIONS.md 3).

    ``backends`` are used by the thread that created the analyzer; any other thread or process loads
    its own (``shared_backends``).
    """

    options: ManifestOptions
    model_dir: Path
    files_dir: Path
    limits: ImageLimits
    providers: tuple[str, ...] | None = None
    backends: Backends | None = field(default=None, repr=False, compare=False)
    owner_thread: int = field(default_factory=threading.get_ident, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "backends": None}

    def __call__(self, work: ImageWork) -> ImageAnalysis:
        image = (
            work.image_rgb
            if work.image_rgb is not None
            else load_image_rgb(work.record.stored_path, limits=self.limits)
        )
        return analyze_image(work.record, image, self._backends(), stages=work.stages, files_dir=self.files_dir)

    def _backends(self) -> Backends:
        if self.backends is not None and threading.get_ident() == self.owner_thread:
            return self.backends
        return shared_backends(self.options, model_dir=self.model_dir, providers=self.providers)


def analyze_image(
    record: ImageRecord, image_rgb: np.ndarray, backends: Backends, *, stages: tuple[str, ...], files_dir: Path
) -> ImageAnalysis:
    """Run ``stages`` on one upright RGB image (H, W, 3): boxes, faces with quality, padded crops, a thumbnail."""
    seconds: dict[str, float] = {}
    objects = faces = Detections.empty()
    ran: dict[str, str] = {}
    if "objects" in stages:
        start = time.perf_counter()
        objects, ran["objects"] = backends.detector.detect(image_rgb), backends.detector.name
        seconds["detect"] = time.perf_counter() - start
    if "faces" in stages:
        start = time.perf_counter()
        faces, ran["faces"] = measure_faces(image_rgb, backends.faces.analyze(image_rgb)), backends.faces.name
        seconds["faces"] = time.perf_counter() - start
    start = time.perf_counter()
    if "objects" in ran:
        objects = _with_crops(
            image_rgb,
            objects,
            files_dir / "crops" / "objects",
            OBJECT_PADDING,
            [object_row_id(record.image_id, ran["objects"], i) for i in range(len(objects))],
        )
    if "faces" in ran:
        faces = _with_crops(
            image_rgb,
            faces,
            files_dir / "crops" / "faces",
            FACE_PADDING,
            [face_row_id(record.image_id, ran["faces"], i) for i in range(len(faces))],
        )
    save_thumbnail(image_rgb, thumbnail_path(files_dir, record.image_id))
    seconds["crops"] = time.perf_counter() - start
    return ImageAnalysis(record, objects, faces, ran, seconds)


def _with_crops(image_rgb: np.ndarray, found: Detections, folder: Path, padding: float, stems: list[str]) -> Detections:
    """``found`` with ``data['crop_path']``: each box's padded crop saved as ``<folder>/<stem>.jpg``."""
    paths = [
        str(save_crop(image_rgb, box, folder / f"{stem}.jpg", padding=padding))
        for box, stem in zip(found.xyxy, stems, strict=True)
    ]
    return found.with_data(crop_path=np.array(paths, dtype=object))


def thumbnail_path(files_dir: Path, image_id: str) -> Path:
    """Where the contact-sheet thumbnail of an image lives."""
    return files_dir / THUMBNAILS / thumbnail_name(image_id)


THUMBNAILS = "thumbs"  # folder of thumbnails under the workspace's files


def thumbnail_name(image_id: str) -> str:
    """File name of an image's thumbnail (a string: sheets of thousands of photos build them on every run)."""
    return f"{image_id[:20]}.jpg"

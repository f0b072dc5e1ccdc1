"""One-call face helpers in the manner of insightface and deepface: ``refbench.verify`` and ``refbench.find``.

Both take image paths or upright RGB arrays, use the largest face of each image, and decide "same person"
by the one threshold policy (an explicit value, else the workspace's calibrated one, else the shipped
default), so a notebook, a script and the manifest agree on what a match is. Face models are loaded once
per process and name (pass ``analyzer=`` to bring your own).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from refbench.errors import ImageRejected, InputError, InputNotFound
from refbench.faces import FaceAnalyzer, create_face_analyzer, largest_face
from refbench.ingest import load_image_rgb
from refbench.pipelines.common import face_threshold, resolve_threshold
from refbench.pipelines.read import WorkspaceReader
from refbench.settings import Settings

ImageInput = Path | str | np.ndarray  # a file, or an upright RGB uint8 array (H, W, 3)


@dataclass(frozen=True)
class Verification:
    """Whether two images show the same person, by how much, and the threshold that decided it."""

    same: bool
    similarity: float  # cosine of the largest faces' ArcFace embeddings, in [-1, 1]
    threshold: float
    threshold_source: str  # "option", "calibration <id>" or "shipped default"
    face_model: str


@dataclass(frozen=True)
class Match:
    """A character of the workspace ranked against a query face, with its closest registered face."""

    tag: str
    similarity: float  # cosine with the character's closest face
    same: bool  # similarity reaches the threshold
    face_id: str
    image_file: str


@lru_cache(maxsize=4)
def _cached_analyzer(name: str, model_dir: Path, providers: tuple[str, ...] | None) -> FaceAnalyzer:
    return create_face_analyzer(name, model_dir=model_dir, providers=list(providers) if providers else None)


def _analyzer(settings: Settings, face_model: str | None, analyzer: FaceAnalyzer | None) -> FaceAnalyzer:
    if analyzer is not None:
        return analyzer
    providers = tuple(settings.providers) if settings.providers else None
    return _cached_analyzer(face_model or settings.face_model, settings.models, providers)


def face_embedding(image: ImageInput, *, analyzer: FaceAnalyzer, settings: Settings) -> np.ndarray:
    """Embedding (D,) of the largest face of ``image``.

    Raises:
        InputNotFound: a path that is no file.
        InputError: the image cannot be read, or has no face.
    """
    if isinstance(image, np.ndarray):
        pixels, name = image, "the image array"
    else:
        path = Path(image)
        if not path.is_file():
            raise InputNotFound(f"no image file at {path}")
        try:
            pixels, name = load_image_rgb(path, limits=settings.image_limits), str(path)
        except ImageRejected as error:
            raise InputError(f"{path} cannot be read: {error}") from error
    face = largest_face(analyzer.analyze(pixels))
    if not len(face):
        raise InputError(f"no face found in {name}")
    return np.asarray(face.data["embedding"][0], dtype=np.float32)


def verify(
    image_a: ImageInput,
    image_b: ImageInput,
    *,
    threshold: float | None = None,
    face_model: str | None = None,
    db: Path | str | None = None,
    settings: Settings | None = None,
    analyzer: FaceAnalyzer | None = None,
) -> Verification:
    """Whether ``image_a`` and ``image_b`` show the same person (their largest faces).

    Args:
        image_a, image_b: image files or upright RGB uint8 arrays (H, W, 3).
        threshold: same-person cosine; default the workspace's calibrated one (``db``), else the shipped one.
        face_model: face model name (default: the settings').
        db: workspace whose calibrated threshold applies (default: the settings'; none there: shipped).
        settings: models, limits and providers (default: ``Settings()``).
        analyzer: a loaded face model to use instead of the cached one.
    """
    settings = (settings or Settings()).for_database(Path(db) if db else None)
    model = _analyzer(settings, face_model, analyzer)
    chosen = resolve_threshold(settings, model.name, explicit=threshold)
    a, b = (face_embedding(image, analyzer=model, settings=settings) for image in (image_a, image_b))
    similarity = float(np.clip(np.dot(a, b), -1.0, 1.0))
    return Verification(similarity >= chosen.value, similarity, chosen.value, chosen.source, model.name)


def find(
    image: ImageInput,
    *,
    db: Path | str | None = None,
    top_k: int = 5,
    threshold: float | None = None,
    face_model: str | None = None,
    settings: Settings | None = None,
    analyzer: FaceAnalyzer | None = None,
) -> list[Match]:
    """The workspace's characters closest to the largest face of ``image``, best first (at most ``top_k``).

    Each character is scored by its closest registered face (nearest neighbour, not the centroid: one good
    photo of a person is enough to be found). ``same`` says whether that score reaches the threshold.

    Raises:
        WorkspaceMissing: no workspace at ``db``.
        InputError: ``image`` has no face.
    """
    settings = (settings or Settings()).for_database(Path(db) if db else None)
    reader = WorkspaceReader.of(settings)
    model = _analyzer(settings, face_model, analyzer)
    query = face_embedding(image, analyzer=model, settings=settings)
    with reader.open() as ws:
        faces, chosen = ws.faces.of(model.name), face_threshold(ws, model.name, explicit=threshold)
    if not len(faces):
        return []
    scores = np.clip(faces.embeddings @ query, -1.0, 1.0)
    tags = faces.faces.data["identity_tag"].astype(str).tolist()
    best: dict[str, int] = {}  # tag -> index of its closest face
    for i in np.argsort(-scores).tolist():
        if tags[i] and tags[i] not in best:
            best[tags[i]] = i
    ranked = list(best.items())[:top_k]
    image_ids = [str(faces.faces.data["image_id"][i]) for _, i in ranked]
    files = reader.read(lambda ws: [ws.images.get(image_id).file_name for image_id in image_ids])
    return [
        Match(tag, float(scores[i]), bool(scores[i] >= chosen.value), faces.face_ids[i], file)
        for (tag, i), file in zip(ranked, files, strict=True)
    ]

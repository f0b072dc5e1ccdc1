"""The data that flows between stages: one ``Detections`` currency (CONVENTIONS.md 1) and typed entities.

Stages compute on these, the registry reads and writes them, and nothing passes positional tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refbench.errors import ShapeError, UnknownTagError

EMBEDDING_DIM = 512  # registry column width; smaller embeddings are zero-padded (cosine-preserving)
FACE_CLASS = "face"  # class name of faces when objects and faces are shown together
BEST_WIDTH_BAND = (0.15, 0.25)  # face width / image width that generators keep best (DESIGN.md)


def width_in_best_band(width_frac: float) -> bool:
    """Whether a face width (as a fraction of the image width) lies in ``BEST_WIDTH_BAND``."""
    return BEST_WIDTH_BAND[0] <= width_frac <= BEST_WIDTH_BAND[1]


FRONTAL_YAW_DEG = 15.0  # |yaw| below this counts as facing the camera

# How long work reports how far it has come: ``progress(done, total, step)`` before each step (the CLI draws
# a bar, a flow logs a line). Stages and pipelines take one as ``progress=`` and call it if given.
Progress = Callable[[int, int, str], None]


def _check(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape, strict=False))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ShapeError(f"{name}: expected shape {want}, got {array.shape}")


@dataclass
class Detections:
    """Boxes found in one image (or gathered from many), with every per-row field.

    Attributes:
        xyxy: float32 (N, 4) boxes in pixels of the upright image.
        confidence: float32 (N,) detector scores in [0, 1].
        class_id: int32 (N,) class indices (COCO ids for objects, 0 for faces).
        data: extra per-row arrays, each of length N. Detectors fill ``class_name`` (N,) str; face models
            ``landmarks`` (N, 5, 2) float32 (left eye, right eye, nose, left mouth, right mouth, in image
            coordinates) and ``embedding`` (N, D) float32 L2-normalized; quality measurement adds
            ``width_frac``, ``yaw``, ``sharpness``, ``exposure``, ``quality_score`` (N,) float32; the
            manifest adds ``crop_path`` (N,) str; the registry ``face_id``/``detection_id``, ``image_id``,
            ``identity_tag`` when it reads rows back.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if self.xyxy.size == 0:
            self.xyxy = self.xyxy.reshape(0, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        self.class_id = np.asarray(self.class_id, dtype=np.int32)
        n = len(self.xyxy)
        _check("xyxy", self.xyxy, (None, 4))
        _check("confidence", self.confidence, (n,))
        _check("class_id", self.class_id, (n,))
        for key, value in self.data.items():
            if len(value) != n:
                raise ShapeError(f"data[{key!r}]: expected {n} rows, got {len(value)}")

    @classmethod
    def empty(cls) -> Detections:
        """No detections: the value for "nothing found" (never ``None``)."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        """Select rows with an int, slice, index array or boolean mask."""
        index = [index] if isinstance(index, (int, np.integer)) else index
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            {k: np.asarray(v)[index] for k, v in self.data.items()},
        )

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels, (N,) float32."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    def with_data(self, **columns: Sequence[Any] | np.ndarray) -> Detections:
        """A copy with more (or replaced) per-row fields; each must have one value per row."""
        return Detections(
            self.xyxy, self.confidence, self.class_id, {**self.data, **{k: np.asarray(v) for k, v in columns.items()}}
        )

    def to_supervision(self) -> Any:
        """This as a ``supervision.Detections`` (same boxes, scores, class ids; every per-row field in ``data``).

        ``class_name`` keeps its name, which supervision's annotators use as labels.
        """
        import supervision as sv

        return sv.Detections(
            xyxy=self.xyxy.copy(),
            confidence=self.confidence.copy(),
            class_id=self.class_id.copy(),
            data={key: np.asarray(value).copy() for key, value in self.data.items()},
        )

    @classmethod
    def from_supervision(cls, detections: Any) -> Detections:
        """A ``supervision.Detections`` as refbench's (e.g. boxes from a supervision model adapter).

        Ground-truth boxes carry no score or class: confidence then reads 1.0 and class_id -1. Masks and
        tracker ids ride in ``data`` (``mask`` (N, H, W) bool, ``tracker_id`` (N,) int).
        """
        n = len(detections.xyxy)
        extra = {name: getattr(detections, name) for name in ("mask", "tracker_id")}
        data = {key: np.asarray(value) for key, value in detections.data.items()}
        data |= {name: np.asarray(value) for name, value in extra.items() if value is not None}
        return cls(
            np.asarray(detections.xyxy, dtype=np.float32),
            np.ones(n, np.float32) if detections.confidence is None else detections.confidence,
            np.full(n, -1, np.int32) if detections.class_id is None else detections.class_id,
            data,
        )

    @classmethod
    def merge(cls, objects: Detections, faces: Detections) -> Detections:
        """Objects and faces as one ``Detections``: faces get class ``face`` and id -1, objects NaN landmarks."""
        n_objects, n_faces = len(objects), len(faces)
        landmarks = np.full((n_objects + n_faces, 5, 2), np.nan, dtype=np.float32)
        if n_faces and "landmarks" in faces.data:
            landmarks[n_objects:] = faces.data["landmarks"]
        names = [*objects.data.get("class_name", [""] * n_objects), *([FACE_CLASS] * n_faces)]
        return cls(
            np.concatenate([objects.xyxy, faces.xyxy]),
            np.concatenate([objects.confidence, faces.confidence]),
            np.concatenate([objects.class_id, np.full(n_faces, -1)]),
            {"class_name": np.array(names, dtype=object), "landmarks": landmarks},
        )


def object_row_id(image_id: str, detector: str, index: int) -> str:
    """Registry id (and crop file stem) of the ``index``-th object one detector found in an image."""
    return f"{image_id[:20]}-{detector}-{index:03d}"


def face_row_id(image_id: str, face_model: str, index: int) -> str:
    """Registry id (and crop file stem) of the ``index``-th face one face model found in an image."""
    return f"{image_id[:20]}-{face_model}-{index:02d}"


@dataclass(frozen=True)
class Metric:
    """One measured value of a run; ``step`` and ``label`` make series (per threshold, per output)."""

    name: str
    value: float | None
    unit: str | None = None
    step: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    """One accepted image: its identity (content hash) and where its read-only copy lives."""

    image_id: str  # sha256 of the original bytes
    file_name: str
    source_path: Path
    stored_path: Path
    width: int  # upright (after EXIF orientation)
    height: int
    format: str
    mode: str
    exif_orientation: int
    n_bytes: int


@dataclass(frozen=True)
class Rejection:
    """One input file that could not be used, with a stable code and a human reason."""

    source_path: Path
    code: str
    reason: str
    n_bytes: int | None
    content_sha256: str | None


@dataclass(frozen=True)
class ImageAnalysis:
    """What the per-image stages found in one image.

    ``ran`` maps each stage that ran in this pass (``objects``, ``faces``) to its backend: a stage that did
    not run (it was done before) leaves its ``Detections`` empty and is not written again. Per-row fields
    (crop paths, face quality) ride in each ``Detections.data``.
    """

    record: ImageRecord
    objects: Detections
    faces: Detections
    ran: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FaceQuality:
    """Quality figures of one face (see ``refbench.faces.quality``)."""

    width_frac: float  # face width / image width
    yaw: float  # degrees, > 0: nose points towards the image's right edge
    sharpness: float  # variance of the Laplacian on the face resized to 112 px wide
    exposure: float  # mean luma of the face in [0, 1]
    quality_score: float  # [0, 1]
    det_score: float = 1.0  # detector confidence in [0, 1]

    @property
    def in_best_band(self) -> bool:
        """Whether the face width lies in the 15–25% band of the image width."""
        return width_in_best_band(self.width_frac)

    @property
    def facing(self) -> str:
        """Which frame edge the nose points to: ``right``, ``left`` or ``camera`` (|yaw| < 15°).

        Image edges, not the subject's own left/right: generators confuse the two, mirroring is caught here.
        """
        if abs(self.yaw) < FRONTAL_YAW_DEG:
            return "camera"
        return "right" if self.yaw > 0 else "left"


@dataclass(frozen=True)
class FaceSet:
    """Every face of one face model in the registry, in ingest order: what clustering reads.

    ``faces.data`` holds ``face_id``, ``image_id``, ``embedding`` (N, D) with the padding removed,
    ``quality_score`` and ``identity_tag`` (the tag each face had before, "" for none).
    """

    face_model: str
    faces: Detections

    def __len__(self) -> int:
        return len(self.faces)

    @property
    def face_ids(self) -> list[str]:
        """Face ids, in ingest order."""
        return [str(v) for v in self.faces.data.get("face_id", [])]

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D) L2-normalized float32."""
        return self.faces.data["embedding"] if len(self) else np.zeros((0, EMBEDDING_DIM), np.float32)


@dataclass(frozen=True)
class Identity:
    """One cluster of faces: a character of the manifest."""

    identity_id: str  # <face_model>/<tag>
    face_model: str
    tag: str
    threshold: float
    best_face_id: str
    face_ids: tuple[str, ...]

    @property
    def n_faces(self) -> int:
        """Faces in the identity."""
        return len(self.face_ids)


@dataclass(frozen=True)
class Asset:
    """One registered asset: what selection, describing, cleaning and reports read, and what the manifest writes.

    The first fields are the stored asset; the rest are facts gathered with it when it is read back
    (source image, detector class and box, best face figures, full-body crop, primary clean sheet).
    """

    asset_id: str  # identity_id, detection_id or image_id it stands for
    tag: str
    asset_type: str  # character | prop | vehicle | animal | environment
    name: str
    crop_path: Path
    source_image_id: str
    quality: float | None = None
    detection_id: str | None = None
    identity_id: str | None = None
    reverse_prompt: str | None = None
    visual_description: str | None = None
    suggested_name: str | None = None
    suitability: float | None = None
    source_image_file: str | None = None
    source_image_path: Path | None = None
    image_wh: tuple[int, int] | None = None  # source image (width, height), upright
    class_name: str | None = None  # detector class of objects
    bbox_xyxy: tuple[float, float, float, float] | None = None  # in the source image: object box or best face
    confidence: float | None = None  # detector confidence of objects
    face: FaceQuality | None = None  # best face of a character
    n_faces: int = 0  # faces of a character's identity
    scene_objects: dict[str, int] = field(default_factory=dict)  # class -> count in the source image
    scene_faces: int = 0  # faces in the source image
    full_body_path: Path | None = None
    clean_path: Path | None = None
    clean_tier: int | None = None
    views: dict[str, Path] = field(default_factory=dict)  # view name (refbench.faces.pose.View) -> image, newest sheet
    named_by_user: bool = False  # the name was given by the user (curation), not made up by refbench

    @property
    def description(self) -> str:
        """Text that re-describes the asset in prompts: ``prompt_text``, else its name."""
        return self.prompt_text or self.name

    @property
    def prompt_text(self) -> str | None:
        """What a prompt says of the asset: the name the user gave it, then its visual description (``None`` when
        it has neither: an automatic name such as "character 03" adds nothing for a generator)."""
        parts = [self.name if self.named_by_user else "", self.visual_description or ""]
        return " — ".join(p for p in parts if p) or None

    @property
    def label(self) -> str:
        """What the asset shows in one word: ``person`` for characters, the detector class, else the name."""
        return "person" if self.asset_type == "character" else self.class_name or self.name


@dataclass(frozen=True)
class AssetSet:
    """The active assets of a workspace, by tag."""

    assets: dict[str, Asset]

    def __contains__(self, tag: object) -> bool:
        return tag in self.assets

    def __getitem__(self, tag: str) -> Asset:
        if tag not in self.assets:
            raise UnknownTagError(tag, self.assets)
        return self.assets[tag]

    def __iter__(self) -> Iterator[Asset]:
        return iter(self.assets.values())

    def __len__(self) -> int:
        return len(self.assets)

    @property
    def tags(self) -> list[str]:
        """Active tags, sorted."""
        return sorted(self.assets)

    def of_type(self, *asset_types: str) -> list[Asset]:
        """Assets of the given types, by tag."""
        return [self.assets[t] for t in self.tags if self.assets[t].asset_type in asset_types]

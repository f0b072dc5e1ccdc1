"""The manifest pipeline: ingest → detect → faces → embed → cluster → register.

Each stage is a plain function; ``run_manifest`` chains them for the CLI and notebooks,
and ``flows/manifest.py`` wraps the same functions as Prefect tasks. Images are streamed:
one decoded image is held at a time, whatever the size of the folder.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from refbench import store
from refbench.assets import register_assets
from refbench.crops import (
    FACE_PADDING,
    OBJECT_PADDING,
    SheetItem,
    contact_sheet,
    save_crop,
    save_thumbnail,
)
from refbench.detect import ObjectDetector, create_object_detector
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.identity import cluster_faces, default_threshold
from refbench.ingest import Known, LoadedImage, ingest_file, list_files, rejection_id, reload_image
from refbench.quality import FaceQuality, faces_quality
from refbench.settings import Settings
from refbench.types import EMBEDDING_DIM, Detections, ImageRecord, Rejection

log = logging.getLogger(__name__)

CONTACT_SHEET_PAGE = 120


@dataclass(frozen=True)
class ManifestOptions:
    """What a manifest run uses: backends and thresholds (``None`` threshold: the model's default)."""

    detector: str = "opencv-darknet"
    detector_model: Path | None = None
    face_model: str = "insightface"
    face_threshold: float | None = None
    object_confidence: float = 0.4


@dataclass
class Backends:
    """Loaded models, created once per process and passed in explicitly."""

    detector: ObjectDetector
    faces: FaceAnalyzer


@dataclass
class ImageAnalysis:
    """Everything the per-image stages found; ``None`` means the stage was already done before."""

    record: ImageRecord
    objects: Detections | None
    faces: Detections | None
    face_quality: list[FaceQuality] = field(default_factory=list)
    object_crops: list[Path] = field(default_factory=list)
    face_crops: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ManifestSummary:
    """What a run did, for the CLI table, the flow result and the runs table."""

    run_id: str
    database: Path
    files_seen: int = 0
    images_new: int = 0
    images_total: int = 0
    rejected_new: int = 0
    rejected_total: int = 0
    faces: int = 0
    identities: int = 0
    assets_by_type: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    contact_sheet: Path | None = None
    execution_provider: str = ""
    threshold: float = 0.0


def load_backends(options: ManifestOptions, settings: Settings) -> Backends:
    """Load the object detector and face model named in ``options``."""
    return Backends(
        detector=create_object_detector(
            options.detector,
            model_dir=settings.models,
            model_path=options.detector_model,
            confidence=options.object_confidence,
        ),
        faces=create_face_analyzer(options.face_model, model_dir=settings.models, providers=settings.providers),
    )


def analyze_image(
    loaded: LoadedImage, backends: Backends, *, files_dir: Path, run_objects: bool = True, run_faces: bool = True
) -> ImageAnalysis:
    """Detect objects and faces in one image, measure face quality and save padded crops."""
    record, image = loaded.record, loaded.image_rgb
    result = ImageAnalysis(record, None, None)
    if run_objects:
        start = time.perf_counter()
        result.objects = backends.detector.detect(image)
        result.seconds["detect"] = time.perf_counter() - start
    if run_faces:
        start = time.perf_counter()
        result.faces = backends.faces.analyze(image)
        result.face_quality = faces_quality(image, result.faces)
        result.seconds["faces"] = time.perf_counter() - start
    start = time.perf_counter()
    stem = record.image_id[:20]
    if result.objects is not None:
        result.object_crops = [
            save_crop(
                image,
                box,
                files_dir / "crops" / "objects" / f"{stem}-{backends.detector.name}-{i:03d}.jpg",
                padding=OBJECT_PADDING,
            )
            for i, box in enumerate(result.objects.xyxy)
        ]
    if result.faces is not None:
        result.face_crops = [
            save_crop(
                image,
                box,
                files_dir / "crops" / "faces" / f"{stem}-{backends.faces.name}-{i:02d}.jpg",
                padding=FACE_PADDING,
            )
            for i, box in enumerate(result.faces.xyxy)
        ]
    save_thumbnail(image, thumbnail_path(files_dir, record.image_id))
    result.seconds["crops"] = time.perf_counter() - start
    return result


def thumbnail_path(files_dir: Path, image_id: str) -> Path:
    """Where the contact-sheet thumbnail of an image lives."""
    return files_dir / "thumbs" / f"{image_id[:20]}.jpg"


def write_analysis(batch: store.Batch, analysis: ImageAnalysis, *, run_id: str, detector: str, face_model: str) -> None:
    """Queue one image's rows (image, detections, faces, processed markers) in the open batch."""
    record = analysis.record
    batch.add(
        "images",
        [
            {
                "image_id": record.image_id,
                "file_name": record.file_name,
                "source_path": str(record.source_path),
                "stored_path": str(record.stored_path),
                "width": record.width,
                "height": record.height,
                "format": record.format,
                "mode": record.mode,
                "exif_orientation": record.exif_orientation,
                "n_bytes": record.n_bytes,
                "run_id": run_id,
            }
        ],
    )
    if analysis.objects is not None:
        batch.add("detections", _detection_rows(analysis, detector))
        batch.add(
            "processed", [{"image_id": record.image_id, "stage": "objects", "backend": detector, "run_id": run_id}]
        )
    if analysis.faces is not None:
        batch.add("faces", _face_rows(analysis, face_model))
        batch.add(
            "processed", [{"image_id": record.image_id, "stage": "faces", "backend": face_model, "run_id": run_id}]
        )


def _detection_rows(analysis: ImageAnalysis, detector: str) -> list[dict]:
    objects, stem = analysis.objects, analysis.record.image_id[:20]
    return [
        {
            "detection_id": f"{stem}-{detector}-{i:03d}",
            "image_id": analysis.record.image_id,
            "detector": detector,
            "class_id": int(objects.class_id[i]),
            "class_name": str(objects.data["class_name"][i]),
            "confidence": float(objects.confidence[i]),
            "bbox": objects.xyxy[i].tolist(),
            "crop_path": str(analysis.object_crops[i]),
        }
        for i in range(len(objects))
    ]


def _face_rows(analysis: ImageAnalysis, face_model: str) -> list[dict]:
    faces, stem = analysis.faces, analysis.record.image_id[:20]
    rows = []
    for i in range(len(faces)):
        embedding = faces.data["embedding"][i]
        padded = np.zeros(EMBEDDING_DIM, dtype=np.float32)
        padded[: len(embedding)] = embedding
        quality = analysis.face_quality[i]
        rows.append(
            {
                "face_id": f"{stem}-{face_model}-{i:02d}",
                "image_id": analysis.record.image_id,
                "face_model": face_model,
                "bbox": faces.xyxy[i].tolist(),
                "landmarks": faces.data["landmarks"][i].reshape(-1).tolist(),
                "det_score": float(faces.confidence[i]),
                "embedding": padded.tolist(),
                "embedding_dim": len(embedding),
                "crop_path": str(analysis.face_crops[i]),
                "width_frac": quality.width_frac,
                "yaw": quality.yaw,
                "sharpness": quality.sharpness,
                "exposure": quality.exposure,
                "quality_score": quality.quality_score,
            }
        )
    return rows


def record_rejection(con: duckdb.DuckDBPyConnection, rejection: Rejection, *, run_id: str) -> bool:
    """Store a rejection once per (file path, content); returns whether it was new."""
    return (
        store.insert_rows(
            con,
            "rejections",
            [
                {
                    "rejection_id": rejection_id(rejection),
                    "source_path": str(rejection.source_path),
                    "file_name": rejection.source_path.name,
                    "code": rejection.code,
                    "reason": rejection.reason,
                    "n_bytes": rejection.n_bytes,
                    "content_sha256": rejection.content_sha256,
                    "run_id": run_id,
                }
            ],
        )
        == 1
    )


def pending_stages(
    con: duckdb.DuckDBPyConnection, image_id: str, *, detector: str, face_model: str
) -> tuple[bool, bool]:
    """Whether an image still needs (objects, faces) with these backends."""
    done = {
        (s, b) for s, b in con.execute("SELECT stage, backend FROM processed WHERE image_id = ?", [image_id]).fetchall()
    }
    return ("objects", detector) not in done, ("faces", face_model) not in done


def image_record(con: duckdb.DuckDBPyConnection, image_id: str) -> ImageRecord:
    """The registered record of an image."""
    row = con.execute(
        "SELECT image_id, file_name, source_path, stored_path, width, height, format, mode, exif_orientation, n_bytes"
        " FROM images WHERE image_id = ?",
        [image_id],
    ).fetchone()
    return ImageRecord(row[0], row[1], Path(row[2]), Path(row[3]), *row[4:])


def iter_work(
    con: duckdb.DuckDBPyConnection,
    photos_dir: Path,
    *,
    settings: Settings,
    options: ManifestOptions,
    summary: ManifestSummary,
) -> Iterator[tuple[LoadedImage, bool, bool]]:
    """The images of ``photos_dir`` that still need a stage, ingested one by one as they are consumed.

    The folder is listed now, so ``summary.files_seen`` is known before the first image.
    """
    files = list_files(photos_dir)
    summary.files_seen = len(files)
    return _ingest_pending(con, files, settings=settings, options=options, summary=summary)


def _ingest_pending(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    *,
    settings: Settings,
    options: ManifestOptions,
    summary: ManifestSummary,
) -> Iterator[tuple[LoadedImage, bool, bool]]:
    """Ingest files one by one; yield each image that still needs a stage, with the stages it needs."""
    known = {row[0] for row in con.execute("SELECT image_id FROM images").fetchall()}
    for path in files:
        start = time.perf_counter()
        item = ingest_file(
            path,
            originals_dir=settings.workspace_files / "originals",
            known=known,
            max_pixels=settings.max_image_pixels,
            max_file_bytes=settings.max_file_bytes,
        )
        summary.seconds["ingest"] += time.perf_counter() - start
        if isinstance(item, Rejection):
            summary.rejected_new += record_rejection(con, item, run_id=summary.run_id)
            continue
        image_id = item.record.image_id if isinstance(item, LoadedImage) else item.image_id
        needs_objects, needs_faces = pending_stages(
            con, image_id, detector=options.detector, face_model=options.face_model
        )
        if not (needs_objects or needs_faces):
            continue
        if isinstance(item, Known):
            item = reload_image(image_record(con, image_id), max_pixels=settings.max_image_pixels)
        else:
            summary.images_new += 1
        known.add(image_id)
        yield item, needs_objects, needs_faces


def assign_identities(con: duckdb.DuckDBPyConnection, *, face_model: str, threshold: float, run_id: str) -> int:
    """Re-cluster all faces of ``face_model``; tags stay with the faces they named before.

    Returns:
        The number of identities.
    """
    rows = con.execute(
        "SELECT f.face_id, f.embedding, f.embedding_dim, f.quality_score, fi.identity_id"
        " FROM faces f JOIN images i USING (image_id) LEFT JOIN face_identity fi USING (face_id)"
        " WHERE f.face_model = ? ORDER BY i.ingested_at, i.file_name, f.face_id",
        [face_model],
    ).fetchall()
    if not rows:
        return 0
    dim = rows[0][2]
    labels = cluster_faces(np.array([r[1][:dim] for r in rows], dtype=np.float32), threshold=threshold)
    tags = _stable_tags(labels, [r[4] for r in rows], face_model)
    identities, memberships = [], []
    for label, tag in tags.items():
        members = [i for i, value in enumerate(labels) if value == label]
        best = max(members, key=lambda i: rows[i][3] or 0.0)
        identity_id = f"{face_model}/{tag}"
        identities.append(
            {
                "identity_id": identity_id,
                "face_model": face_model,
                "tag": tag,
                "threshold": threshold,
                "n_faces": len(members),
                "best_face_id": rows[best][0],
                "run_id": run_id,
            }
        )
        memberships += [{"face_id": rows[i][0], "identity_id": identity_id} for i in members]
    con.execute(
        "DELETE FROM face_identity WHERE face_id IN (SELECT face_id FROM faces WHERE face_model = ?)", [face_model]
    )
    con.execute("DELETE FROM identities WHERE face_model = ?", [face_model])
    store.insert_rows(con, "identities", identities)
    store.insert_rows(con, "face_identity", memberships)
    return len(identities)


def _stable_tags(labels: np.ndarray, previous: list[str | None], face_model: str) -> dict[int, str]:
    """CHAR tag per cluster label: a cluster inherits the old tag most of its faces had."""
    prefix = f"{face_model}/"
    old = [p.removeprefix(prefix) if p else None for p in previous]
    votes: dict[int, Counter] = defaultdict(Counter)
    for label, tag in zip(labels.tolist(), old, strict=True):
        if tag:
            votes[label][tag] += 1
    taken: set[str] = set()
    tags: dict[int, str] = {}
    for label in sorted(votes, key=lambda lb: -max(votes[lb].values())):
        for tag, _ in votes[label].most_common():
            if tag not in taken:
                tags[label] = tag
                taken.add(tag)
                break
    next_number = max((int(t.split("_")[1]) for t in taken), default=0) + 1
    for label in dict.fromkeys(labels.tolist()):
        if label not in tags:
            tags[label] = f"CHAR_{next_number:02d}"
            next_number += 1
    return tags


def write_contact_sheet(con: duckdb.DuckDBPyConnection, path: Path, *, run_id: str) -> Path:
    """Contact sheet of every registered upload: number, file name, and what it became."""
    rows = con.execute(
        "SELECT i.stored_path, i.file_name,"
        " coalesce(string_agg(a.tag, ' ' ORDER BY a.tag), 'no asset') FROM images i"
        " LEFT JOIN (SELECT source_image_id, tag FROM assets WHERE active) a ON a.source_image_id = i.image_id"
        " GROUP BY i.image_id, i.stored_path, i.file_name, i.ingested_at ORDER BY i.ingested_at, i.file_name"
    ).fetchall()
    files_dir = path.parent
    items = [SheetItem(_thumbnail_or_original(files_dir, Path(p)), name, tags) for p, name, tags in rows]
    # Pages of CONTACT_SHEET_PAGE tiles keep memory flat however many photos there are.
    for start in range(0, max(len(items), 1), CONTACT_SHEET_PAGE):
        page = start // CONTACT_SHEET_PAGE + 1
        page_path = path if page == 1 else path.with_name(f"{path.stem}_p{page:02d}{path.suffix}")
        contact_sheet(items[start : start + CONTACT_SHEET_PAGE], page_path, first_number=start + 1)
        kind = "contact_sheet" if page == 1 else "contact_sheet_page"
        store.insert_rows(con, "artifacts", [{"path": str(page_path), "kind": kind, "run_id": run_id}])
    return path


def _thumbnail_or_original(files_dir: Path, stored: Path) -> Path:
    thumb = thumbnail_path(files_dir, stored.stem)
    return thumb if thumb.is_file() else stored


@contextmanager
def tracked_manifest(
    con: duckdb.DuckDBPyConnection,
    photos_dir: Path,
    *,
    database: Path,
    options: ManifestOptions,
    execution_provider: str,
    load_seconds: float,
    extra_parameters: dict[str, str] | None = None,
) -> Iterator[ManifestSummary]:
    """Record a manifest run in ``runs``: started on entry, completed or failed (with the error) on exit.

    ``load_seconds`` (loading the backends, done before the run) opens the summary's stage times.
    """
    threshold = options.face_threshold
    if threshold is None:
        threshold = workspace_threshold(con, options.face_model)
    summary = ManifestSummary(
        run_id=store.new_run_id("manifest"),
        database=database,
        threshold=threshold,
        execution_provider=execution_provider,
    )
    summary.seconds["load_models"] = load_seconds
    parameters = {
        "photos_dir": str(photos_dir),
        "detector": options.detector,
        "face_model": options.face_model,
        "face_threshold": threshold,
        "object_confidence": options.object_confidence,
        **(extra_parameters or {}),
    }
    with store.tracked_run(
        con, run_id=summary.run_id, kind="manifest", parameters=parameters, execution_provider=execution_provider
    ):
        yield summary


def record_analysis(
    batch: store.Batch, analysis: ImageAnalysis, summary: ManifestSummary, *, options: ManifestOptions
) -> None:
    """Add one image's stage seconds to the summary and write its rows with the batch."""
    for stage, seconds in analysis.seconds.items():
        summary.seconds[stage] += seconds
    start = time.perf_counter()
    write_analysis(batch, analysis, run_id=summary.run_id, detector=options.detector, face_model=options.face_model)
    batch.tick()
    summary.seconds["register"] += time.perf_counter() - start


def run_manifest(
    photos_dir: Path,
    *,
    settings: Settings,
    options: ManifestOptions,
    backends: Backends | None = None,
    progress: bool = False,
) -> ManifestSummary:
    """Turn a folder of photos into the registry; safe to re-run (only new work is done)."""
    start = time.perf_counter()
    backends = backends or load_backends(options, settings)
    load_seconds = time.perf_counter() - start
    con = store.connect(settings.database)
    try:
        with tracked_manifest(
            con,
            photos_dir,
            database=settings.database,
            options=options,
            execution_provider=backends.faces.execution_provider,
            load_seconds=load_seconds,
        ) as summary:
            work = iter_work(con, photos_dir, settings=settings, options=options, summary=summary)
            if progress:
                from tqdm import tqdm

                work = tqdm(work, total=summary.files_seen, desc="images", unit="img")
            with store.Batch(con) as batch:
                for loaded, needs_objects, needs_faces in work:
                    analysis = analyze_image(
                        loaded,
                        backends,
                        files_dir=settings.workspace_files,
                        run_objects=needs_objects,
                        run_faces=needs_faces,
                    )
                    record_analysis(batch, analysis, summary, options=options)
            finish_manifest(con, summary, settings=settings, options=options)
    finally:
        con.close()
    return summary


def finish_manifest(
    con: duckdb.DuckDBPyConnection, summary: ManifestSummary, *, settings: Settings, options: ManifestOptions
) -> None:
    """The whole-registry stages after the per-image ones: cluster, assets, contact sheet, metrics."""
    # One transaction: identities are deleted and rewritten, and assets must follow them.
    with store.transaction(con):
        start = time.perf_counter()
        summary.identities = assign_identities(
            con, face_model=options.face_model, threshold=summary.threshold, run_id=summary.run_id
        )
        summary.seconds["cluster"] += time.perf_counter() - start
        start = time.perf_counter()
        summary.assets_by_type = register_assets(
            con,
            face_model=options.face_model,
            detector=options.detector,
            files_dir=settings.workspace_files,
        )
        summary.contact_sheet = write_contact_sheet(
            con, settings.workspace_files / "contact_sheet.png", run_id=summary.run_id
        )
        summary.seconds["assets"] += time.perf_counter() - start
    summary.images_total = store.count(con, "images")
    summary.rejected_total = store.count(con, "rejections")
    summary.faces = store.count(con, "faces", "face_model = ?", [options.face_model])
    store.log_metrics(
        con,
        summary.run_id,
        [
            ("files_seen", summary.files_seen, "files"),
            ("images_new", summary.images_new, "images"),
            ("images_total", summary.images_total, "images"),
            ("rejected_new", summary.rejected_new, "files"),
            ("faces", summary.faces, "faces"),
            ("identities", summary.identities, "identities"),
            *[(f"assets_{k}", v, "assets") for k, v in summary.assets_by_type.items()],
            *[(f"seconds_{k}", v, "s") for k, v in summary.seconds.items()],
        ],
    )


def resolve_threshold(settings: Settings, face_model: str) -> float:
    """The face model's calibrated threshold stored in the workspace, else its shipped default."""
    if not settings.database.is_file():
        return default_threshold(face_model)
    con = store.connect(settings.database)
    try:
        return workspace_threshold(con, face_model)
    finally:
        con.close()


def workspace_threshold(con: duckdb.DuckDBPyConnection, face_model: str) -> float:
    """The threshold calibration stored for ``face_model`` in this workspace, else its shipped default."""
    row = con.execute("SELECT threshold FROM face_thresholds WHERE face_model = ?", [face_model]).fetchone()
    return float(row[0]) if row else default_threshold(face_model)

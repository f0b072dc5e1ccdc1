"""The manifest pipeline: ingest → detect → faces → embed → cluster → register.

``run_manifest`` is what the CLI, the notebooks and the Prefect flow run: the flow passes its task
submitter as ``map_images`` instead of re-spelling this loop. Images are streamed (one decoded image is
held at a time, whatever the size of the folder); every registry write happens in the calling process,
because DuckDB has a single writer.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from refbench.assets import (
    ENV_MAX_FACE_WIDTH_FRAC,
    ENV_MAX_OBJECT_AREA_FRAC,
    MIN_ASSET_AREA_FRAC,
    MIN_ASSET_CONFIDENCE,
    TagCounter,
    environment_assets,
    object_assets,
)
from refbench.assets.crops import FACE_PADDING, OBJECT_PADDING, SheetItem, save_crop, save_scaled, sheet_pages
from refbench.curation import replay
from refbench.ingest import (
    FileStat,
    Known,
    LoadedImage,
    ingest_file,
    load_image_rgb,
    printable,
    scan_folder,
    storable,
)
from refbench.pipelines.analyze import (
    STAGES,
    THUMBNAILS,
    Backends,
    ImageAnalyzer,
    ImageWork,
    ManifestOptions,
    load_backends,
    shared_backends,
    thumbnail_name,
)
from refbench.pipelines.common import face_threshold
from refbench.pipelines.identities import apply_overrides, update_identities
from refbench.registry import Workspace
from refbench.registry.images import ImageWriter
from refbench.runtime import resolve_providers
from refbench.settings import ImageLimits, Settings
from refbench.types import ImageAnalysis, ImageRecord, Metric, Rejection

__all__ = ["Backends", "ManifestOptions", "ManifestSummary", "load_backends", "run_manifest", "shared_backends"]

log = logging.getLogger(__name__)
HEARTBEAT_S = 60  # how often a long run says it is alive (runs of other hosts are judged by it)

Analysis = ImageAnalysis | Rejection
MapImages = Callable[[Callable[[ImageWork], Analysis], Iterable[ImageWork]], Iterable[Analysis]]


@dataclass
class ManifestSummary:
    """What a run did, for the CLI table, the flow result and the runs table."""

    run_id: str
    database: Path
    files_seen: int = 0
    files_unchanged: int = 0
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
    threshold_source: str = ""
    files_restored: int = 0  # derived files that were missing from disk and were made again
    cluster_method: str = ""  # full | incremental

    def metrics(self) -> list[Metric]:
        """The run-level metrics of this summary."""
        return [
            Metric("files_seen", self.files_seen, "files"),
            Metric("files_unchanged", self.files_unchanged, "files"),
            Metric("images_new", self.images_new, "images"),
            Metric("images_total", self.images_total, "images"),
            Metric("rejected_new", self.rejected_new, "files"),
            Metric("faces", self.faces, "faces"),
            Metric("identities", self.identities, "identities"),
            Metric("files_restored", self.files_restored, "files"),
            *[Metric(f"assets_{k}", v, "assets") for k, v in self.assets_by_type.items()],
            *[Metric(f"seconds_{k}", v, "s") for k, v in self.seconds.items()],
        ]


def run_manifest(
    photos_dir: Path,
    *,
    settings: Settings,
    options: ManifestOptions,
    backends: Backends | None = None,
    map_images: MapImages = map,
    progress: bool = False,
    extra_parameters: dict[str, str] | None = None,
    reprocess: Sequence[str] = (),
    recluster: bool = False,
) -> ManifestSummary:
    """Turn a folder of photos into the registry; safe to re-run (only new work is done).

    Args:
        photos_dir: folder of photos, searched recursively.
        settings: workspace, models and limits.
        options: backends and thresholds (unset ones from the settings and the workspace).
        backends: models already loaded by this thread (default: loaded here, once per thread).
        map_images: applies the per-image analyzer to the work items, in order (``map``; a pool of worker
            processes, ``refbench.pipelines.pool.ProcessMap``; or a task runner's submitter such as
            ``refbench.pipelines.tasks.prefect_map``).
        progress: show a progress bar over the folder's files.
        extra_parameters: more run parameters to record (e.g. which orchestrator ran it).
        reprocess: tags or file names whose images are analyzed again (a tag: every photo its asset comes
            from); face ids stay the same, so corrections that name those faces still hold.
        recluster: cluster every face again even when only new faces would need re-linking.
    """
    options = options.resolved(settings)
    scan = scan_folder(photos_dir)  # a missing folder fails here, before a workspace is created
    files = scan.files
    start = time.perf_counter()
    providers = tuple(settings.providers) if settings.providers else None
    if backends is None and not getattr(map_images, "loads_models", False):  # worker processes load their own
        backends = shared_backends(options, model_dir=settings.models, providers=providers)
    load_seconds = time.perf_counter() - start
    with Workspace.open(settings) as ws:
        threshold = face_threshold(ws, options.face_model, explicit=options.face_threshold)
        parameters = {
            "photos_dir": str(photos_dir),
            "detector": options.detector,
            "face_model": options.face_model,
            "face_threshold": threshold.value,
            "face_threshold_source": threshold.source,
            "object_confidence": options.object_confidence,
            **(extra_parameters or {}),
            **({"reprocess": list(reprocess)} if reprocess else {}),
            **({"recluster": True} if recluster else {}),
        }
        provider = backends.faces.execution_provider if backends else resolve_providers(settings.providers)[0]
        redo = reprocess_images(ws, reprocess, face_model=options.face_model)
        with ws.runs.track("manifest", parameters, execution_provider=provider) as run:
            summary = ManifestSummary(
                run.run_id,
                ws.path,
                files_seen=len(files) + sum(r.code == "not_a_file" for r in scan.skipped),
                execution_provider=provider,
                threshold=threshold.value,
                threshold_source=threshold.source,
            )
            summary.seconds["load_models"] = load_seconds
            images_before = ws.images.count()
            for skipped in scan.skipped:
                summary.rejected_new += ws.rejections.add(skipped, run_id=run.run_id)
            listed: Iterable[Path] = files
            if progress:
                from tqdm import tqdm

                listed = tqdm(files, desc="images", unit="img")
            ws.images.forget_stages(
                [r.image_id for r in redo], detector=options.detector, face_model=options.face_model
            )
            sources: dict[str, FileStat] = {}
            work = pending_work(
                ws,
                listed,
                settings=settings,
                options=options,
                summary=summary,
                stats=scan.stats,
                redo=redo,
                sources=sources,
            )
            analyzer = ImageAnalyzer(
                options, settings.models, ws.files_dir, settings.image_limits, providers=providers, backends=backends
            )
            beat = time.monotonic()
            with ws.images.writer(run_id=run.run_id) as writer:
                for analysis in map_images(analyzer, work):
                    if time.monotonic() - beat > HEARTBEAT_S:
                        run.heartbeat()
                        beat = time.monotonic()
                    if isinstance(analysis, Rejection):
                        summary.rejected_new += ws.rejections.add(analysis, run_id=run.run_id)
                    else:
                        source = sources.pop(analysis.record.image_id, None)
                        record_analysis(writer, analysis, summary, source=source)
            finish_manifest(ws, summary, options=options, limits=settings.image_limits, recluster=recluster)
            summary.images_new = summary.images_total - images_before  # registered, not merely read
            run.log_many(summary.metrics())
    return summary


def reprocess_images(ws: Workspace, names: Sequence[str], *, face_model: str) -> list[ImageRecord]:
    """The registered images ``names`` (active tags or file names) stand for, each once.

    Raises:
        UnknownNameError: a name that is neither an active tag nor a registered file name.
    """
    if not names:
        return []
    assets = ws.assets.list()
    image_ids: dict[str, None] = {}
    for name in names:
        if name in assets and assets[name].asset_type == "character" and assets[name].identity_id:
            faces = ws.identities.get(name, face_model=face_model).face_ids
            image_ids.update(dict.fromkeys(sorted(ws.faces.image_ids(faces))))
        elif name in assets:
            image_ids[assets[name].source_image_id] = None
        else:
            image_ids[ws.images.by_file(name).image_id] = None
    return [ws.images.get(image_id) for image_id in image_ids]


def pending_work(
    ws: Workspace,
    files: Iterable[Path],
    *,
    settings: Settings,
    options: ManifestOptions,
    summary: ManifestSummary,
    stats: Mapping[Path, FileStat],
    redo: Sequence[ImageRecord] = (),
    sources: dict[str, FileStat] | None = None,
) -> Iterator[ImageWork]:
    """Ingest files one by one as they are consumed; yield each image that still needs a stage.

    A file whose path, size and mtime are those a run settled is skipped unread (one query for all of them).
    Bad files are recorded as rejections; a file byte-identical to one registered under another name is
    rejected as a ``duplicate`` naming the original (its content is registered once). ``redo`` images come
    first, with every stage, wherever their files are. ``stats``: the size and mtime of each file as the folder
    scan saw them (``refbench.ingest.FolderScan``). ``sources`` receives the size and mtime of each yielded
    image's file, to be written with its rows.
    """
    registered = ws.images.sources()
    done = ws.images.stages_done(detector=options.detector, face_model=options.face_model)
    settled, settle = ws.sources.all(), ws.sources.settler(run_id=summary.run_id)
    for record in redo:
        done[record.image_id] = set(STAGES)
        yield ImageWork(record, STAGES)
    for path in files:
        stat = stats.get(path)
        known = settled.get(storable(path))  # the key the registry stores (names need not be UTF-8)
        if (
            stat
            and known
            and known.stat == stat
            and (known.rejection_code or set(STAGES) <= done.get(known.image_id, set()))
        ):
            summary.files_unchanged += 1
            continue
        start = time.perf_counter()
        item = ingest_file(
            path, originals_dir=ws.files_dir / "originals", known=registered, limits=settings.image_limits
        )
        summary.seconds["ingest"] += time.perf_counter() - start
        if isinstance(item, Known) and _is_copy(path, registered[item.image_id]):
            item = Rejection(path, "duplicate", f"same content as {registered[item.image_id]}", None, item.image_id)
        if isinstance(item, Rejection):
            summary.rejected_new += ws.rejections.add(item, run_id=summary.run_id)
            if stat:
                settle.add(path, stat, rejection_code=item.code)
            continue
        image_id = item.record.image_id if isinstance(item, LoadedImage) else item.image_id
        stages = tuple(s for s in STAGES if s not in done.get(image_id, ()))
        if not stages:
            if stat:
                settle.add(path, stat, image_id=image_id)
            continue
        if isinstance(item, LoadedImage):
            registered[image_id] = path
            work = ImageWork(item.record, stages, item.image_rgb)
        else:
            work = ImageWork(ws.images.get(image_id), stages)
        done[image_id] = set(STAGES)
        if stat and sources is not None:
            sources[image_id] = stat
        yield work
    settle.flush()


def _is_copy(path: Path, original: Path) -> bool:
    """Whether ``path`` is a second file with the content of ``original`` (not the same file seen again,
    nor a folder moved since: then the original path is gone)."""
    return path.resolve() != original.resolve() and original.exists()


def record_analysis(
    writer: ImageWriter, analysis: ImageAnalysis, summary: ManifestSummary, *, source: FileStat | None = None
) -> None:
    """Add one image's stage seconds to the summary and queue its rows (with its file's size and mtime)."""
    for stage, seconds in analysis.seconds.items():
        summary.seconds[stage] += seconds
    start = time.perf_counter()
    writer.add(analysis, source=source)
    summary.seconds["register"] += time.perf_counter() - start


def finish_manifest(
    ws: Workspace,
    summary: ManifestSummary,
    *,
    options: ManifestOptions,
    limits: ImageLimits,
    recluster: bool = False,
) -> None:
    """The whole-registry stages after the per-image ones: cluster, assets, contact sheet, counts.

    One transaction: identities are brought up to date under the user's corrections (re-linked where new faces
    land, or clustered again: ``refbench.pipelines.identities.update_identities``), and assets follow them.
    """
    with ws.transaction():
        start = time.perf_counter()
        events = ws.curation.events()
        summary.cluster_method = update_identities(
            ws,
            face_model=options.face_model,
            threshold=summary.threshold,
            run_id=summary.run_id,
            events=events,
            full=recluster,
        )
        summary.identities = ws.identities.count(options.face_model)
        summary.seconds["cluster"] += time.perf_counter() - start
        start = time.perf_counter()
        register_assets(ws, options=options)
        apply_overrides(ws, replay(events))
        summary.assets_by_type = ws.assets.counts_by_type()
        summary.contact_sheet = write_contact_sheet(ws, run_id=summary.run_id)
        summary.seconds["assets"] += time.perf_counter() - start
    summary.files_restored = restore_missing_files(ws, limits=limits)
    summary.images_total = ws.images.count()
    summary.rejected_total = ws.rejections.count()
    summary.faces = ws.faces.count(options.face_model)


def restore_missing_files(ws: Workspace, *, limits: ImageLimits) -> int:
    """Make again every crop or scaled copy the registry refers to that is gone from disk (deleted by hand, lost
    with a disk); each comes from the image's read-only original exactly as the first time. Returns how many."""
    missing = [f for f in ws.images.derived_files() if not f.path.is_file()]
    records = {r.image_id: r for r in ws.images.list()} if missing else {}
    for image_id, files in itertools.groupby(missing, key=lambda f: f.image_id):
        record = records[image_id]
        image = load_image_rgb(record.stored_path, limits=limits)
        for derived in files:
            if derived.kind == "environment":
                save_scaled(record.stored_path, derived.path, orientation=record.exif_orientation)
            else:
                padding = FACE_PADDING if derived.kind == "face" else OBJECT_PADDING
                save_crop(image, np.asarray(derived.xyxy), derived.path, padding=padding)
            log.warning("restored the missing %s file %s", derived.kind, printable(derived.path))
    return len(missing)


def register_assets(ws: Workspace, *, options: ManifestOptions) -> None:
    """Characters follow the identities; new confident objects and new scene photos become assets."""
    ws.assets.sync_characters(options.face_model)
    tags = TagCounter(ws.assets.last_tag_numbers())
    candidates = ws.objects.candidates(
        detector=options.detector, min_confidence=MIN_ASSET_CONFIDENCE, min_area_frac=MIN_ASSET_AREA_FRAC
    )
    ws.assets.add(object_assets(candidates, registered=ws.assets.ids(), tags=tags))
    scenes = ws.images.scene_candidates(
        face_model=options.face_model,
        detector=options.detector,
        max_face_width_frac=ENV_MAX_FACE_WIDTH_FRAC,
        min_confidence=MIN_ASSET_CONFIDENCE,
        max_object_area_frac=ENV_MAX_OBJECT_AREA_FRAC,
    )
    ws.assets.add(environment_assets(scenes, tags=tags, out_dir=ws.files_dir / "crops" / "environments"))


def write_contact_sheet(ws: Workspace, *, run_id: str) -> Path:
    """Contact sheet of every registered upload: number, file name, and the tags it became.

    Only pages whose tiles changed (or whose file is missing) are drawn again: adding a photo to a registry of
    thousands redraws its last page, not every page.
    """
    thumbs = ws.files_dir / THUMBNAILS
    items = [
        SheetItem(
            f"{thumbs}/{thumbnail_name(row.image_id)}",
            row.file_name,
            sheet_caption(row.tags.split(), row.faces_of.split()),
            fallback=row.stored_path,
        )
        for row in ws.images.sheet_rows()
    ]
    pages = sheet_pages(items, ws.files_dir / "contact_sheet.png")
    drawn = ws.artifacts.signatures()
    for number, page in enumerate(pages):
        if drawn.get(page.path) != page.signature or not page.path.is_file():
            page.draw()
            kind = "contact_sheet" if number == 0 else "contact_sheet_page"
            ws.artifacts.record(page.path, kind=kind, run_id=run_id, signature=page.signature)
    return pages[0].path


def sheet_caption(tags: list[str], faces_of: list[str]) -> str:
    """What a photo became: its own assets, then the characters whose faces it shows (their asset is elsewhere)."""
    faces = f"face of {' '.join(faces_of)}" if faces_of else ""
    return " · ".join(part for part in (" ".join(tags), faces) if part) or "no asset"

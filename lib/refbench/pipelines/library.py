"""The asset library pipelines: declare assets, index the library, search it, recommend from it.

``refbench assets add``, ``refbench index``, ``refbench search`` and ``refbench recommend`` call these, and so do
notebook 05 and the manifest flow. Indexing is its own incremental stage: an asset is embedded, read (OCR) and
hashed once per crop content and model; a re-run does only what is new. A file that cannot be read is
skipped with its reason; the run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from refbench.assets import TagCounter
from refbench.errors import ImageRejected, OptionError
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.ingest import Known, LoadedImage, ingest_file, load_image_rgb
from refbench.library import (
    DECLARED_ID_PREFIX,
    DEFAULT_IMAGE_EMBEDDER,
    DEFAULT_TEXT_EMBEDDER,
    ImageEmbedder,
    TextEmbedder,
    create_image_embedder,
    create_text_embedder,
)
from refbench.library.asset_types import ASSET_TYPES, gather_evidence, guess_type
from refbench.library.colour import colour_names, colour_signature
from refbench.library.documents import IndexRecord, asset_document, text_basis
from refbench.library.hashes import NearDuplicateRule, hash_bits, perceptual_hashes
from refbench.library.images import as_rgb, load_rgba
from refbench.library.index import DEFAULT_CROSSOVER
from refbench.library.ocr import RapidOcrReader, create_ocr_reader
from refbench.library.search import LibraryIndex, LibrarySearcher, SearchHit
from refbench.pipelines.common import face_threshold
from refbench.provision.weights import file_sha256
from refbench.registry import Workspace
from refbench.registry.library import DeclaredAsset
from refbench.settings import Settings
from refbench.types import Asset, Detections, ImageAnalysis, Metric

log = logging.getLogger(__name__)

# Tag prefix of each declared type; detected assets keep theirs (CHAR, PROP, VEH, ANIM, ENV).
DECLARED_PREFIX = {
    "logo": "LOGO",
    "product": "PROD",
    "person": "PERS",
    "prop": "PROP",
    "environment": "ENV",
    "texture": "TEX",
    "style": "STYLE",
}
AUTO_TYPE = "auto"


@dataclass(frozen=True)
class LibraryOptions:
    """Models and rules of the library; ``face_model`` ``None`` means the settings' face model."""

    image_embedder: str = DEFAULT_IMAGE_EMBEDDER
    embedder_model: Path | None = None  # CLIP backends: the ONNX folder or the open_clip checkpoint
    text_embedder: str = DEFAULT_TEXT_EMBEDDER
    ocr: bool = True
    face_model: str | None = None
    duplicates: NearDuplicateRule = NearDuplicateRule()
    crossover: int = DEFAULT_CROSSOVER


@dataclass
class LibraryModels:
    """The library's loaded models (once per process and thread); the face model loads on first use."""

    image: ImageEmbedder
    text: TextEmbedder
    ocr: RapidOcrReader | None
    face_model: str
    model_dir: Path
    providers: list[str] | None = None
    _faces: FaceAnalyzer | None = field(default=None, repr=False)

    @property
    def faces(self) -> FaceAnalyzer:
        """The face model (loaded on first use: only image queries and person typing need it)."""
        if self._faces is None:
            self._faces = create_face_analyzer(self.face_model, model_dir=self.model_dir, providers=self.providers)
        return self._faces

    @property
    def clip_text(self) -> TextEmbedder | None:
        """The image embedder's own text tower, when it has one (CLIP/SigLIP): text→image search."""
        return self.image if hasattr(self.image, "embed_texts") else None  # type: ignore[return-value]


def load_library_models(options: LibraryOptions, settings: Settings) -> LibraryModels:
    """The models ``options`` name, loaded once per process and thread."""
    face_model = options.face_model or settings.face_model
    providers = tuple(settings.providers) if settings.providers else None
    return _cached_models(options, face_model, settings.models, providers, threading.get_ident())


@lru_cache(maxsize=8)
def _cached_models(
    options: LibraryOptions, face_model: str, model_dir: Path, providers: tuple[str, ...] | None, thread: int
) -> LibraryModels:
    listed = list(providers) if providers else None
    return LibraryModels(
        image=create_image_embedder(
            options.image_embedder, model_dir=model_dir, providers=listed, model_path=options.embedder_model
        ),
        text=create_text_embedder(options.text_embedder, model_dir=model_dir, providers=listed),
        ocr=create_ocr_reader() if options.ocr else None,
        face_model=face_model,
        model_dir=model_dir,
        providers=listed,
    )


# --- indexing ------------------------------------------------------------------------------------------------


@dataclass
class IndexSummary:
    """What an index run did."""

    run_id: str
    images_hashed: int = 0
    near_duplicates: int = 0
    assets_indexed: int = 0
    assets_unchanged: int = 0
    texts_refreshed: int = 0  # renamed or newly described: document and text vector remade
    ocr_lines: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # tag or file -> reason
    seconds: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> list[Metric]:
        """Run-level metrics."""
        per_asset = self.seconds.get("assets", 0.0)
        return [
            Metric("images_hashed", self.images_hashed, "images"),
            Metric("near_duplicates", self.near_duplicates, "links"),
            Metric("assets_indexed", self.assets_indexed, "assets"),
            Metric("assets_unchanged", self.assets_unchanged, "assets"),
            Metric("texts_refreshed", self.texts_refreshed, "assets"),
            Metric("ocr_lines", self.ocr_lines, "lines"),
            Metric("skipped", len(self.skipped), "items"),
            Metric("assets_per_second", self.assets_indexed / per_asset if per_asset else None, "assets/s"),
            *[Metric(f"seconds_{k}", v, "s") for k, v in self.seconds.items()],
        ]


def run_index(
    settings: Settings,
    *,
    options: LibraryOptions = LibraryOptions(),  # noqa: B008 - frozen value
    models: LibraryModels | None = None,
    progress: bool = False,
) -> IndexSummary:
    """Index the workspace's library: hash and link near-duplicate images, embed, read and describe every
    active asset whose crop is new or changed. Safe to re-run (only new work is done)."""
    models = models or load_library_models(options, settings)
    with Workspace.open(settings, create=False) as ws:
        parameters = {
            "image_embedder": models.image.name,
            "text_embedder": models.text.name,
            "ocr": models.ocr.name if models.ocr else None,
            "max_phash_bits": options.duplicates.max_phash_bits,
            "min_cosine": options.duplicates.min_cosine,
        }
        with ws.runs.track("index", parameters, execution_provider=models.image.execution_provider) as run:
            summary = IndexSummary(run.run_id)
            index_workspace(ws, models, rule=options.duplicates, summary=summary, settings=settings, progress=progress)
            run.log_many(summary.metrics())
    return summary


def index_workspace(
    ws: Workspace,
    models: LibraryModels,
    *,
    rule: NearDuplicateRule,
    summary: IndexSummary,
    settings: Settings,
    progress: bool = False,
) -> None:
    """Hash new images, link their near-duplicates, index new or changed assets (inside an open run)."""
    start = time.perf_counter()
    hash_images(ws, models.image, rule=rule, summary=summary, settings=settings)
    summary.seconds["images"] = time.perf_counter() - start
    start = time.perf_counter()
    done = ws.library.indexed(visual_model=models.image.name, text_model=models.text.name)
    pending = []
    for asset in ws.assets.list():
        try:
            content = file_sha256(asset.crop_path)
        except OSError as error:
            summary.skipped[asset.tag] = f"crop unreadable: {error.strerror or error}"
            continue
        stored_content, stored_basis = done.get(asset.asset_id, ("", ""))
        if stored_content != content:
            pending.append((asset, content))
        elif stored_basis != text_basis(asset):
            refresh_text(ws, asset, models.text)
            summary.texts_refreshed += 1
        else:
            summary.assets_unchanged += 1
    if progress:
        from tqdm import tqdm

        pending = tqdm(pending, desc="index", unit="asset")
    records = []
    for asset, content in pending:
        record = index_asset(asset, content, models, settings=settings, summary=summary)
        if record is not None:
            records.append(record)
        if len(records) >= 32:
            ws.library.save(records, run_id=summary.run_id)
            records = []
    ws.library.save(records, run_id=summary.run_id)
    summary.seconds["assets"] = time.perf_counter() - start


def index_asset(
    asset: Asset, content: str, models: LibraryModels, *, settings: Settings, summary: IndexSummary
) -> IndexRecord | None:
    """Embed, read and describe one asset's crop; ``None`` (and a skip reason) when the crop cannot be read."""
    try:
        image = load_image_rgb(asset.crop_path, limits=settings.image_limits)
    except ImageRejected as rejected:
        summary.skipped[asset.tag] = f"{rejected.code}: {rejected.reason}"
        return None
    visual, classes = embed_and_classify(models.image, image)
    ocr = models.ocr.read(image) if models.ocr is not None else None
    colours = tuple(colour_names(image))
    ocr_text = " ".join(str(t) for t in ocr.data["text"]) if ocr is not None else ""
    document = asset_document(asset, ocr_text=ocr_text, colours=colours, classes=classes)
    summary.assets_indexed += 1
    summary.ocr_lines += len(ocr) if ocr is not None else 0
    record = IndexRecord(
        asset_id=asset.asset_id,
        content_sha256=content,
        visual_model=models.image.name,
        text_model=models.text.name,
        ocr_engine=models.ocr.name if models.ocr else None,
        visual=visual,
        colour=colour_signature(image),
        text_vector=models.text.embed_texts([document])[0],
        document=document,
        text_basis=text_basis(asset),
        colours=colours,
        classes=classes,
    )
    return record if ocr is None else IndexRecord(**{**record.__dict__, "ocr": ocr})


def refresh_text(ws: Workspace, asset: Asset, text_embedder: TextEmbedder) -> None:
    """Remake an asset's document and text vector from its new facts and its stored OCR, colours and classes."""
    ocr_text, colours, classes = ws.library.text_parts(asset.asset_id)
    document = asset_document(asset, ocr_text=ocr_text, colours=colours, classes=classes)
    vector = text_embedder.embed_texts([document])[0]
    ws.library.update_text(asset.asset_id, document=document, text_vector=vector, text_basis=text_basis(asset))


def embed_and_classify(embedder: ImageEmbedder, image_rgb: np.ndarray) -> tuple[np.ndarray, tuple]:
    """(embedding (D,), ImageNet top-5) — classes only from an embedder that classifies (EfficientNet)."""
    if hasattr(embedder, "run"):
        features, probabilities = embedder.run([image_rgb])
        return features[0], tuple(embedder.top_classes(probabilities[0]))
    return embedder.embed_images([image_rgb])[0], ()


def hash_images(
    ws: Workspace, embedder: ImageEmbedder, *, rule: NearDuplicateRule, summary: IndexSummary, settings: Settings
) -> None:
    """pHash/dHash and a whole-image embedding for every image not hashed yet; link the near-duplicates among them."""
    done = ws.library.hashed_images(visual_model=embedder.name)
    rows = []
    for record in ws.images.list():
        if record.image_id in done:
            continue
        try:
            image = load_image_rgb(record.stored_path, limits=settings.image_limits)
        except ImageRejected as rejected:
            summary.skipped[record.file_name] = f"{rejected.code}: {rejected.reason}"
            continue
        hashes = perceptual_hashes(image)
        visual = embedder.embed_images([image])[0]
        rows.append(
            {
                "image_id": record.image_id,
                "phash": hashes.phash,
                "dhash": hashes.dhash,
                "visual_model": embedder.name,
                "visual": visual,
            }
        )
    ws.library.add_hashes(rows, run_id=summary.run_id)
    summary.images_hashed = len(rows)
    if rows:
        link_near_duplicates(ws, embedder.name, {r["image_id"] for r in rows}, rule=rule, summary=summary)


def link_near_duplicates(
    ws: Workspace, visual_model: str, new_ids: set[str], *, rule: NearDuplicateRule, summary: IndexSummary
) -> None:
    """Link each new image to the earlier image it nearly repeats (pHash or visual cosine)."""
    images = ws.library.image_vectors(visual_model=visual_model)
    new = [i for i, image_id in enumerate(images.image_ids) if image_id in new_ids]
    found = rule.find(hash_bits(images.phashes), images.visual, new=new)
    links = [(images.image_ids[d.index], images.image_ids[d.of], d.distance, d.method) for d in found]
    summary.near_duplicates += ws.library.link_duplicates(links, run_id=summary.run_id)


# --- declared assets -----------------------------------------------------------------------------------------


@dataclass
class AddSummary:
    """What ``assets add`` did: new tags (with type and reason), files already declared, files refused."""

    run_id: str
    added: list[tuple[str, str, str, str]] = field(default_factory=list)  # (tag, type, file, reason)
    already: dict[str, str] = field(default_factory=dict)  # file -> tag
    rejected: dict[str, str] = field(default_factory=dict)  # file -> reason
    index: IndexSummary | None = None


def add_assets(
    paths: Sequence[Path],
    *,
    settings: Settings,
    asset_type: str = AUTO_TYPE,
    name: str | None = None,
    options: LibraryOptions = LibraryOptions(),  # noqa: B008 - frozen value
    models: LibraryModels | None = None,
    index: bool = True,
) -> AddSummary:
    """Register whole images as assets (transparent PNGs keep their alpha), typed as given or by the rules of
    ``refbench.library.asset_types``; then index them and link near-duplicates.

    Args:
        paths: image files or folders (searched for images, not recursively into hidden folders).
        asset_type: one of ``ASSET_TYPES``, or ``auto``.
        name: the assets' name (default: the file name without extension, underscores as spaces).
    """
    if asset_type != AUTO_TYPE and asset_type not in ASSET_TYPES:
        raise OptionError(f"asset type {asset_type!r} is not one of {', '.join((AUTO_TYPE, *ASSET_TYPES))}")
    files = _image_files(paths)
    models = models or load_library_models(options, settings)
    with Workspace.open(settings) as ws:
        parameters = {"paths": [str(p) for p in paths], "asset_type": asset_type, "name": name}
        with ws.runs.track("assets_add", parameters) as run:
            summary = AddSummary(run.run_id)
            declared = declare_files(
                ws, files, asset_type=asset_type, name=name, models=models, summary=summary, settings=settings
            )
            with ws.transaction():
                ws.library.declare(declared)
            if index:
                summary.index = IndexSummary(run.run_id)
                index_workspace(ws, models, rule=options.duplicates, summary=summary.index, settings=settings)
            run.log(
                Metric("assets_added", len(summary.added), "assets"),
                Metric("files_rejected", len(summary.rejected), "files"),
            )
    return summary


def declare_files(
    ws: Workspace,
    files: Iterable[Path],
    *,
    asset_type: str,
    name: str | None,
    models: LibraryModels,
    summary: AddSummary,
    settings: Settings,
) -> list[DeclaredAsset]:
    """Ingest each file (bad ones become rejections) and make a declared asset of each new image."""
    registered = ws.images.sources()
    tags = TagCounter(ws.assets.last_tag_numbers())
    declared: list[DeclaredAsset] = []
    with ws.images.writer(run_id=summary.run_id) as writer:
        for path in files:
            item = ingest_file(
                path, originals_dir=ws.files_dir / "originals", known=registered, limits=settings.image_limits
            )
            if not isinstance(item, (LoadedImage, Known)):
                ws.rejections.add(item, run_id=summary.run_id)
                summary.rejected[str(path)] = f"{item.code}: {item.reason}"
                continue
            record = item.record if isinstance(item, LoadedImage) else ws.images.get(item.image_id)
            if existing := ws.library.declared_for([record.image_id]).get(record.image_id):
                summary.already[str(path)] = existing
                continue
            if isinstance(item, LoadedImage):
                writer.add(ImageAnalysis(record, Detections.empty(), Detections.empty(), ran={}))
                registered[record.image_id] = path
            image = load_rgba(record.stored_path, limits=settings.image_limits)
            kind, reason = infer_type(image, asset_type, models)
            tag = tags.next(DECLARED_PREFIX[kind])
            asset = Asset(
                asset_id=f"{DECLARED_ID_PREFIX}{record.image_id[:40]}",
                tag=tag,
                asset_type=kind,
                name=name or Path(record.file_name).stem.replace("_", " "),
                crop_path=record.stored_path,
                source_image_id=record.image_id,
            )
            declared.append(DeclaredAsset(asset, has_alpha=image.shape[2] == 4, type_reason=reason))
            summary.added.append((tag, kind, str(path), reason))
    return declared


def infer_type(image: np.ndarray, asset_type: str, models: LibraryModels) -> tuple[str, str]:
    """(type, reason): ``asset_type`` as declared, or for ``auto`` what the type rules make of the image."""
    if asset_type != AUTO_TYPE:
        return asset_type, "declared"
    rgb = as_rgb(image)
    _, classes = embed_and_classify(models.image, rgb)
    evidence = gather_evidence(image, embedder=models.image, faces=models.faces, ocr=models.ocr, classes=classes)
    guess = guess_type(evidence)
    return guess.asset_type, f"rule: {guess.reason}"


def _image_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders expanded to their image files (by suffix; the decoder has the last word), sorted."""
    suffixes = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".ppm", ".jp2"}
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and not p.name.startswith("."))
        else:
            files.append(path)
    return files


# --- search and recommendations ----------------------------------------------------------------------------


def load_library_index(ws: Workspace, models: LibraryModels, *, crossover: int = DEFAULT_CROSSOVER) -> LibraryIndex:
    """The workspace's indexed library with identity centroids (CHAR tag → face centroid) and the face threshold."""
    stored = ws.library.vectors(visual_model=models.image.name, text_model=models.text.name)
    tags_by_identity = {a.identity_id: a.tag for a in ws.assets.list() if a.identity_id}
    centroids = {
        tags_by_identity[identity]: vector
        for identity, vector in ws.identities.centroids(models.face_model).items()
        if identity in tags_by_identity
    }
    return LibraryIndex(
        stored.entries,
        stored.visual,
        stored.text,
        stored.colour,
        identities=centroids,
        face_threshold=face_threshold(ws, models.face_model).value,
        crossover=crossover,
    )


def open_searcher(
    settings: Settings,
    *,
    options: LibraryOptions = LibraryOptions(),  # noqa: B008 - frozen value
    models: LibraryModels | None = None,
) -> LibrarySearcher:
    """A searcher over the settings' workspace, read once (read-only) and held in memory."""
    models = models or load_library_models(options, settings)
    with Workspace.open(settings, read_only=True) as ws:
        index = load_library_index(ws, models, crossover=options.crossover)
    return LibrarySearcher(
        index,
        text_embedder=models.text,
        image_embedder=models.image,
        face_analyzer=_LazyFaces(models),
        clip_text=models.clip_text,
    )


class _LazyFaces:
    """The face model, loaded only when an image query needs it."""

    def __init__(self, models: LibraryModels) -> None:
        self.models = models

    def analyze(self, image_rgb: np.ndarray):  # noqa: ANN201 - Detections
        return self.models.faces.analyze(image_rgb)


def search(
    text: str = "",
    *,
    image: Path | None = None,
    like: str = "",
    k: int = 10,
    types: Sequence[str] = (),
    settings: Settings | None = None,
    options: LibraryOptions = LibraryOptions(),  # noqa: B008 - frozen value
) -> list[SearchHit]:
    """Search the library (``refbench.search``): a text, an image file, and/or a tag ("more like this").

    Raises:
        OptionError: nothing to search for. InputError-like ``ImageRejected``: the query image is unusable.
        UnknownTagError: ``like`` is not an indexed tag.
    """
    settings = settings or Settings()
    image_rgb = load_image_rgb(image, limits=settings.image_limits) if image is not None else None
    searcher = open_searcher(settings, options=options)
    return searcher.search(text=text, image_rgb=image_rgb, like=like, k=k, types=types)


def recommend(
    tags: Sequence[str],
    *,
    k: int = 10,
    types: Sequence[str] = (),
    settings: Settings | None = None,
    options: LibraryOptions = LibraryOptions(),  # noqa: B008 - frozen value
) -> list[SearchHit]:
    """Style-consistent assets for a selection of tags (visual + colour centroid)."""
    searcher = open_searcher(settings or Settings(), options=options)
    return searcher.recommend(list(tags), k=k, types=types)


def near_duplicate_pairs(settings: Settings) -> list:
    """Every near-duplicate link of the workspace (read-only)."""
    with Workspace.open(settings, read_only=True) as ws:
        return ws.library.near_duplicates()

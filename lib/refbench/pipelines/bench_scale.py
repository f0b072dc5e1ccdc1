"""``make bench``, the rows of scale: a one-photo re-run against registries of growing size, clustering and search
over many synthetic faces, and end to end against the plain loop of the original system, side by side.

Every row runs in a fresh interpreter (``python -m refbench.pipelines.bench_scale ROW ARGS``), so its peak RSS
(``ru_maxrss``) is its own, and prints one JSON line. Every figure is a ratio against a baseline measured in the
same run: the 20-photo registry, scikit-learn's dense clustering, numpy's brute-force search, the plain loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from refbench.ingest import file_stat, ingest_file
from refbench.pipelines.analyze import STAGES, ImageAnalyzer, ImageWork, shared_backends, thumbnail_path
from refbench.pipelines.manifest import ManifestOptions, run_manifest
from refbench.pipelines.pool import ProcessMap
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import ImageAnalysis, Metric

ROW_TIMEOUT_S = 3600
SEARCH_METHODS = ("numpy", "flat", "duckdb-text", "duckdb-list", "hnsw")


@dataclass(frozen=True)
class ScaleRow:
    """One measured row: what, how big, seconds, peak RSS and the row's own figures."""

    section: str  # rerun | cluster | search | end_to_end
    label: str
    size: int
    seconds: float
    peak_rss_mb: float
    figures: dict[str, float] = field(default_factory=dict)


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest child process), MB.

    Linux keeps ``ru_maxrss`` across ``exec``: a row started by a 3 GB test process would report 3 GB. Its own
    high-water mark (``VmHWM``, one per address space) starts afresh at ``exec``, so it is read where it exists.
    """
    if not children:
        status = Path("/proc/self/status")
        for line in status.read_text().splitlines() if status.is_file() else []:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def run_row(row: str, *args: str) -> ScaleRow:
    """One row in a fresh interpreter; its last output line is the row as JSON."""
    command = [sys.executable, "-m", "refbench.pipelines.bench_scale", row, *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=ROW_TIMEOUT_S).stdout
    return ScaleRow(**json.loads(output.strip().splitlines()[-1]))


# --- synthetic faces with identity structure ----------------------------------------------------------------


def identity_faces(n: int, *, dim: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors of people with Zipf-distributed photo counts (1 to 1000), as ArcFace's look: same-person
    cosines 0.2-0.8 (mean ~0.5), different people 0.02 ± 0.06 (shared pose/light directions widen it), a few
    impostor pairs above 0.3. Returns (vectors (n, dim) float32, person (n,) int)."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(2.0, n), 1000)
    sizes = sizes[np.cumsum(sizes) <= n]
    sizes = np.append(sizes, np.ones(n - sizes.sum(), dtype=int))
    person = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(person)
    centres = _unit(rng.standard_normal((len(sizes), dim), dtype=np.float32))
    nuisance = _unit(rng.standard_normal((8, dim), dtype=np.float32))
    vectors = np.empty((n, dim), np.float32)
    for start in range(0, n, 20_000):  # in chunks: 1M × 512 floats are 2 GB already
        rows = slice(start, min(start + 20_000, n))
        m = rows.stop - rows.start
        weight = rng.uniform(0.35, 0.8, (m, 1)).astype(np.float32)
        noise = _unit(rng.standard_normal((m, dim), dtype=np.float32))
        shared = 0.4 * nuisance[rng.integers(0, 8, m)]
        vectors[rows] = _unit(np.sqrt(weight) * centres[person[rows]] + np.sqrt(1 - weight) * noise + shared)
    return vectors, person


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bcubed_f1(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """BCubed F1 with a sparse contingency table (a dense one of 20k × 20k clusters would not fit)."""
    from sklearn.metrics.cluster import contingency_matrix

    n = contingency_matrix(labels_true, labels_pred, sparse=True).astype(np.float64)
    squared = n.multiply(n)
    precision = squared.multiply(1 / np.asarray(n.sum(axis=0))).sum() / n.sum()
    recall = squared.multiply(1 / np.asarray(n.sum(axis=1))).sum() / n.sum()
    return float(2 * precision * recall / (precision + recall))


# --- rows: clustering ---------------------------------------------------------------------------------------


def cluster_row(n: int, *, method: str, threshold: float = 0.3) -> ScaleRow:
    """Cluster ``n`` synthetic faces with ``cluster_faces`` (``graph``) or scikit-learn's dense average linkage."""
    from refbench.identity import cluster_faces, cluster_faces_dense

    vectors, person = identity_faces(n)
    cluster = cluster_faces if method == "graph" else cluster_faces_dense
    cpu, start = time.process_time(), time.perf_counter()
    labels = cluster(vectors, threshold=threshold)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    figures = {"cpu_seconds": cpu, "clusters": len(set(labels.tolist())), "people": len(set(person.tolist()))}
    figures["bcubed_f1_truth"] = bcubed_f1(person, labels)
    np.save(Path(tempfile.gettempdir()) / f"refbench-bench-labels-{method}-{n}.npy", labels)
    return ScaleRow("cluster", method, n, seconds, peak_rss_mb(), figures)


# --- rows: search -------------------------------------------------------------------------------------------


def search_row(n: int, *, method: str, queries: int = 200, k: int = 10) -> ScaleRow:
    """Top-``k`` latency over ``n`` synthetic faces, one query at a time (p50 / p95 ms), with build time and, for an
    approximate index, recall@k against exact search."""
    vectors, _ = identity_faces(n)
    asked = vectors[np.random.default_rng(1).choice(n, queries, replace=False)] + 0.0
    build_start = time.perf_counter()
    search = _searcher(method, vectors)
    build = time.perf_counter() - build_start
    found, times = [], []
    for query in asked:
        start = time.perf_counter()
        found.append(search(query, k))
        times.append(1000 * (time.perf_counter() - start))
    figures = {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "build_s": build}
    if method == "hnsw":
        exact = np.argsort(-(asked @ vectors.T), axis=1)[:, :k]
        figures["recall_at_k"] = float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found, exact, strict=True)]))
    return ScaleRow("search", method, n, float(np.sum(times)) / 1000, peak_rss_mb(), figures)


def _searcher(method: str, vectors: np.ndarray) -> Callable[[np.ndarray, int], list[int]]:
    if method == "numpy":
        return lambda q, k: np.argpartition(-(vectors @ q), k)[:k].tolist()
    if method in ("flat", "hnsw"):
        from refbench.vectors import FlatIndex, HnswIndex

        index = FlatIndex(vectors.shape[1]) if method == "flat" else HnswIndex(vectors.shape[1])
        index.add(vectors)
        return lambda q, k: index.search(q[None, :], k=k).rows.ravel().tolist()  # one query
    from refbench.registry.vectors import DuckVectors

    table = DuckVectors(vectors)
    return lambda q, k: table.search(q, k=k, bind=method.removeprefix("duckdb-"))


# --- rows: one photo added to a registry of N photos --------------------------------------------------------


def grow_registry(settings: Settings, folder: Path, *, n_photos: int, templates: Sequence[Path], seed: int = 0) -> int:
    """A registry of ``n_photos`` photos in ``folder``: the templates analyzed for real, then clones of their analyses
    (new content ids, identity-structured face embeddings, hard links as files) written through the registry's own
    writer, and one manifest run that clusters, registers assets and draws the contact sheet. Returns the faces."""
    options = ManifestOptions().resolved(settings)
    backends = shared_backends(options, model_dir=settings.models)
    folder.mkdir(parents=True, exist_ok=True)
    with Workspace.open(settings) as ws, ws.runs.track("bench_setup", {"photos": n_photos}) as run:
        analyzer = ImageAnalyzer(options, settings.models, ws.files_dir, settings.image_limits, backends=backends)
        originals = ws.files_dir / "originals"
        analyses = []
        for path in templates:
            item = ingest_file(path, originals_dir=originals, known=set(), limits=settings.image_limits)
            analyses.append(analyzer(ImageWork(item.record, STAGES, item.image_rgb)))
        per_photo = [len(a.faces) for a in analyses]
        vectors, _ = identity_faces(sum(per_photo[i % len(analyses)] for i in range(n_photos)), seed=seed)
        used = 0
        with ws.images.writer(run_id=run.run_id, size=512) as writer:
            for i in range(n_photos):
                template = analyses[i % len(analyses)]
                path = folder / f"{i:05d}_{template.record.file_name}"
                os.link(template.record.stored_path, path)
                clone = _clone(template, path, index=i, embeddings=vectors[used : used + len(template.faces)])
                used += len(template.faces)
                _link_thumbnail(ws.files_dir, template.record.image_id, clone.record.image_id)
                writer.add(clone, source=file_stat(path))
    run_manifest(folder, settings=settings, options=options, backends=backends)
    return used


def _clone(template: ImageAnalysis, path: Path, *, index: int, embeddings: np.ndarray) -> ImageAnalysis:
    """The template's analysis as another photo: its own content id and file, new face embeddings."""
    image_id = hashlib.sha256(f"bench-clone-{index}".encode()).hexdigest()
    record = replace(template.record, image_id=image_id, file_name=path.name, source_path=path)
    faces = template.faces.with_data(embedding=embeddings) if len(template.faces) else template.faces
    return replace(template, record=record, faces=faces)


def _link_thumbnail(files_dir: Path, template_id: str, image_id: str) -> None:
    source, target = thumbnail_path(files_dir, template_id), thumbnail_path(files_dir, image_id)
    if source.is_file() and not target.exists():
        os.link(source, target)


def rerun_row(settings: Settings, folder: Path, new_photo: Path, *, label: str) -> ScaleRow:
    """Add one photo to ``folder`` and time the manifest run that takes it in (model loading included)."""
    os.link(new_photo, folder / f"new_{new_photo.name}")
    start = time.perf_counter()
    summary = run_manifest(folder, settings=settings, options=ManifestOptions())
    seconds = time.perf_counter() - start
    figures = {f"seconds_{k}": float(v) for k, v in summary.seconds.items()}
    figures |= {
        "images_new": summary.images_new,
        "faces": summary.faces,
        "incremental": summary.cluster_method == "incremental",
    }
    figures["seconds_without_model_loading"] = seconds - summary.seconds.get("load_models", 0.0)
    return ScaleRow("rerun", label, summary.images_total - 1, seconds, peak_rss_mb(), figures)


# --- rows: end to end against the plain loop ------------------------------------------------------------------


def plain_loop(photos: Sequence[Path], *, model_dir: Path) -> int:
    """What the original system ran per photo: OpenCV's YOLOv3-tiny, ``FaceAnalysis.get()``, and greedy grouping
    against each group's first face at 0.6. Returns the number of groups."""
    import cv2
    from insightface.app import FaceAnalysis
    from refbench.detect.darknet import DarknetDetector

    detector = DarknetDetector(model_dir=model_dir)
    app = FaceAnalysis(
        name="buffalo_s",
        root=str(model_dir / "insightface"),
        allowed_modules=["detection", "recognition"],
        providers=["CPUExecutionProvider"],
    )
    app.prepare(ctx_id=-1, det_size=(640, 640))
    firsts: list[np.ndarray] = []
    for path in photos:
        image_bgr = cv2.imread(str(path))
        detector.detect(image_bgr[:, :, ::-1])
        for face in app.get(image_bgr):
            if not any(float(first @ face.normed_embedding) > 0.6 for first in firsts):
                firsts.append(face.normed_embedding)
    return len(firsts)


def end_to_end_row(photos: Path, *, mode: str, model_dir: Path, workdir: Path) -> ScaleRow:
    """Images per second on fresh photos: ``plain`` (the loop above), ``refbench`` (one process) or
    ``refbench-2`` (two worker processes); model loading included for every mode."""
    files = sorted(photos.iterdir())
    cpu, start = _cpu_seconds(), time.perf_counter()
    with TreeMemory() as memory:
        if mode == "plain":
            plain_loop(files, model_dir=model_dir)
        else:
            settings = Settings(data_dir=workdir, model_dir=model_dir)
            workers = int(mode.partition("-")[2] or 1)
            run_manifest(
                photos,
                settings=settings,
                options=ManifestOptions(),
                map_images=ProcessMap(workers=workers) if workers > 1 else map,
            )
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    rss = max(memory.peak_mb, peak_rss_mb())
    figures = {"images_per_second": len(files) / seconds, "cpu_ms_per_image": 1000 * cpu / len(files)}
    return ScaleRow("end_to_end", mode, len(files), seconds, rss, figures)


class TreeMemory:
    """Peak of the summed resident memory of this process and its worker processes, sampled every ``interval_s``.

    What the machine must hold at once; ``ru_maxrss`` of the workers cannot say it (each is a peak at its own
    moment, and on Linux it also counts the parent's pages at the time of the fork).
    """

    def __init__(self, *, interval_s: float = 0.1) -> None:
        self.interval_s, self.peak_mb = interval_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while True:
            total = 0
            for process in (me, *me.children(recursive=True)):
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # a worker that just ended
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)
            if self._stop.wait(self.interval_s):
                return


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (worker processes)."""
    mine, theirs = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime


# --- the whole section ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSizes:
    """What ``make bench`` measures (``BENCH_QUICK=1``: the smaller sizes, ~5 min instead of ~30)."""

    registries: tuple[int, ...] = (20, 1_000, 10_000)
    cluster_faces: tuple[int, ...] = (10_000, 100_000)
    dense_faces: int = 10_000
    search_faces: tuple[int, ...] = (100_000, 1_000_000)
    end_to_end_photos: int = 300
    rounds: int = 3

    @classmethod
    def quick(cls) -> ScaleSizes:
        return cls((20, 1_000), (10_000, 30_000), 10_000, (100_000,), 100, 1)


def run_scale_benchmark(*, model_dir: Path, samples: Sequence[Path], sizes: ScaleSizes) -> list[ScaleRow]:
    """Every scale row, each in its own interpreter; end-to-end modes alternate so that a busy minute hits all."""
    from refbench.pipelines.bench import make_variants

    rows: list[ScaleRow] = []
    models = str(model_dir)
    with tempfile.TemporaryDirectory(prefix="refbench-scale-") as tmp:
        work = Path(tmp)
        make_variants(samples, work / "templates", count=20, seed=11)
        (new_photo,) = make_variants(samples[3:4], work / "new", count=1, seed=12)
        for n in sizes.registries:
            data = work / f"registry-{n}"
            run_row("grow", str(data), models, str(data / "photos"), str(n), str(work / "templates"))
            rows.append(run_row("rerun", str(data), models, str(data / "photos"), str(new_photo), f"{n} photos"))
        for n in sizes.cluster_faces:
            rows.append(run_row("cluster", str(n), "graph"))
        rows.append(run_row("cluster", str(sizes.dense_faces), "dense"))
        for n in sizes.search_faces:
            methods = (
                ("numpy", "flat", "hnsw") if n >= 1_000_000 else ("numpy", "flat", "duckdb-text", "duckdb-list", "hnsw")
            )
            rows += [run_row("search", str(n), method) for method in methods]
        photos = work / "photos"
        make_variants(samples, photos, count=sizes.end_to_end_photos, seed=13)
        for round_ in range(sizes.rounds):
            for mode in ("plain", "refbench", "refbench-2"):
                rows.append(run_row("e2e", str(photos), mode, models, str(work / f"e2e-{mode}-{round_}")))
    return rows


def scale_metrics(rows: Sequence[ScaleRow]) -> list[Metric]:
    """The rows as metrics of a ``bench`` run: ``<section>_seconds``, ``_peak_rss`` and each figure."""
    metrics = []
    for r in rows:
        metrics += [
            Metric(f"{r.section}_seconds", r.seconds, "s", r.size, r.label),
            Metric(f"{r.section}_peak_rss", r.peak_rss_mb, "MB", r.size, r.label),
        ]
        metrics += [Metric(f"{r.section}_{k}", float(v), None, r.size, r.label) for k, v in r.figures.items()]
    return metrics


def scale_report(rows: Sequence[ScaleRow]) -> list[str]:
    """Markdown tables of the rows, each with its ratio to the baseline measured in the same run."""
    by_section = {name: [r for r in rows if r.section == name] for name in ("rerun", "cluster", "search", "end_to_end")}
    sections = (_rerun_table, _cluster_table, _search_table, _end_to_end_table)
    return [
        line for section, write in zip(by_section.values(), sections, strict=True) if section for line in write(section)
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _rerun_table(rows: Sequence[ScaleRow]) -> list[str]:
    base, bare = min(rows, key=lambda r: r.size), "seconds_without_model_loading"
    header = ["registry", "seconds", "vs 20", "without model loading", "vs 20", "cluster s", "assets+sheet s"]
    cells = [
        [
            r.label,
            f"{r.seconds:.2f}",
            f"{r.seconds / base.seconds:.2f}×",
            f"{r.figures[bare]:.2f}",
            f"{r.figures[bare] / base.figures[bare]:.2f}×",
            f"{r.figures.get('seconds_cluster', 0):.2f}",
            f"{r.figures.get('seconds_assets', 0):.2f}",
            "re-linked" if r.figures["incremental"] else "full",
            f"{r.peak_rss_mb:.0f}",
        ]
        for r in rows
    ]
    intro = (
        "Registries grown from 20 analyzed photos by cloning their analyses (new content ids, identity-structured"
        " face embeddings, hard-linked files), clustered once; then one new photo is added and timed."
    )
    return ["## Adding one photo to a registry", "", intro, "", *_table([*header, "identities", "peak RSS MB"], cells)]


def _cluster_table(rows: Sequence[ScaleRow]) -> list[str]:
    dense = {r.size: r.seconds for r in rows if r.label == "dense"}
    cells = [
        [
            r.size,
            r.label,
            f"{r.seconds:.1f}",
            f"{r.figures['cpu_seconds']:.1f}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.figures['clusters']:.0f} ({r.figures['people']:.0f})",
            f"{r.figures['bcubed_f1_truth']:.4f}",
            f"{dense[r.size] / r.seconds:.1f}×" if r.label == "graph" and r.size in dense else "",
        ]
        for r in rows
    ]
    header = ["faces", "method", "seconds", "CPU s", "peak RSS MB", "clusters (people)", "BCubed F1 vs truth"]
    return [
        "",
        "## Clustering synthetic faces (Zipf photo counts, ArcFace-like cosines) at 0.3",
        "",
        *_table([*header, "speed-up vs dense"], cells),
        "",
        "Dense average linkage needs ~22 bytes × F²: ~2.2 GB at 10k faces, ~220 GB at 100k (not run).",
    ]


def _search_table(rows: Sequence[ScaleRow]) -> list[str]:
    numpy_p50 = {r.size: r.figures["p50_ms"] for r in rows if r.label == "numpy"}
    cells = [
        [
            r.size,
            r.label,
            f"{r.figures['p50_ms']:.2f}",
            f"{r.figures['p95_ms']:.2f}",
            f"{numpy_p50[r.size] / r.figures['p50_ms']:.1f}×",
            f"{r.figures['build_s']:.1f}",
            f"{r.figures['recall_at_k']:.3f}" if "recall_at_k" in r.figures else "exact",
            f"{r.peak_rss_mb:.0f}",
        ]
        for r in rows
    ]
    header = ["vectors", "method", "p50 ms", "p95 ms", "vs numpy (p50)", "build s", "recall@10", "peak RSS MB"]
    return ["", "## Top-10 search, one query at a time", "", *_table(header, cells)]


def _end_to_end_table(rows: Sequence[ScaleRow]) -> list[str]:
    modes = ("plain", "refbench", "refbench-2")
    median = {m: statistics.median(r.figures["images_per_second"] for r in rows if r.label == m) for m in modes}
    cells = []
    for mode in modes:
        these = [r for r in rows if r.label == mode]
        cells.append(
            [
                mode,
                ", ".join(f"{r.figures['images_per_second']:.2f}" for r in these),
                f"{median[mode]:.2f}",
                f"{median[mode] / median['plain']:.2f}×",
                f"{statistics.median(r.figures['cpu_ms_per_image'] for r in these):.0f}",
                f"{max(r.peak_rss_mb for r in these):.0f}",
            ]
        )
    header = ["mode", "img/s (each round)", "median img/s", "vs plain loop", "CPU ms/img", "peak RSS MB"]
    title = f"## End to end on {max(r.size for r in rows)} fresh photos, modes alternating ({len(rows) // 3} rounds)"
    return [
        "",
        title,
        "",
        "Model loading included in every mode; peak RSS is the sum over the process and its workers, sampled every"
        " 100 ms.",
        "",
        *_table(header, cells),
    ]


def main(argv: list[str]) -> None:
    """One row in this interpreter; prints it as one JSON line (see ``run_row``)."""
    row, *args = argv
    if row == "grow":
        data, models, folder, n, templates = args
        settings = Settings(data_dir=Path(data), model_dir=Path(models))
        faces = grow_registry(settings, Path(folder), n_photos=int(n), templates=sorted(Path(templates).iterdir()))
        result = ScaleRow("setup", "grow", int(n), 0.0, peak_rss_mb(), {"faces": faces})
    elif row == "rerun":
        data, models, folder, new_photo, label = args
        settings = Settings(data_dir=Path(data), model_dir=Path(models))
        result = rerun_row(settings, Path(folder), Path(new_photo), label=label)
    elif row == "cluster":
        result = cluster_row(int(args[0]), method=args[1])
    elif row == "search":
        result = search_row(int(args[0]), method=args[1])
    elif row == "e2e":
        photos, mode, models, workdir = args
        result = end_to_end_row(Path(photos), mode=mode, model_dir=Path(models), workdir=Path(workdir))
    else:
        raise SystemExit(f"unknown row {row!r}: grow | rerun | cluster | search | e2e")
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""``make bench``, asset library part: query latency against numpy brute force, HNSW build time and recall,
end-to-end text-query latency, and indexing throughput.

Vectors are real EfficientNet-Lite0 embeddings of the sample images, repeated with Gaussian noise (then
re-normalised) up to 100k rows, so neighbourhoods look like a real library's rather than random points.
Timings are per query, p50 and p95 over ``queries`` queries, in one process, side by side.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from refbench.faces import l2_normalize
from refbench.ingest import load_image_rgb
from refbench.library.index import ExactIndex, HnswIndex, top_k
from refbench.library.search import LibraryEntry, LibraryIndex, LibrarySearcher
from refbench.pipelines.library import LibraryModels, LibraryOptions, load_library_models, run_index
from refbench.pipelines.manifest import ManifestOptions, run_manifest
from refbench.settings import Settings
from refbench.types import Metric


@dataclass(frozen=True)
class LatencyRow:
    """Per-query milliseconds at one library size."""

    n: int
    numpy_p50: float
    numpy_p95: float
    exact_p50: float
    exact_p95: float
    hnsw_build_s: float | None
    hnsw_p50: float | None
    hnsw_p95: float | None
    hnsw_recall_at_10: float | None
    text_p50: float  # a whole text query: MiniLM + dense (exact) + BM25 + fusion
    text_p95: float

    @property
    def exact_vs_numpy(self) -> float:
        """p95 of our exact search / p95 of plain numpy (target ≤ 1.2)."""
        return self.exact_p95 / self.numpy_p95


def synthetic_library(base: np.ndarray, n: int, *, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """(n, D) unit vectors: rows of ``base`` repeated with Gaussian noise of ``noise`` per dimension."""
    rng = np.random.default_rng(seed)
    rows = base[rng.integers(0, len(base), n)]
    return l2_normalize(rows + rng.normal(0.0, noise, rows.shape).astype(np.float32))


def _ms(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50) * 1000), float(np.percentile(samples, 95) * 1000)


def _time(call, queries: np.ndarray) -> list[float]:  # noqa: ANN001 - a search callable
    times = []
    for q in queries:
        start = time.perf_counter()
        call(q)
        times.append(time.perf_counter() - start)
    return times


def numpy_brute_force(vectors: np.ndarray, query: np.ndarray, k: int = 10) -> np.ndarray:
    """The reference: one matrix-vector product and an argpartition."""
    scores = vectors @ query
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part])]


def measure_latency(
    base: np.ndarray,
    documents: list[str],
    models: LibraryModels,
    *,
    n: int,
    queries: int = 200,
    hnsw: bool = True,
    k: int = 10,
) -> LatencyRow:
    """One row of the latency table at ``n`` assets."""
    vectors = synthetic_library(base, n)
    probe = synthetic_library(base, queries, seed=1)
    numpy_ms = _ms(_time(lambda q: numpy_brute_force(vectors, q, k), probe))
    exact = ExactIndex(vectors)
    exact_ms = _ms(_time(lambda q: exact.search(q, k=k), probe))
    build = hnsw_ms = recall = None
    if hnsw:
        start = time.perf_counter()
        index = HnswIndex(vectors)
        build = time.perf_counter() - start
        hnsw_ms = _ms(_time(lambda q: index.search(q, k=k), probe))
        truth = [set(top_k(vectors @ q, k).tolist()) for q in probe[:50]]
        recall = float(
            np.mean(
                [len(set(index.search(q, k=k)[1].tolist()) & t) / k for q, t in zip(probe[:50], truth, strict=True)]
            )
        )
    text_ms = _text_latency(vectors, documents, models, n=n)
    return LatencyRow(n, *numpy_ms, *exact_ms, build, *(hnsw_ms or (None, None)), recall, *text_ms)


def _text_latency(visual: np.ndarray, documents: list[str], models: LibraryModels, *, n: int) -> tuple[float, float]:
    rng = np.random.default_rng(2)
    docs = [documents[i] for i in rng.integers(0, len(documents), n)]
    text = synthetic_library(models.text.embed_texts(documents), n, noise=0.01, seed=3)
    entries = [LibraryEntry(f"A_{i:06d}", "prop", "x", "", "", d) for i, d in enumerate(docs)]
    index = LibraryIndex(entries, visual, text, np.zeros((n, 1), np.float32))
    searcher = LibrarySearcher(index, text_embedder=models.text, image_embedder=models.image)
    words = ["red bus", "python logo", "a dog on the beach", "brick wall texture", "coffee cup", "old coins"]
    times = []
    for i in range(60):
        start = time.perf_counter()
        searcher.search(text=words[i % len(words)], k=10)
        times.append(time.perf_counter() - start)
    return _ms(times[5:])


@dataclass(frozen=True)
class IndexingRow:
    """Throughput of ``refbench index`` on the sample photos' workspace."""

    label: str
    assets: int
    images: int
    seconds: float
    assets_per_second: float


def measure_indexing(settings: Settings, *, samples: Path) -> tuple[list[IndexingRow], np.ndarray, list[str]]:
    """Index a fresh sample workspace with and without OCR; also return its visual vectors and documents."""
    rows, base, documents = [], np.zeros((0, 1280), np.float32), []
    for ocr in (True, False):
        with tempfile.TemporaryDirectory(prefix="refbench-bench-index-") as tmp:
            ws = Settings(data_dir=Path(tmp), model_dir=settings.models)
            run_manifest(samples / "photos", settings=ws, options=ManifestOptions())
            models = load_library_models(LibraryOptions(ocr=ocr), ws)
            start = time.perf_counter()
            summary = run_index(ws, models=models)
            seconds = time.perf_counter() - start
            label = "with OCR" if ocr else "without OCR"
            rows.append(
                IndexingRow(
                    label, summary.assets_indexed, summary.images_hashed, seconds, summary.assets_indexed / seconds
                )
            )
            if ocr:
                from refbench.pipelines.library import open_searcher

                index = open_searcher(ws, models=models).index
                base, documents = index.visual, [e.document for e in index.entries]
    return rows, base, documents


def library_images(samples: Path) -> np.ndarray:
    """Embeddings of every sample photo and library image (the base of the synthetic libraries)."""
    models = load_library_models(LibraryOptions(ocr=False), Settings())
    paths = sorted((samples / "photos").iterdir()) + sorted((samples / "library").iterdir())
    return models.image.embed_images([load_image_rgb(p) for p in paths])


def run_library_benchmark(
    *, settings: Settings, sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
) -> tuple[list[LatencyRow], list[IndexingRow]]:
    """Indexing throughput, then the latency table (HNSW measured at every size)."""
    samples = settings.data_dir / "samples"
    indexing, base, documents = measure_indexing(settings, samples=samples)
    base = np.concatenate([base, library_images(samples)]) if (samples / "library").is_dir() else base
    models = load_library_models(LibraryOptions(ocr=False), settings)
    latency = [measure_latency(base, documents, models, n=n) for n in sizes]
    return latency, indexing


def library_metrics(latency: list[LatencyRow], indexing: list[IndexingRow]) -> list[Metric]:
    """Bench metrics, one series per figure with the library size as step."""
    metrics = [Metric("index_assets_per_second", r.assets_per_second, "assets/s", r.assets, r.label) for r in indexing]
    for r in latency:
        for name, value, unit in (
            ("query_numpy_p95", r.numpy_p95, "ms"),
            ("query_exact_p95", r.exact_p95, "ms"),
            ("query_exact_vs_numpy", r.exact_vs_numpy, "ratio"),
            ("query_hnsw_p95", r.hnsw_p95, "ms"),
            ("hnsw_build", r.hnsw_build_s, "s"),
            ("hnsw_recall_at_10", r.hnsw_recall_at_10, "fraction"),
            ("query_text_p95", r.text_p95, "ms"),
        ):
            metrics.append(Metric(name, value, unit, r.n, "library"))
    return metrics


def library_report(latency: list[LatencyRow], indexing: list[IndexingRow]) -> str:
    """Markdown section of bench.md."""
    lines = [
        "## Asset library",
        "",
        "Per-query ms (p50 / p95 over 200 queries, k = 10) on EfficientNet-Lite0 vectors (1280-d) of the sample"
        " images repeated with noise; numpy brute force is the reference, measured side by side in one process."
        " Text: a whole `refbench.search` text query (MiniLM + exact dense + BM25 + fusion).",
        "",
        "| assets | numpy p50/p95 | exact p50/p95 | exact/numpy (p95) | HNSW build s | HNSW p50/p95 | HNSW recall@10"
        " | text query p50/p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in latency:
        hnsw = f"{r.hnsw_p50:.2f} / {r.hnsw_p95:.2f}" if r.hnsw_p50 is not None else "—"
        lines.append(
            f"| {r.n:,} | {r.numpy_p50:.2f} / {r.numpy_p95:.2f} | {r.exact_p50:.2f} / {r.exact_p95:.2f} |"
            f" {r.exact_vs_numpy:.2f} | {r.hnsw_build_s or 0:.1f} | {hnsw} | {r.hnsw_recall_at_10 or 0:.3f} |"
            f" {r.text_p50:.1f} / {r.text_p95:.1f} |"
        )
    lines += ["", "| `refbench index` | assets | images | seconds | assets/s |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.label} | {r.assets} | {r.images} | {r.seconds:.1f} | {r.assets_per_second:.2f} |" for r in indexing
    ]
    return "\n".join(lines) + "\n"

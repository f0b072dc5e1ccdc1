"""``make bench``: throughput per stage and peak memory of the default pipeline, then the rows of scale
(``refbench.pipelines.bench_scale``). ``BENCH_QUICK=1 make bench`` runs smaller sizes (~5 min instead of ~30).

Each measured run is a fresh subprocess on a fresh workspace, so its peak RSS
(``ru_maxrss``) belongs to that run alone; running sizes 50…N side by side shows
whether memory stays flat as the number of images grows.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from refbench.detect.darknet import DarknetDetector
from refbench.pipelines.bench_scale import (
    ScaleRow,
    ScaleSizes,
    peak_rss_mb,
    run_scale_benchmark,
    scale_metrics,
    scale_report,
)
from refbench.pipelines.manifest import ManifestOptions, run_manifest
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Metric

PER_IMAGE_STAGES = ("ingest", "detect", "faces", "crops", "register")


@dataclass(frozen=True)
class BenchResult:
    """One measured manifest run."""

    label: str
    n_images: int
    wall_seconds: float
    images_per_second: float
    peak_rss_mb: float
    cpu_ms_per_image: float
    probe_ms: float
    stage_images_per_second: dict[str, float]
    faces: int
    identities: int


def make_variants(samples: list[Path], folder: Path, *, count: int, seed: int = 0) -> list[Path]:
    """Write ``count`` distinct images derived from the samples: flips, crops, scales, tones, re-encodes.

    Every variant has its own content hash (the manifest would skip duplicates).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        source = samples[index % len(samples)]
        with Image.open(source) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        width, height = image.size
        keep = rng.uniform(0.8, 1.0)
        left, top = int(rng.uniform(0, 1 - keep) * width), int(rng.uniform(0, 1 - keep) * height)
        image = image.crop((left, top, left + int(keep * width), top + int(keep * height)))
        image = image.resize(
            (max(64, int(image.width * rng.uniform(0.7, 1.1))), max(64, int(image.height * rng.uniform(0.7, 1.1))))
        )
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
        path = folder / f"{index:04d}_{source.stem}.jpg"
        image.save(path, format="JPEG", quality=int(rng.integers(80, 96)))
        paths.append(path)
    return paths


def measure(photos: Path, *, label: str, settings: Settings) -> BenchResult:
    """Run the default manifest on ``photos`` in this process and measure it (call in a fresh process)."""
    probe = machine_probe_ms(settings)
    cpu_start, start = process_cpu_seconds(), time.perf_counter()
    summary = run_manifest(photos, settings=settings, options=ManifestOptions())
    wall, cpu = time.perf_counter() - start, process_cpu_seconds() - cpu_start
    n = max(summary.images_new, 1)
    stages = {s: n / summary.seconds[s] for s in PER_IMAGE_STAGES if summary.seconds.get(s)}
    peak_mb = peak_rss_mb()
    return BenchResult(
        label,
        summary.images_new,
        wall,
        summary.images_new / wall,
        peak_mb,
        1000 * cpu / n,
        probe,
        stages,
        summary.faces,
        summary.identities,
    )


def process_cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_probe_ms(settings: Settings, *, repeats: int = 7) -> float:
    """Median milliseconds of one YOLOv3-tiny forward pass on a fixed 416×416 blob.

    The same work every time: when a row is slow and its probe is slow too, the machine was busy
    (shared cores), not the code.
    """
    detector = DarknetDetector(model_dir=settings.models)
    blob = np.full((1, 3, 416, 416), 0.5, dtype=np.float32)
    times = []
    for _ in range(repeats + 1):
        detector.net.setInput(blob)
        start = time.perf_counter()
        detector.net.forward(detector.output_layers)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[1:]))  # the first pass allocates


def measure_in_subprocess(photos: Path, *, label: str, model_dir: Path, workdir: Path) -> BenchResult:
    """``measure`` in a fresh interpreter with a fresh workspace."""
    settings_dir = workdir / f"ws-{label}"
    cmd = [
        sys.executable,
        "-m",
        "refbench.pipelines.bench",
        "--one",
        str(photos),
        label,
        str(settings_dir),
        str(model_dir),
    ]
    output = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return BenchResult(**json.loads(output.strip().splitlines()[-1]))


def run_benchmark(
    *, settings: Settings, sizes: tuple[int, ...] = (300,), scale: ScaleSizes | None = None
) -> list[BenchResult]:
    """Measure the sample set, then sets of distinct variants, then the scale rows (``bench_scale``); store and
    report the results."""
    samples_dir = settings.data_dir / "samples" / "photos"
    samples = sorted(samples_dir.iterdir())
    results = []
    with tempfile.TemporaryDirectory(prefix="refbench-bench-") as tmp:
        workdir = Path(tmp)
        results.append(measure_in_subprocess(samples_dir, label="samples", model_dir=settings.models, workdir=workdir))
        variants = workdir / "variants"
        paths = make_variants(samples, variants / "all", count=max(sizes))
        for size in sizes:
            subset = variants / f"n{size}"
            subset.mkdir()
            for path in paths[:size]:
                (subset / path.name).symlink_to(path)
            results.append(
                measure_in_subprocess(subset, label=f"variants-{size}", model_dir=settings.models, workdir=workdir)
            )
    rows = run_scale_benchmark(model_dir=settings.models, samples=samples, sizes=scale) if scale else []
    record(results, settings=settings, scale=rows)
    return results


def record(results: list[BenchResult], *, settings: Settings, scale: Sequence[ScaleRow] = ()) -> Path:
    """Store the results as a ``bench`` run in the workspace and write ``reports/bench.md``."""
    metrics = []
    for r in results:
        metrics += [
            Metric("images_per_second", r.images_per_second, "img/s", r.n_images, r.label),
            Metric("peak_rss", r.peak_rss_mb, "MB", r.n_images, r.label),
            Metric("cpu_per_image", r.cpu_ms_per_image, "ms", r.n_images, r.label),
            Metric("machine_probe", r.probe_ms, "ms", r.n_images, r.label),
        ]
        metrics += [
            Metric(f"images_per_second_{s}", v, "img/s", r.n_images, r.label)
            for s, v in r.stage_images_per_second.items()
        ]
    metrics += scale_metrics(scale)
    with Workspace.open(settings) as ws, ws.runs.track("bench", {"sizes": [r.n_images for r in results]}) as run:
        run.log_many(metrics)
    return write_report(results, settings.reports / "bench.md", run_id=run.run_id, scale=scale)


def write_report(results: list[BenchResult], path: Path, *, run_id: str, scale: Sequence[ScaleRow] = ()) -> Path:
    """A markdown table of the results."""
    stages = list(PER_IMAGE_STAGES)
    lines = [
        f"# Benchmark {run_id}",
        "",
        f"Default pipeline (opencv-darknet + insightface), {os.cpu_count()} CPU cores, one fresh process and"
        " workspace per row. CPU ms/img counts every thread of the process. Probe: median ms of one YOLOv3-tiny"
        " forward pass on a fixed blob just before the row — the same work each time, so it shows how busy the"
        " machine was.",
        "",
        "| set | images | end-to-end img/s | CPU ms/img | probe ms | peak RSS MB | "
        + " | ".join(f"{s} img/s" for s in stages)
        + " |",
        "|---" * (6 + len(stages)) + "|",
    ]
    for r in results:
        per_stage = " | ".join(f"{r.stage_images_per_second.get(s, float('nan')):.1f}" for s in stages)
        lines.append(
            f"| {r.label} | {r.n_images} | {r.images_per_second:.2f} | {r.cpu_ms_per_image:.0f} | {r.probe_ms:.0f}"
            f" | {r.peak_rss_mb:.0f} | {per_stage} |"
        )
    lines += ["", *scale_report(scale)] if scale else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str]) -> None:
    """``python -m refbench.pipelines.bench`` runs everything (``--no-library``, ``--no-overlay`` leave parts out);
    ``--one PHOTOS LABEL WS MODELS`` measures one set."""
    if argv[:1] == ["--one"]:
        photos, label, workspace, models = argv[1:5]
        settings = Settings(data_dir=Path(workspace), model_dir=Path(models))
        print(json.dumps(asdict(measure(Path(photos), label=label, settings=settings))))
        return
    from rich.console import Console

    settings = Settings()
    quick = os.environ.get("BENCH_QUICK") == "1"
    scale = ScaleSizes.quick() if quick else ScaleSizes()
    results = run_benchmark(settings=settings, sizes=(100,) if quick else (300,), scale=scale)
    if "--no-library" not in argv:
        from refbench.pipelines.library_bench import library_metrics, library_report, run_library_benchmark

        latency, indexing = run_library_benchmark(settings=settings)
        with Workspace.open(settings) as ws, ws.runs.track("bench", {"part": "library"}) as run:
            run.log_many(library_metrics(latency, indexing))
        report = settings.reports / "bench.md"
        report.write_text(report.read_text() + "\n" + library_report(latency, indexing))
    if "--no-overlay" not in argv:
        from refbench.pipelines.brand_bench import overlay_metrics, overlay_report, run_overlay_benchmark

        overlays = run_overlay_benchmark(settings=settings)
        with Workspace.open(settings) as ws, ws.runs.track("bench", {"part": "overlay"}) as run:
            run.log_many(overlay_metrics(overlays))
        report = settings.reports / "bench.md"
        report.write_text(report.read_text() + "\n" + overlay_report(overlays))
    Console().print(Path(settings.reports / "bench.md").read_text())
    del results


if __name__ == "__main__":
    main(sys.argv[1:])

"""``make bench-gpu``: end-to-end images per second with ONNX Runtime's CUDA provider, ready for a GPU machine.

``make bench-gpu`` installs ``onnxruntime-gpu`` last (``make gpu``: it shares onnxruntime's folder), then runs
``python -m refbench.pipelines.bench_gpu``: fresh variant photos through the manifest in one process and in a pool
of worker processes (OpenCV's detector stays on the CPU cores; SCRFD and ArcFace run on the GPU, every face of an
image embedded in one batched call), the provider each session really used read back from ONNX Runtime. The
result is a ``bench_gpu`` run in the workspace and ``reports/bench_gpu.md``. Without a GPU it refuses to run
unless ``--providers CPUExecutionProvider`` is given (how the tests exercise it on CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from refbench.errors import ConfigError
from refbench.settings import PROJECT_ROOT, Settings
from refbench.types import Metric

CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


@dataclass(frozen=True)
class GpuRow:
    """One measured run: mode, images, seconds, images per second, and the provider the face model used."""

    mode: str
    images: int
    seconds: float
    images_per_second: float
    provider: str


def provider_in_use(providers: list[str], *, model_dir: Path) -> str:
    """The execution provider a face-model session really runs on (ORT falls back to CPU silently)."""
    from refbench.faces import create_face_analyzer

    return create_face_analyzer("insightface", model_dir=model_dir, providers=providers).execution_provider


def run_gpu_benchmark(settings: Settings, *, samples: Sequence[Path], photos: int, workers: int) -> list[GpuRow]:
    """Images per second of the manifest on ``photos`` fresh variants of ``samples``: one process, then ``workers``
    processes."""
    import time

    from refbench.pipelines.bench import make_variants
    from refbench.pipelines.manifest import ManifestOptions, run_manifest
    from refbench.pipelines.pool import ProcessMap

    provider = provider_in_use(list(settings.providers or CUDA), model_dir=settings.models)
    rows = []
    with tempfile.TemporaryDirectory(prefix="refbench-gpu-") as tmp:
        folder = Path(tmp) / "photos"
        make_variants(samples, folder, count=photos, seed=21)
        for mode, count in (("one process", 1), (f"{workers} worker processes", workers)):
            workspace = settings.model_copy(update={"data_dir": Path(tmp) / f"ws-{count}", "db_path": None})
            mapper = ProcessMap(workers=count) if count > 1 else map
            start = time.perf_counter()
            summary = run_manifest(folder, settings=workspace, options=ManifestOptions(), map_images=mapper)
            seconds = time.perf_counter() - start
            rows.append(GpuRow(mode, summary.images_new, seconds, summary.images_new / seconds, provider))
    return rows


def record_gpu(rows: list[GpuRow], *, settings: Settings) -> Path:
    """Store the rows as a ``bench_gpu`` run and write ``reports/bench_gpu.md``."""
    from refbench.registry import Workspace

    metrics = [Metric("images_per_second", r.images_per_second, "img/s", r.images, r.mode) for r in rows]
    (provider,) = {r.provider for r in rows}  # one provider per benchmark run
    parameters = {"provider": provider, "cpu_cores": os.cpu_count()}
    with (
        Workspace.open(settings) as ws,
        ws.runs.track("bench_gpu", parameters, execution_provider=provider) as run,
    ):
        run.log_many(metrics)
    lines = [
        f"# GPU benchmark {run.run_id}",
        "",
        f"Face model provider in use: **{provider}**; {os.cpu_count()} CPU cores (YOLOv3-tiny runs on them).",
        "",
        "| mode | images | seconds | img/s |",
        "|---|---|---|---|",
        *[f"| {r.mode} | {r.images} | {r.seconds:.1f} | {r.images_per_second:.1f} |" for r in rows],
    ]
    path = settings.reports / "bench_gpu.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str]) -> None:
    """``python -m refbench.pipelines.bench_gpu [--photos N] [--workers N] [--providers P ...]``."""
    parser = argparse.ArgumentParser(prog="bench-gpu")
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--providers", nargs="+", default=None, help="default: CUDA, then CPU")
    args = parser.parse_args(argv)
    import onnxruntime

    if args.providers is None and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise ConfigError(
            "no CUDA provider in this onnxruntime: run `make gpu` on a CUDA machine first, or pass "
            "--providers CPUExecutionProvider to measure the same path on the CPU"
        )
    settings = Settings(providers=args.providers or CUDA)
    samples = sorted((PROJECT_ROOT / "data" / "samples" / "photos").iterdir())
    rows = run_gpu_benchmark(settings, samples=samples, photos=args.photos, workers=args.workers)
    print(record_gpu(rows, settings=settings).read_text())


if __name__ == "__main__":
    main(sys.argv[1:])

"""``make bench``: distinct variants, one measured row in a fresh process, results in DuckDB and markdown."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image
from refbench.pipelines.bench import make_variants, measure_in_subprocess, record
from refbench.settings import Settings

from tests.conftest import MODELS, read_workspace


def test_variants_are_distinct_images_of_the_samples(samples_dir: Path, tmp_path: Path) -> None:
    samples = sorted(samples_dir.iterdir())
    paths = make_variants(samples, tmp_path / "v", count=len(samples) + 4)
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert len(hashes) == len(paths) == len(samples) + 4
    # The 27th variant is made from the first sample again, yet is another file.
    assert paths[len(samples)].name.endswith(samples[0].stem + ".jpg")
    with Image.open(paths[0]) as image:
        assert image.format == "JPEG" and min(image.size) >= 64


def test_one_row_is_measured_in_a_fresh_process_and_recorded(
    samples_dir: Path, tmp_path: Path, settings: Settings
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama_1.jpg", "biden_1.jpg", "bus.jpg"):
        (photos / name).symlink_to(samples_dir / name)
    result = measure_in_subprocess(photos, label="three", model_dir=MODELS, workdir=tmp_path)
    assert result.n_images == 3 and result.faces >= 2
    assert 0 < result.images_per_second < 100 and result.cpu_ms_per_image > 0 and result.probe_ms > 0
    assert 100 < result.peak_rss_mb < 1536
    assert set(result.stage_images_per_second) == {"ingest", "detect", "faces", "crops", "register"}

    report = record([result], settings=settings)
    assert "| three | 3 |" in report.read_text()
    with read_workspace(settings) as ws:
        (run,) = ws.runs.list(kind="bench")
        names = {m.name for m in ws.runs.metrics(run.run_id) if m.label == "three"}
    assert {"images_per_second", "peak_rss", "cpu_per_image", "machine_probe", "images_per_second_detect"} <= names


def test_scale_rows_run_in_fresh_processes_and_compare_with_their_baselines(tmp_path: Path, samples_dir: Path) -> None:
    from refbench.pipelines.bench_scale import run_row, scale_metrics, scale_report

    rows = [run_row("cluster", "2000", "graph"), run_row("cluster", "2000", "dense")]
    rows += [run_row("search", "3000", method) for method in ("numpy", "flat", "duckdb-text", "hnsw")]
    graph, dense = rows[:2]
    assert graph.figures["clusters"] == dense.figures["clusters"] and graph.figures["bcubed_f1_truth"] > 0.99
    assert 100 < graph.peak_rss_mb < dense.peak_rss_mb + 200
    assert rows[-1].figures["recall_at_k"] > 0.5 and all(r.figures["p95_ms"] > 0 for r in rows[2:])
    report = "\n".join(scale_report(rows))
    assert "| 2000 | graph |" in report and "| 3000 | duckdb-text |" in report
    assert {m.name for m in scale_metrics(rows)} >= {"cluster_seconds", "search_p50_ms", "cluster_bcubed_f1_truth"}


def test_one_photo_rerun_row_on_a_grown_registry(tmp_path: Path, samples_dir: Path) -> None:
    from refbench.pipelines.bench_scale import run_row

    samples = sorted(samples_dir.iterdir())
    make_variants(samples, tmp_path / "templates", count=3, seed=11)
    (new,) = make_variants(samples[3:4], tmp_path / "new", count=1, seed=12)
    data = tmp_path / "registry"
    grown = run_row("grow", str(data), str(MODELS), str(data / "photos"), "12", str(tmp_path / "templates"))
    row = run_row("rerun", str(data), str(MODELS), str(data / "photos"), str(new), "12 photos")
    assert grown.size == 12 and row.size == 12 and row.figures["images_new"] == 1
    assert row.figures["incremental"] and row.figures["seconds_without_model_loading"] < row.seconds


def test_gpu_bench_runs_as_is_and_reports_the_provider_in_use(tmp_path: Path, samples_dir: Path) -> None:
    """What `make bench-gpu` runs, on the CPU provider here (a GPU machine runs it with CUDA)."""
    from refbench.pipelines.bench_gpu import record_gpu, run_gpu_benchmark

    settings = Settings(
        data_dir=tmp_path, model_dir=MODELS, reports_dir=tmp_path / "reports", providers=["CPUExecutionProvider"]
    )
    rows = run_gpu_benchmark(settings, samples=sorted(samples_dir.iterdir())[:4], photos=4, workers=2)
    assert [(r.mode, r.images, r.provider) for r in rows] == [
        ("one process", 4, "CPUExecutionProvider"),
        ("2 worker processes", 4, "CPUExecutionProvider"),
    ]
    report = record_gpu(rows, settings=settings).read_text()
    assert "provider in use: **CPUExecutionProvider**" in report
    with read_workspace(settings) as ws:
        (run,) = ws.runs.list(kind="bench_gpu")
    assert run.execution_provider == "CPUExecutionProvider"


def test_tree_memory_counts_worker_processes_at_the_same_moment() -> None:
    import subprocess
    import sys

    from refbench.pipelines.bench_scale import TreeMemory

    hold = "import numpy, time; a = numpy.ones(40_000_000); time.sleep(1.0)"  # 305 MB resident for a second
    with TreeMemory(interval_s=0.05) as memory:
        subprocess.run([sys.executable, "-c", hold], check=True)
    assert memory.peak_mb > 300

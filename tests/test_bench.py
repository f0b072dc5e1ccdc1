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

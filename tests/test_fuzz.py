"""Fuzzing: mutated real images (truncated, bytes flipped, headers corrupted, bytes inserted or zeroed) across
JPEG, PNG, WebP, AVIF, TIFF and GIF never raise anything but a rejection, and a run over them completes.

Seeded and bounded: ``REFBENCH_FUZZ_CASES`` cases (300 in ``make test``; ``make fuzz`` runs 11,000).
"""

from __future__ import annotations

import io
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from refbench.errors import ImageRejected
from refbench.ingest.imaging import decode_image
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.settings import Settings

from tests.conftest import read_workspace

FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "TIFF", "GIF")
MUTATIONS = ("truncate", "flip", "header", "insert", "zero")
CASES = int(os.environ.get("REFBENCH_FUZZ_CASES", "300"))


def originals(samples_dir: Path) -> dict[str, bytes]:
    """One small real photo encoded in every format (with EXIF where the format carries it)."""
    image = Image.open(samples_dir / "zidane.jpg").convert("RGB").resize((160, 90))
    exif = Image.Exif()
    exif[0x0112] = 6
    encoded = {}
    for fmt in FORMATS:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **({"exif": exif.tobytes()} if fmt in ("JPEG", "PNG", "WEBP") else {}))
        encoded[fmt] = buffer.getvalue()
    return encoded


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random damage of ``data`` and its name."""
    data, kind = bytearray(data), rng.choice(MUTATIONS)
    position = rng.randrange(len(data))
    if kind == "truncate":
        return bytes(data[: max(1, position)]), kind
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "header":
        for _ in range(rng.randint(4, 64)):
            data[min(len(data) - 1, rng.randrange(4, 80))] = rng.randrange(256)
    elif kind == "insert":
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 50)))
    else:
        data[position : position + rng.randint(1, 200)] = bytes(min(200, len(data) - position))
    return bytes(data), kind


def test_mutated_images_only_ever_give_rejections(samples_dir: Path) -> None:
    rng, bases = random.Random(20261129), originals(samples_dir)
    unhandled: Counter = Counter()
    outcomes: Counter = Counter()
    for _ in range(CASES):
        fmt = rng.choice(FORMATS)
        data, kind = mutate(bases[fmt], rng)
        try:
            decoded = decode_image(data, max_pixels=10_000_000)
            outcomes["decoded"] += 1
            assert decoded.image_rgb.ndim == 3 and decoded.image_rgb.shape[2] == 3
        except ImageRejected as rejected:
            outcomes[rejected.code] += 1
        except Exception as error:  # noqa: BLE001 - what the test counts
            unhandled[(fmt, kind, type(error).__name__)] += 1
    assert not unhandled, f"{sum(unhandled.values())} unhandled exceptions of {CASES}: {unhandled.most_common(5)}"
    assert outcomes["decoded"] and sum(outcomes.values()) - outcomes["decoded"] > CASES // 4  # both paths taken


def test_a_run_over_mutated_files_completes_and_accounts_for_each(
    samples_dir: Path, tmp_path: Path, settings: Settings, backends: Backends
) -> None:
    rng, bases = random.Random(7), originals(samples_dir)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(30):
        fmt = FORMATS[i % len(FORMATS)]
        data, kind = mutate(bases[fmt], rng)
        (folder / f"{i:02d}_{kind}.{fmt.lower()}").write_bytes(data)
    summary = run_manifest(folder, settings=settings, options=ManifestOptions(), backends=backends)
    with read_workspace(settings) as ws:
        status = ws.runs.get(summary.run_id).status
        registered = {Path(str(p)).name for p in ws.images.sources().values()}
        rejected = {r.file_name for r in ws.rejections.list()}
    assert status == "completed"
    duplicates = 30 - len(registered | rejected)  # mutations that left two files byte-identical
    assert len(registered) + len(rejected) + duplicates == 30 and registered and rejected


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_unharmed(samples_dir: Path, fmt: str) -> None:
    decoded = decode_image(originals(samples_dir)[fmt], max_pixels=10_000_000)
    rotated = fmt in ("JPEG", "PNG", "WEBP")  # EXIF orientation 6 applied
    assert decoded.image_rgb.shape == ((160, 90, 3) if rotated else (90, 160, 3))

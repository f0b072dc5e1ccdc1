"""No single file, name or folder can stop a manifest run, and nothing it leaves behind is inconsistent: each
case a hostile user tried becomes a rejection with a code and a reason, or a correct registration."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.settings import Settings

from tests.conftest import make_settings, read_workspace


def run(folder: Path, settings: Settings, backends: Backends) -> object:
    return run_manifest(folder, settings=settings, options=ManifestOptions(), backends=backends)


def photos(tmp_path: Path, samples_dir: Path, *names: str) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(samples_dir / name, folder / name)
    return folder


def rejections(settings: Settings) -> dict[str, tuple[str, str]]:
    with read_workspace(settings) as ws:
        return {r.file_name: (r.code, r.reason) for r in ws.rejections.list()}


def test_byte_identical_files_in_one_batch_register_once(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = photos(tmp_path, samples_dir, "zidane.jpg", "bus.jpg")
    shutil.copy(folder / "zidane.jpg", folder / "zidane_copy.jpg")
    os.link(folder / "bus.jpg", folder / "bus_hardlink.jpg")
    summary = run(folder, settings, backends)
    rejected = rejections(settings)
    assert summary.images_new == 2 and summary.rejected_new == 2
    assert rejected["zidane_copy.jpg"][0] == "duplicate" and "zidane.jpg" in rejected["zidane_copy.jpg"][1]
    assert rejected["bus_hardlink.jpg"][0] == "duplicate" and rejected["bus_hardlink.jpg"][1].endswith("bus.jpg")
    again = run(folder, settings, backends)  # a re-run adds nothing and repeats no rejection
    assert (again.images_new, again.rejected_new) == (0, 0)


def exif_jpeg(tag_type: int, count: int, value: bytes, extra: bytes = b"") -> bytes:
    """A 40×20 red JPEG whose EXIF orientation is stored with any TIFF type (Pillow itself only writes SHORT)."""
    ifd = struct.pack("<HHHI", 1, 0x0112, tag_type, count) + value.ljust(4, b"\0")[:4] + struct.pack("<I", 0)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd + extra
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, format="JPEG", exif=b"Exif\0\0" + tiff)
    return buffer.getvalue()


RATIONAL_AT = struct.pack("<I", 26)  # the value lives after the one-entry IFD


@pytest.mark.parametrize(
    ("data", "orientation", "size"),
    [
        (exif_jpeg(3, 1, struct.pack("<H", 6)), 6, (20, 40)),  # a proper SHORT 6: rotated
        (exif_jpeg(2, 2, b"6\0"), 1, (40, 20)),  # text
        (exif_jpeg(7, 1, b"\x06"), 1, (40, 20)),  # bytes
        (exif_jpeg(5, 1, RATIONAL_AT, struct.pack("<II", 6, 0)), 1, (40, 20)),  # 6/0
        (exif_jpeg(5, 1, RATIONAL_AT, struct.pack("<II", 13, 2)), 1, (40, 20)),  # 6.5
        (exif_jpeg(5, 1, RATIONAL_AT, struct.pack("<II", 12, 2)), 6, (20, 40)),  # 12/2: a whole 6
    ],
    ids=["short", "text", "bytes", "zero-denominator", "six-and-a-half", "rational-six"],
)
def test_exif_orientation_recorded_is_the_one_applied(data: bytes, orientation: int, size: tuple[int, int]) -> None:
    from refbench.ingest.imaging import decode_image

    decoded = decode_image(data, max_pixels=10**6)
    assert decoded.exif_orientation == orientation
    assert decoded.image_rgb.shape[1::-1] == size


def test_thin_long_names_and_undecodable_names_register(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = photos(tmp_path, samples_dir, "dog.jpg")
    for size in ((1, 20000), (20000, 1)):
        Image.new("RGB", size, (90, 120, 200)).save(folder / f"thin_{size[0]}x{size[1]}.png")
    long_name = "photo." + "e" * 240  # legal (246 bytes), but "<sha256>.eeee…" would pass the 255-byte limit
    shutil.copy(samples_dir / "kite.jpg", folder / long_name)
    raw_name = os.fsdecode(b"caf\xe9 \xff.jpg")  # not UTF-8
    shutil.copy(samples_dir / "giraffe.jpg", folder / raw_name)
    summary = run(folder, settings, backends)
    with read_workspace(settings) as ws:
        records = {r.file_name: r for r in ws.images.list()}
        status = ws.runs.get(summary.run_id).status
    assert status == "completed" and summary.rejected_new == 0
    assert (records["thin_1x20000.png"].height, records["thin_20000x1.png"].width) == (20000, 20000)
    assert records[long_name].stored_path.name == f"{records[long_name].image_id}.jpg"
    assert "caf\\xe9 \\xff.jpg" in records  # stored as escaped text, the bytes kept visible
    leftovers = [p for p in settings.workspace_files.joinpath("originals").rglob(".*")]
    assert not leftovers, leftovers
    again = run(folder, settings, backends)  # every file, the undecodable name too, is skipped unread
    assert again.files_unchanged == again.files_seen == 5


def test_a_corrupt_png_and_a_fifo_are_rejected_and_the_run_goes_on(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = photos(tmp_path, samples_dir, "obama_1.jpg")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    (folder / "truncated.png").write_bytes(bytes(png[: len(png) - 30]))
    png[60:64] = b"\0\0\0\0"  # damage the pixel data's chunk
    (folder / "damaged.png").write_bytes(bytes(png))
    os.mkfifo(folder / "pipe.jpg")  # opening it would block the run forever
    summary = run(folder, settings, backends)
    rejected = rejections(settings)
    assert rejected["pipe.jpg"][0] == "not_a_file"
    assert rejected["truncated.png"][0] in ("truncated", "decode_error")
    assert rejected["damaged.png"][0] in ("truncated", "decode_error")
    assert summary.images_new == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists every folder whatever its mode")
def test_an_unreadable_folder_is_recorded(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = photos(tmp_path, samples_dir, "obama_1.jpg")
    (folder / "locked").mkdir()
    (folder / "locked").chmod(0)
    try:
        run(folder, settings, backends)
    finally:
        (folder / "locked").chmod(0o755)
    assert rejections(settings)["locked"][0] == "unreadable_folder"


def test_a_newline_in_a_file_name_cannot_forge_a_log_line(
    tmp_path: Path, settings: Settings, backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "evil.jpg\nCRITICAL refbench: all photos deleted").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        run(folder, settings, backends)
    lines = [r.getMessage() for r in caplog.records if "evil" in r.getMessage()]
    assert lines and all("\n" not in line for line in lines)
    assert "evil.jpg\\nCRITICAL" in lines[0]


def test_a_deleted_crop_is_made_again_by_the_next_run(
    demo_copy: Settings, samples_dir: Path, backends: Backends
) -> None:
    with read_workspace(demo_copy) as ws:
        derived = ws.images.derived_files()
    kinds = {d.kind: d for d in derived}
    before = {k: d.path.read_bytes() for k, d in kinds.items()}
    for d in kinds.values():
        d.path.unlink()
    summary = run(samples_dir, demo_copy, backends)
    assert summary.files_restored == len(kinds) == 3
    for kind, d in kinds.items():  # the same pixels as the first time, from the read-only original
        restored = np.asarray(Image.open(d.path), dtype=int)
        original = np.asarray(Image.open(io.BytesIO(before[kind])), dtype=int)
        assert restored.shape == original.shape and np.abs(restored - original).mean() < 1.0, kind


def test_two_workspaces_in_one_folder_keep_their_own_files(
    tmp_path: Path, samples_dir: Path, backends: Backends
) -> None:
    folder = photos(tmp_path, samples_dir, "dog.jpg", "bus.jpg")
    first = make_settings(tmp_path / "ws")
    second = first.model_copy(update={"db_path": tmp_path / "ws" / "other.duckdb"})
    run(folder, first, backends)
    (folder / "bus.jpg").unlink()
    run(folder, second, backends)
    assert first.workspace_files != second.workspace_files
    assert second.workspace_files == tmp_path / "ws" / "other_files"
    sheets = [Image.open(s.workspace_files / "contact_sheet.png").height for s in (first, second)]
    assert sheets[0] == sheets[1] and (first.workspace_files / "contact_sheet.png").is_file()
    with read_workspace(first) as ws:
        assert ws.images.count() == 2  # the other workspace did not overwrite anything of this one


def test_reports_go_beside_the_workspace_unless_told(tmp_path: Path) -> None:
    elsewhere = Settings(db_path=tmp_path / "elsewhere" / "ws.duckdb")
    assert elsewhere.reports == tmp_path / "elsewhere" / "reports"
    assert Settings(reports_dir=tmp_path / "r").reports == tmp_path / "r"
    assert Settings().reports == Settings().data_dir.parent / "reports"
    named = Settings().for_database(Settings().database)  # `--db data/refbench.duckdb` is the default workspace
    assert named.reports == Settings().data_dir.parent / "reports"


def test_a_stale_running_run_is_marked_interrupted(settings: Settings) -> None:
    from refbench.registry import Workspace

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Workspace.open(settings) as ws:
        stale = ws.runs.start("manifest", {})
        ws._con.execute(
            "UPDATE runs SET pid = ? WHERE run_id = ?", [dead.pid, stale.run_id]
        )  # the run of a dead process
        interrupted = ws.runs.mark_stale()
        alive = ws.runs.start("describe", {})  # this process: alive, and its start marks nothing more
        runs = {r.run_id: r for r in ws.runs.list()}
    assert interrupted == [stale.run_id]
    assert runs[stale.run_id].status == "interrupted" and f"process {dead.pid}" in runs[stale.run_id].error
    assert runs[alive.run_id].status == "running"


@pytest.mark.slow
def test_kill_9_mid_run_then_a_rerun_completes_a_consistent_registry(
    tmp_path: Path, samples_dir: Path, demo_workspace: Settings
) -> None:
    settings = make_settings(tmp_path / "ws")
    command = [
        str(Path(sys.executable).with_name("refbench")),
        "manifest",
        str(samples_dir),
        "--db",
        str(settings.database),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    crops = settings.workspace_files / "crops" / "faces"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(crops.glob("*.jpg"))) < 4:  # some images analyzed, not all
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert len(list(crops.glob("*.jpg"))) < 22, "the run finished before it was killed"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with read_workspace(settings) as ws, read_workspace(demo_workspace) as demo:
        runs = ws.runs.list()
        assert [r.status for r in runs] == ["completed", "interrupted"]
        assert ws.counts() == {k: v for k, v in demo.counts().items()}
        gallery = ws.faces.gallery("insightface")
        assert len(gallery) == ws.faces.count("insightface")  # every face belongs to an identity
        assert all(d.path.is_file() for d in ws.images.derived_files())  # every referenced crop is on disk
        tags = sorted(a.tag for a in ws.assets.list())
        assert tags == sorted(a.tag for a in demo.assets.list())


def test_a_write_that_fails_mid_transaction_leaves_the_run_failed_not_running(settings: Settings) -> None:
    import duckdb
    from refbench.registry import Workspace

    with Workspace.open(settings) as ws:
        with pytest.raises(duckdb.ConstraintException), ws.runs.track("manifest", {}) as run:
            ws._con.begin()  # a batch in flight, as the image writer holds one
            ws._con.execute("INSERT INTO artifacts (path, kind) VALUES ('x', 'a'), ('x', 'b')")  # the key twice
        stored = ws.runs.get(run.run_id)
    assert stored.status == "failed" and "ConstraintException" in stored.error


def test_a_workspace_killed_right_after_it_was_created_opens_again(tmp_path: Path) -> None:
    """DuckDB 1.5.5 cannot replay schema DDL from its WAL: the schema must reach the file before a kill can."""
    database = tmp_path / "fresh.duckdb"
    script = (
        "import os, signal, sys\nfrom refbench.registry import Workspace\n"
        "with Workspace.open(sys.argv[1]) as ws:\n"
        "    with ws.runs.track('manifest', {}):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(database)], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    from refbench.registry import Workspace

    with Workspace.open(database) as ws:  # replays the WAL; the killed run is found and marked
        (run,) = ws.runs.list()
    assert run.status == "running"  # its process was this test's child, now gone: the next start marks it
    with Workspace.open(database) as ws:
        ws.runs.start("describe", {})
        assert {r.kind: r.status for r in ws.runs.list()} == {"manifest": "interrupted", "describe": "running"}

"""The manifest engine end to end on real photos: rejections, idempotence, identities, assets, views."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
from refbench import store
from refbench.manifest import Backends, ManifestOptions, run_manifest
from refbench.settings import Settings

from tests.test_imaging import bomb_png, zero_size_png

GOOD = ["obama_1.jpg", "obama_2.jpg", "biden_1.jpg", "group_six.jpg"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def messy_folder(tmp_path: Path, samples_dir: Path) -> Path:
    """Good photos mixed with every kind of bad input the brief names."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(samples_dir / name, folder / name)
    jpeg = (samples_dir / "obama_3.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "notes.jpg").write_text("shot list: scene 1, scene 2\n")
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "zero.png").write_bytes(zero_size_png())
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    return folder


EXPECTED_REJECTIONS = {
    "empty.jpg": "empty_file",
    "truncated.jpg": "truncated",
    "notes.jpg": "not_an_image",
    "bomb.png": "too_many_pixels",
    "zero.png": "zero_size",
    "gone.jpg": "unreadable",
}


def run(folder: Path, settings: Settings, backends: Backends, **options) -> object:
    return run_manifest(folder, settings=settings, options=ManifestOptions(**options), backends=backends)


def test_bad_files_are_rejected_and_good_ones_registered(
    messy_folder: Path, settings: Settings, backends: Backends
) -> None:
    summary = run(messy_folder, settings, backends)
    con = duckdb.connect(str(settings.database), read_only=True)
    rejected = dict(con.execute("SELECT file_name, code FROM rejections").fetchall())
    reasons = [r[0] for r in con.execute("SELECT reason FROM rejections").fetchall()]
    images = {r[0] for r in con.execute("SELECT file_name FROM images").fetchall()}
    status = con.execute("SELECT status FROM runs WHERE run_id = ?", [summary.run_id]).fetchone()[0]
    assert rejected == EXPECTED_REJECTIONS
    assert all(len(reason) > 10 for reason in reasons)
    assert images == set(GOOD)
    assert summary.images_new == 4 and summary.rejected_new == 6
    assert status == "completed"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_permissions_are_rejected(messy_folder: Path, settings: Settings, backends: Backends) -> None:
    locked = messy_folder / "locked.jpg"
    shutil.copy(messy_folder / "obama_1.jpg", locked)
    locked.chmod(0)
    run(messy_folder, settings, backends)
    con = duckdb.connect(str(settings.database), read_only=True)
    assert con.execute("SELECT code FROM rejections WHERE file_name = 'locked.jpg'").fetchone() == ("unreadable",)


def test_rerun_adds_nothing_and_new_photo_is_processed_alone(
    messy_folder: Path, settings: Settings, backends: Backends, samples_dir: Path
) -> None:
    run(messy_folder, settings, backends)
    con = store.connect(settings.database)
    first = store.table_counts(con)
    tags_before = con.execute("SELECT face_id, identity_tag FROM v_faces ORDER BY face_id").fetchall()
    con.close()
    second = run(messy_folder, settings, backends)
    con = store.connect(settings.database)
    assert store.table_counts(con) == first
    assert second.images_new == 0 and second.rejected_new == 0
    con.close()

    shutil.copy(samples_dir / "obama_4.jpg", messy_folder / "obama_4.jpg")
    third = run(messy_folder, settings, backends)
    con = store.connect(settings.database)
    counts = store.table_counts(con)
    new_processed = con.execute("SELECT count(*) FROM processed WHERE run_id = ?", [third.run_id]).fetchone()[0]
    tags_after = dict(con.execute("SELECT face_id, identity_tag FROM v_faces").fetchall())
    obama_tags = {
        t for f, t in con.execute("SELECT image_file, identity_tag FROM v_faces").fetchall() if f.startswith("obama")
    }
    assert third.images_new == 1 and counts["images"] == first["images"] + 1
    assert new_processed == 2  # objects and faces, for that photo only
    assert all(tags_after[face] == tag for face, tag in tags_before)  # old tags are stable
    assert len(obama_tags) == 1


def test_originals_are_untouched_and_copied_read_only(
    messy_folder: Path, settings: Settings, backends: Backends
) -> None:
    files = [p for p in messy_folder.iterdir() if p.is_file() and not p.is_symlink()]
    before = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in files}
    run(messy_folder, settings, backends)
    after = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in files}
    assert after == before
    con = duckdb.connect(str(settings.database), read_only=True)
    for image_id, stored in con.execute("SELECT image_id, stored_path FROM images").fetchall():
        assert sha256(Path(stored)) == image_id
        assert stat.S_IMODE(Path(stored).stat().st_mode) == 0o444


def test_identities_match_the_people(demo_workspace: Settings, sample_identities: dict[str, str]) -> None:
    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    rows = con.execute("SELECT image_file, identity_tag, det_score FROM v_faces").fetchall()
    largest = {}
    for image_file, tag, _ in rows:
        if image_file in sample_identities:
            largest.setdefault(image_file, tag)
    people: dict[str, set[str]] = {}
    for image_file, tag in largest.items():
        people.setdefault(sample_identities[image_file], set()).add(tag)
    assert all(len(tags) == 1 for tags in people.values()), people  # one identity per person
    all_tags = [next(iter(tags)) for tags in people.values()]
    assert len(set(all_tags)) == len(all_tags)  # different people, different identities
    assert set(people) == set(sample_identities.values()), people


def test_group_photo_gives_six_distinct_characters(demo_workspace: Settings) -> None:
    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    tags = [r[0] for r in con.execute("SELECT identity_tag FROM v_faces WHERE image_file = 'group_six.jpg'").fetchall()]
    assert len(tags) == 6 and len(set(tags)) == 6


def test_views_have_the_documented_columns(demo_workspace: Settings) -> None:
    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    faces = [d[0] for d in con.execute("SELECT * FROM v_faces LIMIT 0").description]
    assets = [d[0] for d in con.execute("SELECT * FROM v_assets LIMIT 0").description]
    bbox_type = con.execute("SELECT typeof(bbox) FROM v_faces LIMIT 1").fetchone()[0]
    assert faces[:5] == ["image_file", "face_id", "bbox", "det_score", "identity_tag"]
    assert assets[:8] == [
        "tag",
        "asset_type",
        "name",
        "source_image_file",
        "crop_path",
        "quality_score",
        "reverse_prompt",
        "visual_description",
    ]
    assert bbox_type == "FLOAT[4]"


def test_assets_are_tagged_by_type_with_crops(demo_workspace: Settings) -> None:
    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    rows = con.execute("SELECT tag, asset_type, name, source_image_file, crop_path FROM v_assets").fetchall()
    by_tag = {r[0]: r for r in rows}
    prefixes = {"character": "CHAR_", "prop": "PROP_", "vehicle": "VEH_", "animal": "ANIM_", "environment": "ENV_"}
    assert len(by_tag) == len(rows)  # tags are unique
    assert all(tag.startswith(prefixes[kind]) for tag, kind, *_ in rows)
    assert {kind for _, kind, *_ in rows} == set(prefixes)
    assert ("bus", "bus.jpg") in {(r[2], r[3]) for r in rows if r[1] == "vehicle"}
    assert "china.jpg" in {r[3] for r in rows if r[1] == "environment"}
    assert all(Path(r[4]).is_file() for r in rows)


def test_character_crop_is_the_best_quality_face(demo_workspace: Settings) -> None:
    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    rows = con.execute(
        "SELECT a.tag, a.quality_score, max(f.quality_score) FROM v_assets a JOIN v_faces f"
        " ON f.identity_tag = a.tag WHERE a.asset_type = 'character' GROUP BY ALL"
    ).fetchall()
    assert rows and all(abs(best - chosen) < 1e-6 for _, chosen, best in rows)


def test_face_crops_are_padded_and_clamped(demo_workspace: Settings) -> None:
    from PIL import Image

    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    for bbox, crop_path, width in con.execute(
        "SELECT f.bbox, f.crop_path, i.width FROM faces f JOIN images i USING (image_id)"
    ).fetchall():
        crop_w = Image.open(crop_path).width
        box_w = bbox[2] - bbox[0]
        assert crop_w <= width
        assert crop_w >= min(box_w * 1.5, width - 2) or crop_w >= box_w  # 30% each side unless clamped


def test_contact_sheet_and_run_metrics(demo_workspace: Settings) -> None:
    from PIL import Image

    con = duckdb.connect(str(demo_workspace.database), read_only=True)
    path = con.execute("SELECT path FROM artifacts WHERE kind = 'contact_sheet'").fetchone()[0]
    n_images = con.execute("SELECT count(*) FROM images").fetchone()[0]
    metrics = dict(con.execute("SELECT name, value FROM metrics").fetchall())
    sheet = Image.open(path)
    assert sheet.width == 6 * 220 and sheet.height == -(-n_images // 6) * 260
    assert metrics["images_total"] == n_images and metrics["seconds_detect"] > 0


def test_a_failure_after_reclustering_leaves_the_registry_as_it_was(
    demo_copy: Settings, samples_dir: Path, backends: Backends
) -> None:
    """Identities are deleted and rewritten on every run: a later failure must roll that back."""
    con = store.connect(demo_copy.database)
    before = store.table_counts(con)
    con.close()
    # A directory where the contact sheet goes makes the run fail after clustering and assets.
    (demo_copy.workspace_files / "contact_sheet.png").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        run(samples_dir, demo_copy, backends, face_threshold=0.95)  # would split every person
    con = store.connect(demo_copy.database)
    after = store.table_counts(con)
    status = con.execute("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    con.close()
    assert status == "failed"
    assert {t: n for t, n in after.items() if t not in ("runs", "metrics")} == {
        t: n for t, n in before.items() if t not in ("runs", "metrics")
    }

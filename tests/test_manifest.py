"""The manifest engine end to end on real photos: rejections, idempotence, identities, assets, views."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from refbench.errors import InputNotFound
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.settings import Settings

from tests.conftest import read_workspace
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
    with read_workspace(settings) as ws:
        rejections = ws.rejections.list()
        images = {r.file_name for r in ws.images.list()}
        status = ws.runs.get(summary.run_id).status
    assert {r.file_name: r.code for r in rejections} == EXPECTED_REJECTIONS
    assert all(len(r.reason) > 10 for r in rejections)
    assert images == set(GOOD)
    assert summary.images_new == 4 and summary.rejected_new == 6
    assert status == "completed"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_permissions_are_rejected(messy_folder: Path, settings: Settings, backends: Backends) -> None:
    locked = messy_folder / "locked.jpg"
    shutil.copy(messy_folder / "obama_1.jpg", locked)
    locked.chmod(0)
    run(messy_folder, settings, backends)
    with read_workspace(settings) as ws:
        assert {r.file_name: r.code for r in ws.rejections.list()}["locked.jpg"] == "unreadable"


def test_rerun_adds_nothing_and_new_photo_is_processed_alone(
    messy_folder: Path, settings: Settings, backends: Backends, samples_dir: Path
) -> None:
    run(messy_folder, settings, backends)
    with read_workspace(settings) as ws:
        first = ws.counts()
        tags_before = face_tags(ws)
    second = run(messy_folder, settings, backends)
    with read_workspace(settings) as ws:
        assert ws.counts() == first
    assert second.images_new == 0 and second.rejected_new == 0

    shutil.copy(samples_dir / "obama_4.jpg", messy_folder / "obama_4.jpg")
    third = run(messy_folder, settings, backends)
    with read_workspace(settings) as ws:
        counts = ws.counts()
        new_processed = ws.images.processed_in(third.run_id)
        tags_after = face_tags(ws)
        files = {r.image_id: r.file_name for r in ws.images.list()}
        gallery = ws.faces.gallery("insightface")
    obama_tags = {
        str(tag)
        for tag, image in zip(gallery.data["identity_tag"], gallery.data["image_file"], strict=True)
        if str(image).startswith("obama")
    }
    assert "obama_4.jpg" in files.values()
    assert third.images_new == 1 and counts["images"] == first["images"] + 1
    assert new_processed == 2  # objects and faces, for that photo only
    assert tags_before and all(tags_after[face] == tag for face, tag in tags_before.items())  # old tags are stable
    assert len(obama_tags) == 1


def face_tags(ws) -> dict[str, str]:
    """Face id -> identity tag of every clustered face (the default face model)."""
    faces = ws.faces.gallery("insightface")
    return dict(zip(faces.data["face_id"].tolist(), faces.data["identity_tag"].tolist(), strict=True))


def test_originals_are_untouched_and_copied_read_only(
    messy_folder: Path, settings: Settings, backends: Backends
) -> None:
    files = [p for p in messy_folder.iterdir() if p.is_file() and not p.is_symlink()]
    before = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in files}
    run(messy_folder, settings, backends)
    after = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in files}
    assert after == before
    with read_workspace(settings) as ws:
        records = ws.images.list()
    assert len(records) == len(GOOD)
    for record in records:
        assert sha256(record.stored_path) == record.image_id
        assert stat.S_IMODE(record.stored_path.stat().st_mode) == 0o444


def test_identities_match_the_people(demo_workspace: Settings, sample_identities: dict[str, str]) -> None:
    with read_workspace(demo_workspace) as ws:
        faces = ws.faces.gallery("insightface")
    largest = {}
    for image_file, tag in zip(faces.data["image_file"], faces.data["identity_tag"], strict=True):
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
    with read_workspace(demo_workspace) as ws:
        tags = ws.faces.of_image(ws.images.by_file("group_six.jpg").image_id).data["identity_tag"].tolist()
    assert len(tags) == 6 and len(set(tags)) == 6 and "?" not in tags


def test_views_have_the_documented_columns(demo_workspace: Settings) -> None:
    with read_workspace(demo_workspace) as ws:
        faces, assets = ws.view_columns("v_faces"), ws.view_columns("v_assets")
    assert list(faces)[:5] == ["image_file", "face_id", "bbox", "det_score", "identity_tag"]
    assert list(assets)[:8] == [
        "tag",
        "asset_type",
        "name",
        "source_image_file",
        "crop_path",
        "quality_score",
        "reverse_prompt",
        "visual_description",
    ]
    assert faces["bbox"] == "FLOAT[4]"


def test_assets_are_tagged_by_type_with_crops(demo_workspace: Settings) -> None:
    with read_workspace(demo_workspace) as ws:
        assets = list(ws.assets.list())
    prefixes = {"character": "CHAR_", "prop": "PROP_", "vehicle": "VEH_", "animal": "ANIM_", "environment": "ENV_"}
    assert len({a.tag for a in assets}) == len(assets) > 30  # tags are unique
    assert all(a.tag.startswith(prefixes[a.asset_type]) for a in assets)
    assert {a.asset_type for a in assets} == set(prefixes)
    assert ("bus", "bus.jpg") in {(a.name, a.source_image_file) for a in assets if a.asset_type == "vehicle"}
    assert "china.jpg" in {a.source_image_file for a in assets if a.asset_type == "environment"}
    assert all(a.crop_path.is_file() for a in assets)


def test_character_crop_is_the_best_quality_face(demo_workspace: Settings) -> None:
    with read_workspace(demo_workspace) as ws:
        characters = ws.assets.list().of_type("character")
        faces = ws.faces.gallery("insightface")
    tags, quality = faces.data["identity_tag"], faces.data["quality_score"]
    assert characters
    for asset in characters:
        best = float(quality[tags == asset.tag].max())
        assert asset.quality == pytest.approx(best, abs=1e-6)
        assert asset.crop_path == Path(faces.data["crop_path"][tags == asset.tag][0])  # the best face's own crop


def test_face_crops_are_padded_and_clamped(demo_workspace: Settings) -> None:
    """Each crop is the face box grown by 30% of its width on each side, clamped to the image: exactly."""
    from PIL import Image

    unclamped = 0
    with read_workspace(demo_workspace) as ws:
        images = ws.images.list()
        faces_per_image = [ws.faces.of_image(record.image_id) for record in images]
    for record, faces in zip(images, faces_per_image, strict=True):
        for box, crop_path in zip(faces.xyxy, faces.data["crop_path"], strict=True):
            x1, _, x2, _ = (float(v) for v in box)
            grow = (x2 - x1) * 0.30  # the documented face padding
            left, right = max(0, int(np.floor(x1 - grow))), min(record.width, int(np.ceil(x2 + grow)))
            assert Image.open(crop_path).width == right - left, (record.file_name, crop_path)
            unclamped += left > 0 and right < record.width
    assert unclamped >= 10  # most faces are not at an edge: the padding itself is checked


def test_contact_sheet_and_run_metrics(demo_workspace: Settings) -> None:
    from PIL import Image

    with read_workspace(demo_workspace) as ws:
        path = ws.artifacts.latest("contact_sheet")
        n_images = ws.images.count()
        run = ws.runs.latest(kind="manifest")
    sheet = Image.open(path)
    assert sheet.width == 6 * 220 and sheet.height == -(-n_images // 6) * (220 + 54)  # tile + three caption lines
    assert run.metrics["images_total"] == n_images and run.metrics["seconds_detect"] > 0


def test_a_failure_after_reclustering_leaves_the_registry_as_it_was(
    demo_copy: Settings, samples_dir: Path, backends: Backends
) -> None:
    """Identities are deleted and rewritten on every run: a later failure must roll that back."""
    with read_workspace(demo_copy) as ws:
        before = ws.counts()
    # A directory where the contact sheet goes makes the run fail after clustering and assets.
    (demo_copy.workspace_files / "contact_sheet.png").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        run(samples_dir, demo_copy, backends, face_threshold=0.95)  # would split every person
    with read_workspace(demo_copy) as ws:
        after = ws.counts()
        status = ws.runs.list(limit=1)[0].status
    assert status == "failed"
    assert after == before


def test_a_missing_folder_creates_no_workspace(settings: Settings, backends: Backends, tmp_path: Path) -> None:
    with pytest.raises(InputNotFound, match="is not a folder"):
        run(tmp_path / "missing", settings, backends)
    assert not settings.database.exists()

"""Review and refine on real photos: corrections are events, honoured by every re-run, undoable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from refbench.cli import app
from refbench.describe import create_describer
from refbench.errors import CurationError, UnknownTagError
from refbench.generation.plan import PlanOptions
from refbench.pipelines import curation
from refbench.pipelines.curation import FaceChoice
from refbench.pipelines.manifest import Backends, ManifestOptions, run_manifest
from refbench.pipelines.plan import plan_scenes
from refbench.pipelines.read import WorkspaceReader
from refbench.settings import PROJECT_ROOT, Settings
from refbench.workbench.report import asset_rows
from typer.testing import CliRunner

from tests.conftest import read_workspace

LEADERS = ["obama_1.jpg", "obama_2.jpg", "macron_1.jpg", "macron_2.jpg", "sunak_1.jpg", "biden_1.jpg"]
# Cosines of these portraits (tests/golden/labelled_cosines.json): macron 0.52 (split at 0.6); at 0.05 sunak joins
# macron (mean 0.09); at -0.5 everyone merges.


def folder_of(tmp_path: Path, samples_dir: Path, names: list[str]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(samples_dir / name)
    return folder


def run(folder: Path, settings: Settings, backends: Backends, threshold: float, **options) -> object:
    return run_manifest(
        folder, settings=settings, options=ManifestOptions(face_threshold=threshold), backends=backends, **options
    )


def tags(settings: Settings) -> dict[str, str]:
    """Photo → identity tag (one face per photo here)."""
    with read_workspace(settings) as ws:
        faces = ws.faces.gallery("insightface")
    return dict(zip(faces.data["image_file"].tolist(), faces.data["identity_tag"].tolist(), strict=True))


def names(settings: Settings) -> dict[str, str]:
    with read_workspace(settings) as ws:
        return {a.tag: a.name for a in ws.assets.list() if a.named_by_user}


def state(settings: Settings) -> tuple:
    with read_workspace(settings) as ws:
        return tags(settings), names(settings), ws.counts()


def test_merge_and_names_hold_after_new_photos_and_other_thresholds(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = folder_of(tmp_path, samples_dir, LEADERS)
    run(folder, settings, backends, 0.6)
    before = tags(settings)
    assert before["macron_1.jpg"] != before["macron_2.jpg"]  # 0.52 < 0.6: the clustering splits him
    macron, obama = before["macron_1.jpg"], before["obama_1.jpg"]
    curation.merge_identities(settings, macron, [before["macron_2.jpg"]])
    curation.rename_identity(settings, macron, "Emmanuel Macron")
    curation.rename_identity(settings, obama, "Barack Obama")
    assert tags(settings)["macron_2.jpg"] == macron

    (folder / "obama_3.jpg").symlink_to(samples_dir / "obama_3.jpg")
    run(folder, settings, backends, 0.6)  # a new photo
    after = tags(settings)
    assert after["macron_1.jpg"] == after["macron_2.jpg"] == macron
    assert after["obama_3.jpg"] == after["obama_1.jpg"] == obama
    assert names(settings) == {macron: "Emmanuel Macron", obama: "Barack Obama"}

    run(folder, settings, backends, -0.5)  # a threshold that merges everyone...
    merged = tags(settings)
    assert merged["macron_1.jpg"] == merged["macron_2.jpg"] == macron
    assert merged["obama_1.jpg"] == obama != macron  # ...but two differently named people stay apart
    assert names(settings) == {macron: "Emmanuel Macron", obama: "Barack Obama"}

    run(folder, settings, backends, 0.3)
    assert tags(settings)["macron_2.jpg"] == macron and len(set(tags(settings).values())) == 4


def test_undo_restores_the_previous_state(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    run(folder_of(tmp_path, samples_dir, LEADERS), settings, backends, 0.6)
    automatic = state(settings)
    sunak, obama = automatic[0]["sunak_1.jpg"], automatic[0]["obama_1.jpg"]
    curation.merge_identities(settings, sunak, [obama])  # the target keeps its tag, though obama has two faces
    merged = state(settings)
    assert merged[0]["obama_1.jpg"] == merged[0]["obama_2.jpg"] == sunak
    curation.rename_identity(settings, sunak, "Rishi Sunak")
    assert state(settings) != merged
    assert curation.undo(settings).undone
    assert state(settings) == merged
    curation.undo(settings)
    assert state(settings) == automatic  # the absorbed identity gets its old tag back
    assert curation.undo(settings) is None
    assert [e.undone for e in curation.curation_log(settings)] == [True, True]


def test_a_split_face_never_rejoins_even_when_reprocessed(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    folder = folder_of(tmp_path, samples_dir, ["macron_1.jpg", "macron_2.jpg", "sunak_1.jpg"])
    run(folder, settings, backends, 0.05)
    wrong = tags(settings)
    assert len(set(wrong.values())) == 1  # sunak sits with macron at 0.05
    result = curation.split_identity(settings, wrong["sunak_1.jpg"], choice=FaceChoice(images=["sunak_1.jpg"]))
    split = tags(settings)
    assert split["sunak_1.jpg"] == result.event.payload["new_tag"] != split["macron_1.jpg"] == wrong["macron_1.jpg"]

    (folder / "biden_1.jpg").symlink_to(samples_dir / "biden_1.jpg")
    for threshold in (0.05, -0.5):
        run(folder, settings, backends, threshold)
        assert tags(settings)["sunak_1.jpg"] != tags(settings)["macron_1.jpg"], threshold
    assert tags(settings)["biden_1.jpg"] in (tags(settings)["sunak_1.jpg"], tags(settings)["macron_1.jpg"])

    redone = run(folder, settings, backends, -0.5, reprocess=("sunak_1.jpg",))  # analyzed again: same face id
    with read_workspace(settings) as ws:
        assert ws.images.processed_in(redone.run_id) == 2
    assert tags(settings)["sunak_1.jpg"] != tags(settings)["macron_1.jpg"]
    curation.undo(settings)
    assert len(set(tags(settings).values())) == 1


def test_redescribing_one_asset_changes_only_that_asset(demo_copy: Settings) -> None:
    def descriptions() -> dict[str, str | None]:
        with read_workspace(demo_copy) as ws:
            return {a.tag: a.reverse_prompt for a in ws.assets.list()}

    before = descriptions()
    result, summary = curation.describe_asset(demo_copy, "CHAR_13", describer=create_describer("local"))
    after = descriptions()
    assert summary.calls == 1 and summary.by_status["ok"] == 1
    assert before["CHAR_13"] is None and "Head-and-shoulders photo of a person" in after["CHAR_13"]
    assert {t: v for t, v in after.items() if t != "CHAR_13"} == {t: v for t, v in before.items() if t != "CHAR_13"}
    assert result.event.kind == "describe"
    curation.undo(demo_copy)
    assert descriptions() == before


def test_names_types_and_exclusions_reach_views_reports_selection_and_prompts(demo_copy: Settings) -> None:
    curation.rename_identity(demo_copy, "CHAR_13", "Barack Obama")
    curation.rename_asset(demo_copy, "CHAR_12", "Emmanuel Macron")
    curation.retype_asset(demo_copy, "PROP_01", "vehicle")
    curation.exclude(demo_copy, tag="ENV_09")
    with read_workspace(demo_copy) as ws:
        assets = ws.assets.list()
        counts = ws.assets.counts_by_type()
    assert assets["CHAR_13"].name == "Barack Obama" and assets["CHAR_13"].named_by_user
    assert assets["PROP_01"].asset_type == "vehicle" and "ENV_09" not in assets
    assert counts["vehicle"] == 4
    assert ("CHAR_13", "character", "Barack Obama") in [r[1:4] for r in asset_rows(WorkspaceReader(demo_copy.database))]

    scenes = {
        p.scene.scene_id: p
        for p in plan_scenes(
            PROJECT_ROOT / "data" / "samples" / "scenes.yaml",
            settings=demo_copy,
            options=PlanOptions(),
            store_results=False,
        ).plans
    }
    greeting = scenes["s02_greeting"]
    reasons = {s.tag: s.reason for s in greeting.selection.chosen}
    assert reasons["CHAR_13"].startswith("'Barack Obama'") and "'Emmanuel Macron'" in reasons["CHAR_12"]
    assert "CHAR_13: Barack Obama" in greeting.request.prompt and "CHAR_12: Emmanuel Macron" in greeting.request.prompt


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: curation.merge_identities(s, "CHAR_13", ["CHAR_13"]), CurationError, "distinct tags"),
        (lambda s: curation.merge_identities(s, "CHAR_13", ["char_12"]), UnknownTagError, "did you mean 'CHAR_12'"),
        (
            lambda s: curation.split_identity(s, "CHAR_13", choice=FaceChoice(faces=["nope"])),
            CurationError,
            "face nope is not a face id",
        ),
        (
            lambda s: curation.split_identity(s, "CHAR_03", choice=FaceChoice(images=["biden_1.jpg"])),
            CurationError,
            "CHAR_03 has no other face",
        ),
        (lambda s: curation.retype_asset(s, "PROP_01", "logo"), ValueError, "asset type must be one of"),
        (lambda s: curation.rename_identity(s, "CHAR_13", "  "), ValueError, "a name cannot be empty"),
    ],
)
def test_mistakes_are_refused_before_anything_is_recorded(demo_copy: Settings, call, error, match: str) -> None:
    with read_workspace(demo_copy) as ws:
        runs = len(ws.runs.list(limit=1000))
    with pytest.raises(error, match=match):
        call(demo_copy)
    with read_workspace(demo_copy) as ws:
        assert ws.curation.count() == 0 and len(ws.runs.list(limit=1000)) == runs


def test_the_command_line_records_what_was_typed(demo_copy: Settings) -> None:
    db = ["--db", str(demo_copy.database)]
    runner = CliRunner()
    listed = runner.invoke(app, ["identities", "list", "--json", *db])
    cards = {c["tag"]: c for c in json.loads(listed.output)}
    assert listed.exit_code == 0 and cards["CHAR_13"]["faces"][0]["face_id"] == cards["CHAR_13"]["best_face_id"]
    face = next(f["face_id"] for f in cards["CHAR_13"]["faces"] if f["image_file"] == "obama_2.jpg")
    result = runner.invoke(app, ["assets", "set-reference", "CHAR_13", "--face", face, *db])
    assert result.exit_code == 0 and "set_reference: CHAR_13 shown by" in result.output
    with read_workspace(demo_copy) as ws:
        assert ws.assets.list()["CHAR_13"].crop_path.name == f"{face}.jpg"
        (event,) = ws.curation.events()
    assert event.command.startswith("refbench assets set-reference CHAR_13 --face")


def test_corrections_hold_for_another_face_model(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    """A merge and a name made on insightface's faces reach SFace's faces of the same photos (same image, overlapping
    box): at 0.9 SFace alone would split everyone, yet the merged person stays one identity, with its tag and name."""
    folder = folder_of(tmp_path, samples_dir, LEADERS)
    run(folder, settings, backends, 0.6)
    before = tags(settings)
    macron = before["macron_1.jpg"]
    curation.merge_identities(settings, macron, [before["macron_2.jpg"]])
    curation.rename_identity(settings, macron, "Emmanuel Macron")
    run_manifest(
        folder, settings=settings, options=ManifestOptions(face_model="opencv-yunet-sface", face_threshold=0.9)
    )
    with read_workspace(settings) as ws:
        faces = ws.faces.gallery("opencv-yunet-sface")
        assets = ws.assets.list()
    sface = dict(zip(faces.data["image_file"].tolist(), faces.data["identity_tag"].tolist(), strict=True))
    assert sface["macron_1.jpg"] == sface["macron_2.jpg"] == macron
    assert sface["obama_1.jpg"] != sface["obama_2.jpg"]  # 0.9 splits a person nobody corrected
    assert assets[macron].name == "Emmanuel Macron" and assets[macron].identity_id == f"opencv-yunet-sface/{macron}"

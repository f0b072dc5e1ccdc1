"""Notebook 06's gallery and the corrections-to-ground-truth study, on real photos."""

from __future__ import annotations

from pathlib import Path

from refbench.pipelines.curation_study import run_corrections_study
from refbench.pipelines.manifest import Backends
from refbench.settings import PROJECT_ROOT, Settings
from refbench.workbench.curation import CurationGallery, load_cards, plot_gallery

from tests.conftest import read_workspace
from tests.test_curation import LEADERS, folder_of


def test_gallery_buttons_call_the_library_and_redraw(demo_copy: Settings) -> None:
    gallery = CurationGallery(demo_copy)
    gallery.select([c.faces[0].face_id for c in gallery.cards if c.tag in ("CHAR_06", "CHAR_07")])
    assert gallery.press(gallery.merge_selected) == "#1 merge: CHAR_07 into CHAR_06 (16 identities)"
    assert "CHAR_07" not in {c.tag for c in gallery.cards}  # redrawn from the registry
    gallery.select([gallery.cards[0].faces[0].face_id])
    assert gallery.press(gallery.merge_selected).startswith("refused: merge: tick faces of at least two identities")
    assert "undone #1 merge" in gallery.press(gallery.undo) and "CHAR_07" in {c.tag for c in gallery.cards}
    with read_workspace(demo_copy) as ws:
        assert [e.command for e in ws.curation.events()] == [
            "python: refbench.pipelines.curation.merge_identities('CHAR_06', ['CHAR_07'])"
        ]


def test_corrections_to_ground_truth_are_counted_and_hold(
    tmp_path: Path, samples_dir: Path, settings: Settings, backends: Backends
) -> None:
    truth = tmp_path / "truth.csv"
    lines = (PROJECT_ROOT / "data" / "samples" / "face_identities.csv").read_text().splitlines()
    truth.write_text("\n".join([lines[0], *(line for line in lines[1:] if line.split(",")[0] in LEADERS)]) + "\n")
    folder = folder_of(tmp_path, samples_dir, LEADERS)
    later = folder_of(tmp_path / "later", samples_dir, ["obama_3.jpg"])
    results = run_corrections_study(
        settings, photos=[folder], truth_file=truth, thresholds=[0.05, 0.6], new_photos=later, backends=backends
    )
    low, high = results
    assert (low.splits, low.merges, high.splits, high.merges) == (1, 0, 0, 1)
    assert low.f1_automatic < 1 and high.f1_automatic < 1
    assert low.f1_corrected == high.f1_corrected == 1.0
    assert (low.f1_all_undone, high.f1_all_undone) == (low.f1_automatic, high.f1_automatic)
    assert low.held_after_rerun == high.held_after_rerun == low.held_after_new_photos == 1.0
    report = (settings.reports_dir / "curation_study.md").read_text()
    assert "refbench identities merge" in report
    with read_workspace(settings) as ws:
        (run_,) = ws.runs.list(kind="curation_study")
    assert {m.label for m in ws_metrics(settings, run_.run_id)} == {"threshold 0.05", "threshold 0.6"}


def ws_metrics(settings: Settings, run_id: str) -> list:
    with read_workspace(settings) as ws:
        return ws.runs.metrics(run_id)


def test_gallery_figure_has_one_row_per_identity(demo_workspace: Settings) -> None:

    cards = load_cards(demo_workspace)
    figure = plot_gallery(cards[:3], max_faces=4)
    assert len(figure.axes) == 3 * max(len(c.faces) for c in cards[:3])

"""Verification calibration: metric functions vs hand-computed cases and scikit-learn, the dev set, storage,
the CLI, the Prefect flow and the notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from _prefect_harness import shared_harness
from prefect.flows import load_flow_from_entrypoint
from refbench.cli import app
from refbench.errors import CalibrationError, InputNotFound, OptionError
from refbench.faces import create_face_analyzer
from refbench.identity.calibration import (
    accuracy_at,
    best_accuracy_threshold,
    calibrate,
    confusion_at,
    embed_images,
    gaussian_eer_threshold,
    load_identities,
    load_pairs,
    pairs_from_identities,
    threshold_at_far,
    verification_metrics,
)
from refbench.pipelines.common import resolve_threshold
from refbench.registry import Workspace
from refbench.settings import PROJECT_ROOT
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from tests.conftest import read_workspace

IDENTITIES = PROJECT_ROOT / "data" / "samples" / "identities.csv"
NOTEBOOK = PROJECT_ROOT / "notebooks" / "02_face_thresholds.ipynb"

# Six pairs: genuine {0.9, 0.8, 0.3}, impostor {0.4, 0.2, 0.1}.
SCORES = np.array([0.9, 0.8, 0.4, 0.3, 0.2, 0.1])
SAME = np.array([True, True, False, True, False, False])


def test_auc_hand_computed_and_scikit_learn() -> None:
    m = verification_metrics(SCORES, SAME, current_threshold=0.5)
    # genuine beats impostor in 8 of the 9 (genuine, impostor) pairings: only 0.3 < 0.4
    assert m.auc == pytest.approx(8 / 9)
    assert m.auc == pytest.approx(roc_auc_score(SAME, SCORES))
    assert (m.n_genuine, m.n_impostor, m.genuine_min, m.impostor_max) == (3, 3, 0.3, 0.4)
    assert m.margin == pytest.approx(-0.1)


def test_eer_hand_computed() -> None:
    m = verification_metrics(SCORES, SAME, current_threshold=0.5)
    # accepting score >= 0.4: FAR 1/3 (0.4), FRR 1/3 (0.3) -> EER 1/3; threshold between 0.4 and the next score 0.3
    assert m.eer == pytest.approx(1 / 3)
    assert m.eer_threshold == pytest.approx(0.35)


def test_separable_scores_put_every_threshold_in_the_gap() -> None:
    scores, same = np.array([0.9, 0.7, 0.2, 0.1]), np.array([True, True, False, False])
    m = verification_metrics(scores, same, current_threshold=0.5)
    assert (m.auc, m.eer, m.best_accuracy) == (1.0, 0.0, 1.0)
    assert m.eer_threshold == pytest.approx(0.45) and m.best_accuracy_threshold == pytest.approx(0.45)
    assert m.best_accuracy_interval == pytest.approx((0.2, 0.7))


def test_best_accuracy_prefers_the_widest_gap() -> None:
    # 5/6 right either between 0.4 and 0.8 (miss 0.3) or between 0.2 and 0.3 (accept 0.4): the first gap is wider
    threshold, accuracy, interval = best_accuracy_threshold(SCORES, SAME)
    assert accuracy == pytest.approx(5 / 6)
    assert threshold == pytest.approx(0.6) and interval == pytest.approx((0.4, 0.8))


@pytest.mark.parametrize(
    ("threshold", "counts", "accuracy"),
    [
        (0.5, {"tp": 2, "fp": 0, "tn": 3, "fn": 1}, 5 / 6),
        (0.3, {"tp": 3, "fp": 1, "tn": 2, "fn": 0}, 5 / 6),  # >= : a score equal to the threshold is accepted
        (0.95, {"tp": 0, "fp": 0, "tn": 3, "fn": 3}, 0.5),
        (0.0, {"tp": 3, "fp": 3, "tn": 0, "fn": 0}, 0.5),
    ],
)
def test_confusion_and_accuracy(threshold: float, counts: dict, accuracy: float) -> None:
    assert confusion_at(SCORES, SAME, threshold) == counts
    assert accuracy_at(SCORES, SAME, threshold) == pytest.approx(accuracy)


@pytest.mark.parametrize(("target", "allowed_above"), [(1e-2, 1), (1e-3, 0), (5e-2, 5)])
def test_threshold_at_far(target: float, allowed_above: int) -> None:
    impostor = np.arange(100) / 100.0  # 0.00 .. 0.99
    threshold = threshold_at_far(impostor, target)
    assert np.sum(impostor >= threshold) == allowed_above <= target * len(impostor)
    assert np.sum(impostor >= np.nextafter(threshold, -np.inf)) > target * len(impostor)  # lowest such threshold


def test_far_resolvability_and_tar() -> None:
    m = verification_metrics(SCORES, SAME, current_threshold=0.5)
    assert m.far_resolvable == {1e-2: False, 1e-3: False}  # 3 impostors resolve only FAR >= 1/3
    assert m.threshold_far[1e-2] == pytest.approx(0.4) and m.tar_at_far[1e-2] == pytest.approx(2 / 3)


def test_gaussian_eer_threshold_hand_computed() -> None:
    # means 0.7 and 0.1 with equal spreads: halfway
    assert gaussian_eer_threshold(np.array([0.6, 0.8]), np.array([0.0, 0.2])) == pytest.approx(0.4)
    # a genuine spread three times the impostor one moves it towards the impostors: 0.1 + 0.6 * 1/4
    assert gaussian_eer_threshold(np.array([0.4, 1.0]), np.array([0.0, 0.2])) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("scores", "same", "message"),
    [
        ([0.5, 0.4], [True, True], "got 2 same and 0 different"),
        ([0.5, 0.4], [False, False], "got 0 same and 2 different"),
    ],
)
def test_metrics_need_both_kinds_of_pairs(scores, same, message) -> None:
    with pytest.raises(CalibrationError, match=message):
        verification_metrics(np.array(scores), np.array(same), current_threshold=0.3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,same\nx.jpg,y.jpg,maybe\n", "line 2: 'same' must be one of"),
        ("left,right,same\nx.jpg,y.jpg,1\n", r"missing column\(s\) \['a', 'b'\]"),
        ("a,b,same\n", "no rows"),
    ],
)
def test_pairs_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message):
        load_pairs(path)


def test_pairs_file_values(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("a,b,same\nx.jpg,y.jpg,1\nx.jpg,z.jpg,false\ny.jpg,z.jpg,Yes\n")
    assert [p.same for p in load_pairs(path)] == [True, False, True]


def test_identities_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("file,identity\nx.jpg,anna\nx.jpg,bob\n")
    with pytest.raises(CalibrationError, match="'x.jpg' labelled both 'anna' and 'bob'"):
        load_identities(path)
    with pytest.raises(InputNotFound, match="labels file not found"):
        load_identities(tmp_path / "missing.csv")


def test_all_pairs_of_the_dev_set() -> None:
    pairs = pairs_from_identities(load_identities(IDENTITIES))
    assert len(pairs) == 12 * 11 // 2
    assert sum(p.same for p in pairs) == 6 + 1 + 1  # obama x4, macron x2, ardern x2


@pytest.fixture(scope="module")
def sface():
    return create_face_analyzer("opencv-yunet-sface", model_dir=PROJECT_ROOT / "data" / "models")


@pytest.mark.parametrize("model", ["insightface", "opencv-yunet-sface"])
def test_dev_set_calibration(samples_dir: Path, backends, sface, model: str) -> None:
    analyzer = backends.faces if model == "insightface" else sface
    calibration = calibrate(
        pairs_from_identities(load_identities(IDENTITIES)),
        images_dir=samples_dir,
        analyzer=analyzer,
        current_threshold=0.3,
        source=str(IDENTITIES),
    )
    m = calibration.metrics
    assert m.auc > 0.99
    assert m.eer < 0.01 and m.best_accuracy == 1.0
    assert m.margin > 0.15  # lowest same-person pair well above the highest different-person pair
    low, high = m.best_accuracy_interval
    assert low < calibration.recommended_threshold <= high
    assert calibration.no_face == [] and calibration.scores.skipped == []


def test_images_without_a_face_are_counted(samples_dir: Path, backends) -> None:
    identities = {**load_identities(IDENTITIES), "cat.png": "chelsea_the_cat", "coffee.png": "a_cup"}
    pairs = pairs_from_identities(identities)
    embedded = embed_images(identities, images_dir=samples_dir, analyzer=backends.faces)
    calibration = calibrate(
        pairs, images_dir=samples_dir, analyzer=backends.faces, current_threshold=0.3, source="test", embedded=embedded
    )
    assert sorted(calibration.no_face) == ["cat.png", "coffee.png"]
    assert len(calibration.scores.skipped) == 14 * 13 // 2 - 12 * 11 // 2
    assert calibration.n_images == 14


def test_saved_calibration_becomes_the_default(samples_dir: Path, backends, settings) -> None:
    calibration = calibrate(
        pairs_from_identities(load_identities(IDENTITIES)),
        images_dir=samples_dir,
        analyzer=backends.faces,
        current_threshold=0.3,
        source="test",
    )
    with Workspace.open(settings) as ws:
        ws.calibrations.save(calibration, run_id=None, set_default=True)
        n_calibrations = ws.calibrations.count()
        stored = ws.calibrations.get(calibration.calibration_id)
        n_pairs = ws.calibrations.pair_count(calibration.calibration_id)
        threshold = ws.thresholds.get("insightface")
    assert n_calibrations == 1
    assert (stored.auc, stored.n_genuine, stored.recommended_threshold) == pytest.approx(
        (calibration.metrics.auc, 8, calibration.recommended_threshold)
    )
    assert n_pairs == 66 and threshold.source == calibration.calibration_id
    assert resolve_threshold(settings, "insightface").value == pytest.approx(calibration.recommended_threshold)


def test_default_threshold_must_be_a_cosine(settings) -> None:
    with (
        Workspace.open(settings) as ws,
        pytest.raises(OptionError, match=r"threshold must be a cosine in \[-1, 1\], got 1.5"),
    ):
        ws.thresholds.set("insightface", 1.5, source="test")


def test_cli_calibrate_prints_figures_and_stores_the_default(samples_dir: Path, demo_copy, monkeypatch) -> None:
    settings = demo_copy  # a workspace where the manifest ran: its identities are scored too
    monkeypatch.setenv("REFBENCH_REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("REFBENCH_MODEL_DIR", str(settings.models))
    result = CliRunner().invoke(
        app,
        ["calibrate", "--identities", str(IDENTITIES), "--images", str(samples_dir), "--db", str(settings.database)],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    for label in (
        "AUC",
        "EER",
        "threshold at FAR 0.01",
        "best accuracy",
        "accuracy at current default",
        "recommended threshold",
        "BCubed F1",
        "workspace identities",
    ):
        assert label in result.output
    plots = sorted(settings.reports_dir.glob("calibration/*.png"))
    assert [p.name.rsplit("-", 1)[1] for p in plots] == ["hist.png", "roc.png", "sweep.png"]
    with read_workspace(settings) as ws:
        (run,) = ws.runs.list(kind="calibrate")
    auc, bcubed = run.metrics["auc"], run.metrics["manifest_bcubed_f1"]
    assert auc > 0.99 and run.status == "completed" and bcubed >= 0.97
    assert 0.15 < resolve_threshold(settings, "insightface").value < 0.52


def test_cli_needs_exactly_one_labels_file(samples_dir: Path, settings) -> None:
    result = CliRunner().invoke(app, ["calibrate", "--images", str(samples_dir), "--db", str(settings.database)])
    assert result.exit_code != 0
    assert isinstance(result.exception, CalibrationError)
    assert "exactly one of a pairs file" in str(result.exception)


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server for the session (shared with other modules)."""
    yield from shared_harness()


@pytest.mark.slow
def test_calibrate_flow(prefect_harness, samples_dir: Path, settings, monkeypatch) -> None:
    monkeypatch.setenv("REFBENCH_MODEL_DIR", str(settings.models))
    flow = load_flow_from_entrypoint(str(PROJECT_ROOT / "flows" / "calibrate.py") + ":calibrate_flow")
    result = flow(
        images_dir=samples_dir, identities_file=IDENTITIES, db_path=settings.database, reports_dir=settings.reports_dir
    )
    assert result["auc"] > 0.99 and len(result["plots"]) == 3
    with read_workspace(settings) as ws:
        run = ws.runs.get(result["run_id"])
        names = {m.name for m in ws.runs.metrics(result["run_id"])}
        threshold = ws.thresholds.get("insightface")
    assert run.run_id == result["run_id"]
    assert run.status == "completed" and run.parameters["orchestrator"] == "prefect"
    assert {"auc", "eer", "eer_threshold", "threshold_far_0.01", "cluster_bcubed_f1"} <= names
    assert threshold.value == pytest.approx(result["recommended_threshold"], abs=1e-6)


@pytest.mark.slow
def test_notebook_runs_with_tiny_parameters(tmp_path: Path) -> None:
    """In report mode the explorer is a still: its state, counts, curves, flipping pairs and clusters."""
    from refbench.pipelines.report import execute_notebook

    out = tmp_path / "02_face_thresholds.ipynb"
    execute_notebook(NOTEBOOK, out, parameters={"face_models": ["insightface"], "max_images": 5}, timeout_s=300)
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4  # ROC, histogram, sweep; the explorer's
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<b>threshold</b>: 0.30" in html and "clusters at 0.30" in html
    assert "distractor face(s) alone in their own cluster" in html  # the group photos' faces took part


def test_notebook_holds_no_logic() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    assert not [c for c in code if any(line.lstrip().startswith(("def ", "class ")) for line in c.source.splitlines())]

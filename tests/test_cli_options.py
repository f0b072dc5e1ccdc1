"""A fast, forgiving command line: options refused before any work, did-you-mean for names, failed runs explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from refbench.cli import app
from refbench.cli.app import CleanTier, Describer, Detector, FaceModel
from refbench.errors import OptionError
from refbench.registry import Workspace
from refbench.settings import PROJECT_ROOT, Settings
from typer.testing import CliRunner

runner = CliRunner()
REFBENCH = str(Path(sys.executable).with_name("refbench"))
SCENES = PROJECT_ROOT / "data" / "samples" / "scenes.yaml"


def test_cli_choices_are_the_registries() -> None:
    """The CLI names its choices without importing the backends; they must stay the registries' keys."""
    from refbench.clean import TIERS
    from refbench.describe import DESCRIBERS
    from refbench.detect import OBJECT_DETECTORS
    from refbench.faces import FACE_ANALYZERS

    assert get_args(Detector) == tuple(OBJECT_DETECTORS)
    assert get_args(FaceModel) == tuple(FACE_ANALYZERS)
    assert set(get_args(CleanTier)) == set(TIERS)
    assert set(get_args(Describer)) == set(DESCRIBERS)


def test_help_loads_no_heavy_library() -> None:
    """What makes `refbench --help` fast: the command line imports no numeric, model or database library."""
    heavy = ("numpy", "cv2", "duckdb", "torch", "onnxruntime", "pydantic_settings", "pandas", "PIL", "nbformat")
    code = f"import sys, refbench.cli; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["manifest", "PHOTOS", "--detector", "yolo"], "'yolo' is not one of 'opencv-darknet', 'ultralytics'"),
        (["manifest", "PHOTOS", "--face-model", "arcface"], "'arcface' is not one of"),
        (["manifest", "PHOTOS", "--face-threshold", "1.5"], "less than or equal to 1"),
        (["clean", "--tier", "gray"], "'gray' is not one of 'original', 'rembg-gray', 'generative'"),
        (["describe", "--backend", "openai"], "'openai' is not one of 'local', 'gemini'"),
        (["calibrate", "--images", "PHOTOS", "--face-model", "x"], "'x' is not one of"),
        (["plan", str(SCENES), "--mode", "vertx"], "'vertx' is not one of 'gemini', 'vertex'"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "ws" / "refbench.duckdb"
    args = [str(tmp_path) if a == "PHOTOS" else a for a in args]
    result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not db.exists()


def test_submit_without_vertex_mode_is_refused_before_planning(demo_copy: Settings) -> None:
    command = [REFBENCH, "plan", str(SCENES), "--submit", "--db", str(demo_copy.database)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip().splitlines() == [
        "error: google-genai 3.4 sends generate_videos only in Vertex mode: plan with --mode vertex"
    ]  # one line: no selection table, no request JSON printed first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clean", "char_01", "--tier", "original"], "unknown tag 'char_01'; did you mean 'CHAR_01'?"),
        (["evaluate-identity", "--reference", "char_01", "OUT"], "unknown tag 'char_01'; did you mean 'CHAR_01'?"),
        (["runs", "list", "--kind", "manifst"], "unknown run kind 'manifst'; did you mean 'manifest'?"),
    ],
)
def test_mistyped_names_get_a_did_you_mean(demo_copy: Settings, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / "out.png") if a == "OUT" else a for a in args]
    command = [REFBENCH, *args, "--db", str(demo_copy.database)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert (result.stdout + result.stderr).strip().splitlines() == [f"error: {message}"]


def test_version_and_short_help() -> None:
    from refbench import __version__

    assert runner.invoke(app, ["--version"]).output.strip() == f"refbench {__version__}"
    short = runner.invoke(app, ["manifest", "-h"], env={"COLUMNS": "200"})
    assert short.exit_code == 0 and "--face-threshold" in short.output


def test_failed_runs_say_why_in_list_and_compare(settings: Settings) -> None:
    with Workspace.open(settings) as ws:
        done = ws.runs.start("manifest", {"face_threshold": 0.3}).run_id
        ws.runs.tracked(done).finish(status="completed")
        with pytest.raises(OptionError), ws.runs.track("manifest", {"face_threshold": 0.5}):
            raise OptionError("no face in reference.jpg: pick another photo")
        failed = ws.runs.list(kind="manifest")[0].run_id
    listing = runner.invoke(app, ["runs", "list", "--db", str(settings.database)], env={"COLUMNS": "250"})
    assert listing.exit_code == 0, listing.output
    line = next(row for row in listing.output.splitlines() if failed in row)
    assert "failed" in line and "OptionError: no face in reference.jpg" in line
    compared = runner.invoke(app, ["runs", "compare", done, failed, "--db", str(settings.database)])
    assert f"{failed} failed: OptionError: no face in reference.jpg: pick another photo" in compared.output


def test_doctor_says_how_to_use_ultralytics_without_contradicting_itself() -> None:
    from refbench.cli.doctor import ultralytics_state

    state = ultralytics_state()
    assert state.startswith("available with --detector-model PATH") and "unavailable" not in state


def test_ultralytics_without_a_model_file_names_the_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [REFBENCH, "manifest", str(tmp_path), "--detector", "ultralytics", "--db", str(tmp_path / "ws.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "pass --detector-model PATH" in result.stdout + result.stderr
    assert not (tmp_path / "ws.duckdb").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"detector": "yolo"}, "No object detector backend named 'yolo'; available: opencv-darknet, ultralytics"),
        ({"face_model": "arcface"}, "No face model backend named 'arcface'; available: insightface"),
        ({"face_threshold": 1.5}, r"face threshold must be a cosine similarity in \[-1, 1\], got 1.5"),
    ],
)
def test_manifest_options_are_checked_when_made(options: dict, message: str) -> None:
    """The Python API and the Prefect flow refuse a bad option at once, not after loading models."""
    from refbench.errors import ConfigError
    from refbench.pipelines.manifest import ManifestOptions

    with pytest.raises(ConfigError, match=message):
        ManifestOptions(**options)

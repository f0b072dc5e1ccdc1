"""Long commands say how far they have come: one line per step when stderr is a log (a bar in a terminal)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from refbench.settings import PROJECT_ROOT, Settings

REFBENCH = str(Path(sys.executable).with_name("refbench"))
SAMPLES = PROJECT_ROOT / "data" / "samples"


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([REFBENCH, *args], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def steps(stderr: str, title: str) -> list[tuple[int, int, str]]:
    return [(int(d), int(t), s) for d, t, s in re.findall(rf"^{re.escape(title)}: (\d+)/(\d+) (.*)$", stderr, re.M)]


def test_models_pull_names_each_file() -> None:
    found = steps(run("models", "pull").stderr, "models pull")
    assert [done for done, _, _ in found] == list(range(len(found))) and found[0][1] == len(found) >= 7
    assert any(step.endswith("yolov3-tiny.weights") for _, _, step in found)


def test_clean_names_each_asset(demo_copy: Settings) -> None:
    result = run("clean", "CHAR_01", "ENV_02", "--tier", "original", "--db", str(demo_copy.database))
    assert steps(result.stderr, "clean (original)") == [(0, 2, "CHAR_01"), (1, 2, "ENV_02")]


@pytest.mark.slow
def test_calibrate_names_each_photo(settings: Settings) -> None:
    result = run(
        *("calibrate", "--images", str(SAMPLES / "photos"), "--identities", str(SAMPLES / "identities.csv")),
        *("--distractors", str(SAMPLES / "distractors"), "--db", str(settings.database)),
    )
    found = steps(result.stderr, "calibrate: embedding faces")
    labelled = [step for _, total, step in found if not step.startswith("distractors:")]
    assert len(labelled) == 12 and "obama_1.jpg" in labelled
    assert [step for _, _, step in found if step.startswith("distractors:")][0] == "distractors: bus.jpg"

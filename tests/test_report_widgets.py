"""`refbench report` on the widget notebooks: finishes quickly every time, says which cell runs, and shows each
explorer as a static still (no `VBox(children=...)` text, no wait on a front-end that never comes).

With plain papermill, notebooks 01 and 03 sat at the 300 s cell timeout about one run in three: the
explorers' Output widgets waited for a front-end. Each notebook runs three times here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from refbench.settings import PROJECT_ROOT, Settings

REFBENCH = str(Path(sys.executable).with_name("refbench"))
RUNS = 3
LIMIT_S = 30  # the stall this guards against lasted 300 s; a healthy run takes ~8-15 s on a busy 2-core machine
WIDGET_REPR = re.compile(r"\b(VBox|HBox|interactive|Output|Dropdown|FloatSlider)\(")
EMBEDDED_IMAGE = re.compile(r'<img[^>]+src="data:image/(?:png|jpeg);base64,')
STATE = {
    "01_detection_explorer": "<b>image</b>: dog.jpg · <b>detector</b>: stored · <b>confidence</b>: 0.40",
    "03_reference_selection": "<b>shot</b>: two_shot",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STATE))
def test_widget_notebook_reports_render_a_still_every_time(demo_copy: Settings, tmp_path: Path, name: str) -> None:
    notebook = PROJECT_ROOT / "notebooks" / f"{name}.ipynb"
    parameters = ["-p", "db_path", str(demo_copy.database)]
    if name == "01_detection_explorer":
        parameters += ["-p", "image_name", "dog.jpg"]
    for attempt in range(RUNS):
        out = tmp_path / f"run{attempt}"
        start = time.perf_counter()
        result = subprocess.run(
            [REFBENCH, "report", str(notebook), *parameters, "--reports-dir", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seconds = time.perf_counter() - start
        assert result.returncode == 0, result.stdout + result.stderr
        assert seconds < LIMIT_S, f"run {attempt + 1} took {seconds:.1f} s"
        progress = re.findall(rf"report {name}: (\d+)/(\d+) cell", result.stderr)
        assert progress and [int(done) for done, _ in progress] == list(range(len(progress)))  # every cell, in order
        (html,) = out.glob("*.html")
        text = html.read_text()
        assert not WIDGET_REPR.search(text), WIDGET_REPR.search(text)[0]
        assert STATE[name] in text  # the still says which state it shows
        assert EMBEDDED_IMAGE.search(text)
        assert "<title>Notebook</title>" not in text

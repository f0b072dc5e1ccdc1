"""Every notebook in notebooks/ runs headless through papermill with tiny parameters, and stays thin."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from refbench.pipelines.report import execute_notebook, notebook_parameters
from refbench.settings import PROJECT_ROOT, Settings

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
# Small, fast parameters per notebook; the workspace database is filled in for every notebook that takes one.
TINY: dict[str, dict] = {
    "01_detection_explorer": {"image_name": "dog.jpg", "detector": "opencv-darknet", "min_confidence": 0.3},
    "02_face_thresholds": {"max_images": 8},
    "04_manifest_report": {"max_faces": 2},
    "05_asset_library": {"index_first": True, "index_ocr": False, "query": "a dog", "k": 4},
}
LOGIC = re.compile(r"^\s*(async\s+def|def|class)\s", re.MULTILINE)


def workspace_parameters(notebook: Path, workspace: Settings, tmp_path: Path) -> dict:
    """Parameters the notebook declares that a test workspace can fill: database, models, photos, outputs."""
    known = {
        "db_path": str(workspace.database),
        "model_dir": str(workspace.models),
        "photos_dir": str(PROJECT_ROOT / "data" / "samples" / "photos"),
        "images_dir": str(PROJECT_ROOT / "data" / "samples" / "photos"),
        "reports_dir": str(tmp_path / "reports"),
        "out_dir": str(tmp_path / "out"),
    }
    declared = notebook_parameters(notebook)
    return {name: value for name, value in known.items() if name in declared} | TINY.get(notebook.stem, {})


def test_notebooks_exist() -> None:
    assert {"01_detection_explorer", "04_manifest_report"} <= {nb.stem for nb in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin(notebook: Path) -> None:
    """One `parameters` cell, no function or class definitions (CONVENTIONS.md 9)."""
    notebook_parameters(notebook)  # raises unless exactly one cell is tagged `parameters`
    cells = nbformat.read(notebook, as_version=4).cells
    defined = [c.source for c in cells if c.cell_type == "code" and LOGIC.search(c.source)]
    assert not defined, f"{notebook.name} defines functions or classes: move them into lib/refbench"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_headless(notebook: Path, demo_copy: Settings, tmp_path: Path) -> None:
    output = tmp_path / notebook.name
    execute_notebook(notebook, output, parameters=workspace_parameters(notebook, demo_copy, tmp_path), timeout_s=600)
    executed = nbformat.read(output, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(
        o.get("output_type") in ("display_data", "execute_result") for c in executed.cells for o in c.get("outputs", [])
    )

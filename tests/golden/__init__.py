"""Golden outputs (rembg / scikit-image manner): expected values on disk, compared with tolerances.

A mismatch writes what was computed and a list of the differing entries to the test's ``tmp_path`` and the
failure names those files, so a human can look before anyone updates a golden file. Update on purpose with
``REFBENCH_UPDATE_GOLDEN=1 pytest tests/test_golden.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent


Tolerance = float | dict[str, float]  # one absolute tolerance, or one per field name ("*": the rest)


def differences(expected: Any, actual: Any, *, atol: Tolerance, where: str = "$") -> list[str]:
    """Paths (``$.rows[3].score``) where ``actual`` differs from ``expected``; numbers within ``atol`` agree.

    ``atol`` may map field names to tolerances: ``{"xyxy": 1.0, "score": 0.01, "*": 0}``.
    """
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{where}.{k}: missing" for k in expected.keys() - actual.keys()]
        found += [f"{where}.{k}: unexpected" for k in actual.keys() - expected.keys()]
        for key in sorted(expected.keys() & actual.keys()):
            inner = atol[key] if isinstance(atol, dict) and key in atol else atol
            found += differences(expected[key], actual[key], atol=inner, where=f"{where}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(actual)} items, expected {len(expected)}"]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [d for i, (e, a) in pairs for d in differences(e, a, atol=atol, where=f"{where}[{i}]")]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool):
        tolerance = atol.get("*", 0.0) if isinstance(atol, dict) else atol
        close = math.isclose(expected, actual, abs_tol=tolerance, rel_tol=0)
        return [] if close else [f"{where}: {actual!r}, expected {expected!r} (atol {tolerance})"]
    return [] if expected == actual else [f"{where}: {actual!r}, expected {expected!r}"]


def check_golden(name: str, actual: Any, *, tmp_path: Path, atol: Tolerance) -> None:
    """Compare ``actual`` (JSON-able) with ``golden/<name>.json``; on mismatch write both views to ``tmp_path``."""
    path = GOLDEN_DIR / f"{name}.json"
    actual = json.loads(json.dumps(actual))  # the same types a file gives back
    if os.environ.get("REFBENCH_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=1) + "\n")
    expected = json.loads(path.read_text())
    found = differences(expected, actual, atol=atol)
    if found:
        (tmp_path / f"{name}.actual.json").write_text(json.dumps(actual, indent=1) + "\n")
        (tmp_path / f"{name}.diff.txt").write_text("\n".join(found) + "\n")
        raise AssertionError(
            f"{len(found)} value(s) differ from {path} (atol {atol}); first: {found[0]}. "
            f"Computed values: {tmp_path / (name + '.actual.json')}, differences: {tmp_path / (name + '.diff.txt')}"
        )

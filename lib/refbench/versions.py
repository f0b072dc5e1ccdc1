"""Code and package versions recorded with every run."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from refbench.settings import PROJECT_ROOT

TRACKED = (
    "refbench",
    "numpy",
    "opencv-python",
    "onnxruntime",
    "onnxruntime-gpu",
    "insightface",
    "duckdb",
    "scikit-learn",
    "pillow",
    "prefect",
    "torch",
    "ultralytics",
    "google-genai",
    "rembg",
)


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (absent ones omitted)."""
    found = {}
    for name in TRACKED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The project's current git commit, or ``None`` outside a checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None

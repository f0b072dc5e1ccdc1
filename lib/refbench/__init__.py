"""refbench: identity-preserving reference sets for image and video generation.

The public API is imported on first use (``refbench.run_manifest``, ``refbench.Workspace``, ...), so that
``import refbench`` and the command line start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Asset": "refbench.types",
    "AssetSet": "refbench.types",
    "Detections": "refbench.types",
    "ImageRecord": "refbench.types",
    "Rejection": "refbench.types",
    "RefbenchError": "refbench.errors",
    "Settings": "refbench.settings",
    "Workspace": "refbench.registry",
    "ManifestOptions": "refbench.pipelines.manifest",
    "ManifestSummary": "refbench.pipelines.manifest",
    "load_backends": "refbench.pipelines.manifest",
    "run_manifest": "refbench.pipelines.manifest",
    "add_assets": "refbench.pipelines.library",
    "run_index": "refbench.pipelines.library",
    "search": "refbench.pipelines.library",
    "recommend": "refbench.pipelines.library",
    "verify": "refbench.pipelines.identify",
    "find": "refbench.pipelines.identify",
    "Verification": "refbench.pipelines.identify",
    "Match": "refbench.pipelines.identify",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'refbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

"""refbench: identity-preserving reference sets for image and video generation."""

from refbench.errors import RefbenchError
from refbench.manifest import ManifestOptions, ManifestSummary, load_backends, run_manifest
from refbench.settings import Settings
from refbench.types import Detections, ImageRecord, Rejection

__all__ = [
    "Detections",
    "ImageRecord",
    "ManifestOptions",
    "ManifestSummary",
    "RefbenchError",
    "Rejection",
    "Settings",
    "load_backends",
    "run_manifest",
]
__version__ = "0.1.0"

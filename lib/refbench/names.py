"""The names users choose from, as ``typing.Literal``: backends, clean tiers, describers, API modes.

Importing this costs nothing (no numpy, no models), so the command line checks choices before any work and
stays fast, and Prefect shows flow parameters as drop-downs and refuses a wrong name before a run starts.
``tests/test_cli_options.py`` keeps each equal to the registry it names.
"""

from typing import Literal

Detector = Literal["opencv-darknet", "ultralytics"]
FaceModel = Literal["insightface", "opencv-yunet-sface"]
CleanTier = Literal["original", "rembg-gray", "generative", "multi-angle"]
Describer = Literal["local", "gemini"]
ApiMode = Literal["gemini", "vertex"]

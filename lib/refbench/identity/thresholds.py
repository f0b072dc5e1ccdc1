"""The one threshold policy: an explicit option, else the workspace's calibrated value, else the shipped default.

Every consumer (manifest, clean, calibrate, the notebook explorer) asks ``choose_threshold``, and the
answer says where the number came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from refbench.errors import OptionError

# Cosine similarity above which two faces are the same person, per face model; `refbench calibrate` measures
# and stores a workspace's own. Chosen with `refbench calibrate --identities data/samples/identities.csv`
# (12 photos, 8 same / 58 different pairs) plus `--distractors` (29-30 faces of group photos, ~830 different
# pairs), placing the threshold ~3.5 sd above the different-person mean and ~5 sd below the same-person mean:
# - insightface (w600k_mbf): same-person min 0.515, different max 0.166 (0.328 with 40 px group faces),
#   Gaussian-EER 0.29 (0.34 with distractors), clustering BCubed F1 = 1 for 0.17-0.51: keep 0.30, the low end,
#   because unseen same-person pairs (age, pose) fall lower than unseen portrait impostors rise.
# - opencv-yunet-sface: same min 0.607, different max 0.274 (0.424), Gaussian-EER 0.44 (0.46), F1 = 1 for
#   0.20-0.60: 0.40, between OpenCV's published 0.363 (LFW, balanced pairs) and the Gaussian-EER; SFace's
#   different-person scores sit higher and wider (mean 0.08, sd 0.09) than w600k_mbf's (0.02, 0.08).
DEFAULT_THRESHOLDS = {"insightface": 0.30, "opencv-yunet-sface": 0.40}


@dataclass(frozen=True)
class Threshold:
    """A same-person cosine threshold and where it came from (``option``, ``calibration <id>``, ``shipped``)."""

    value: float
    source: str


def default_threshold(face_model: str) -> float:
    """The shipped same-person threshold of ``face_model``.

    Raises:
        OptionError: the model has no shipped default (pass a threshold explicitly).
    """
    if face_model not in DEFAULT_THRESHOLDS:
        raise OptionError(f"no default threshold for face model {face_model!r}; pass one explicitly")
    return DEFAULT_THRESHOLDS[face_model]


def check_threshold(threshold: float, *, what: str = "threshold") -> float:
    """A cosine threshold, or an ``OptionError`` saying why it is not one (``what`` names it in the message)."""
    if not -1.0 <= threshold <= 1.0:
        raise OptionError(f"{what} must be a cosine similarity in [-1, 1], got {threshold}")
    return float(threshold)


def choose_threshold(
    face_model: str, *, explicit: float | None = None, calibrated: float | None = None, calibration: str = ""
) -> Threshold:
    """The threshold to use: ``explicit`` (an option), else ``calibrated`` (the workspace's), else the shipped one."""
    if explicit is not None:
        return Threshold(check_threshold(explicit, what="face threshold"), "option")
    if calibrated is not None:
        return Threshold(float(calibrated), f"calibration {calibration}".strip())
    return Threshold(default_threshold(face_model), "shipped default")

"""Head pose in words: the five standard views of a character, binned by measured yaw, and mirroring.

Every view is named **from the subject's point of view**: ``three_quarter_left`` is a head turned to the
subject's own left. Seen by the camera, that nose points to the image's *right* edge, so its yaw is
positive (``refbench.faces.quality.yaw_from_landmarks``: > 0 nose towards the image's right edge). Prompts
never say "left" or "right" alone — generators confuse camera-left with subject-left — but name the image
edge the nose points to, which is what the measurement checks.

Bins of the landmark yaw (degrees): front |yaw| < 15; three-quarter 15–45; profile >= 45. The landmark
estimate saturates towards 90° and five-point detectors lose a hidden eye, so a generated profile is
accepted from 45° on. Mirroring an image negates its yaw: a mirrored photo moves to the opposite bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from refbench.types import FRONTAL_YAW_DEG

PROFILE_YAW_DEG = 45.0  # |yaw| from which a face counts as a profile (landmark estimate, see module doc)
CLEARLY_TURNED_DEG = FRONTAL_YAW_DEG  # both faces must be turned at least this much to call one mirrored


class View(StrEnum):
    """A standard view of a character; left and right are the subject's own."""

    FRONT = "front"
    THREE_QUARTER_LEFT = "three_quarter_left"
    THREE_QUARTER_RIGHT = "three_quarter_right"
    PROFILE_LEFT = "profile_left"
    PROFILE_RIGHT = "profile_right"


@dataclass(frozen=True)
class ViewSpec:
    """What a view means: its yaw range, the target a generator is asked for, and words for people and models.

    Attributes:
        view: The view.
        yaw_range: [low, high) of the signed landmark yaw in degrees that falls in this view.
        target_yaw: What a generated view is asked for.
        label: Short human label, subject's point of view.
        nose_towards: The image edge the nose points to (``camera`` for the front view).
        prompt: How a generator is told the pose: in image-edge terms only.
        photo_advice: What photo to take when the view is missing.
    """

    view: View
    yaw_range: tuple[float, float]
    target_yaw: float
    label: str
    nose_towards: str
    prompt: str
    photo_advice: str

    def contains(self, yaw: float) -> bool:
        """Whether a measured yaw falls in this view."""
        low, high = self.yaw_range
        return low <= yaw < high


_FRAMING = "face about one fifth of the frame width, even light, plain background"
VIEWS: dict[View, ViewSpec] = {
    View.FRONT: ViewSpec(
        View.FRONT,
        (-FRONTAL_YAW_DEG, FRONTAL_YAW_DEG),
        0.0,
        "front",
        "camera",
        "facing the camera straight on, the nose pointing at the lens, both ears equally visible",
        f"Face the camera straight on, eyes to the lens, chin level ({_FRAMING}).",
    ),
    View.THREE_QUARTER_LEFT: ViewSpec(
        View.THREE_QUARTER_LEFT,
        (FRONTAL_YAW_DEG, PROFILE_YAW_DEG),
        30.0,
        "3/4 left (subject's left)",
        "right edge",
        "head turned about 30 degrees so that the nose points towards the RIGHT edge of the image, both eyes "
        "still visible",
        f"Turn your head about 30 degrees to your own left: in the photo the nose points to its right side and "
        f"both eyes stay visible ({_FRAMING}).",
    ),
    View.THREE_QUARTER_RIGHT: ViewSpec(
        View.THREE_QUARTER_RIGHT,
        (-PROFILE_YAW_DEG, -FRONTAL_YAW_DEG),
        -30.0,
        "3/4 right (subject's right)",
        "left edge",
        "head turned about 30 degrees so that the nose points towards the LEFT edge of the image, both eyes "
        "still visible",
        f"Turn your head about 30 degrees to your own right: in the photo the nose points to its left side and "
        f"both eyes stay visible ({_FRAMING}).",
    ),
    View.PROFILE_LEFT: ViewSpec(
        View.PROFILE_LEFT,
        (PROFILE_YAW_DEG, 90.01),
        70.0,
        "profile left (subject's left)",
        "right edge",
        "full side profile: the nose points straight at the RIGHT edge of the image, only one eye visible",
        f"Turn your head 90 degrees to your own left for a side profile: in the photo the nose points at its "
        f"right edge and one eye is visible ({_FRAMING}).",
    ),
    View.PROFILE_RIGHT: ViewSpec(
        View.PROFILE_RIGHT,
        (-90.01, -PROFILE_YAW_DEG),
        -70.0,
        "profile right (subject's right)",
        "left edge",
        "full side profile: the nose points straight at the LEFT edge of the image, only one eye visible",
        f"Turn your head 90 degrees to your own right for a side profile: in the photo the nose points at its "
        f"left edge and one eye is visible ({_FRAMING}).",
    ),
}


def view_of_yaw(yaw: float) -> View:
    """The view a measured yaw (degrees, > 0: nose towards the image's right edge) falls in."""
    return next(spec.view for spec in VIEWS.values() if spec.contains(float(yaw)))


def turn_words(yaw: float) -> str:
    """A head angle in image-edge words a generator can follow, e.g. "turned about 25 degrees, nose towards the
    LEFT edge of the image" (what the seeds learned works better than camera or subject left/right)."""
    if abs(yaw) < FRONTAL_YAW_DEG:
        return "facing the camera, the nose pointing at the lens"
    edge = "RIGHT" if yaw > 0 else "LEFT"
    return f"turned about {round(abs(yaw) / 5) * 5:.0f} degrees, the nose pointing towards the {edge} edge of the image"


def mirrored(yaw: float, reference_yaw: float, *, clear_deg: float = CLEARLY_TURNED_DEG) -> bool | None:
    """Whether a face turns the other way than a reference face: ``None`` when either is not clearly turned
    (|yaw| < ``clear_deg``), since a near-frontal face has no direction to compare."""
    if abs(yaw) < clear_deg or abs(reference_yaw) < clear_deg:
        return None
    return (yaw > 0) != (reference_yaw > 0)

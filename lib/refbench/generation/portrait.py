"""The matched-portrait pipeline's requests: generic scene, matched portrait, final image.

1. views: the character's view sheet (``refbench.identity.views``) supplies the face references;
2. generic: a cinematic image of the identity from text alone, framed close (face ~1/5 of the width):
   the model does its best scene work when no face reference constrains it;
3. portrait: the person's face from the view nearest the generic image's head angle, with that head angle,
   lighting, clothing and expression — said in words measured on the generic image (head angle in
   image-edge terms, the lit side, clothing and background colours), so only one face-bearing image is sent;
4. final: the scene again with the matched portrait as the one face reference (the generic image itself
   goes in only when the caller allows two face-bearing images).

Prompts follow what the designers learned: describe the final image, not the camera; directions as image
edges; never "swap" or "replace" a face; the prompt first, then the images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refbench.describe.local import dominant_colours
from refbench.faces.pose import CLEARLY_TURNED_DEG, turn_words
from refbench.generation.images import ImageInput, ImageRequest

FRAMING = (
    "framed waist-up or chest-up and close to the camera so that the face spans about one fifth of the image width"
)
LIT_SIDE_RATIO = 1.08  # one half of the face this much brighter than the other: light from that side
# The designers' fix for mirrored portraits: name the image edge and say it must stay the same.
_SAME_EDGE = " The nose must point towards that same edge of the image in the output, not the opposite one."


@dataclass(frozen=True)
class IdentityBrief:
    """What the identity image shows: the identity (role, scene) and the person's physical traits."""

    identity: str  # e.g. "an orchestra conductor on stage at the final chord"
    traits: tuple[str, ...] = ()  # e.g. ("man in his fifties", "short grey hair", "brown eyes")

    @property
    def person(self) -> str:
        """The traits as one sentence ("The person: ..."), or nothing when none were given."""
        listed = ", ".join(t.strip() for t in self.traits if t.strip())
        return f" The person: {listed}." if listed else ""


@dataclass(frozen=True)
class SceneLook:
    """What was measured on the generic image, in words a generator can follow."""

    head_angle: str
    light: str
    clothing: str
    background: str
    turned: bool = False  # the head is clearly turned (its direction must not flip)

    def text(self) -> str:
        """One sentence for prompts."""
        return f"Head {self.head_angle}. {self.light}. Clothing {self.clothing}. Background {self.background}."


def generic_request(brief: IdentityBrief, *, aspect_ratio: str = "3:4") -> ImageRequest:
    """Step 2: text only — the scene, pose, clothing and light, any face."""
    prompt = (
        f"Cinematic movie-poster photograph: {brief.identity}.{brief.person} {FRAMING[0].upper()}{FRAMING[1:]}; "
        "aspirational, idealised composition; dramatic golden-hour or studio lighting; rich colour grading; "
        "sharp focus on the face; no text, no watermark, one person only."
    )
    return ImageRequest(prompt, (), aspect_ratio=aspect_ratio)


def portrait_request(
    brief: IdentityBrief, *, reference: ImageInput, look: SceneLook, aspect_ratio: str = "3:4"
) -> ImageRequest:
    """Step 3: the person of the reference with the generic image's head angle, light, clothing and expression."""
    prompt = (
        f"Portrait photograph of the person shown in the reference image, keeping their face, features, skin tone "
        f"and hair exactly.{brief.person} {look.text()}{_SAME_EDGE if look.turned else ''} Cinematic still: "
        f"{brief.identity}, {FRAMING}; the same expression and mood as the scene; no text, one person only."
    )
    return ImageRequest(prompt, (reference,), aspect_ratio=aspect_ratio)


def final_request(
    brief: IdentityBrief,
    *,
    portrait: ImageInput,
    look: SceneLook,
    scene: ImageInput | None = None,
    aspect_ratio: str = "3:4",
) -> ImageRequest:
    """Step 4: the scene with the person of the matched portrait; the scene image only when sent deliberately."""
    scene_words = "in the scene of the second image" if scene is not None else "as described"
    portrait_words = "portrait (the first image)" if scene is not None else "portrait"
    prompt = (
        f"Cinematic movie-poster photograph: {brief.identity}, {scene_words}. The person is the one in the "
        f"{portrait_words}: the same face, features, hair and skin tone.{brief.person} {look.text()}"
        f"{_SAME_EDGE if look.turned else ''} {FRAMING[0].upper()}{FRAMING[1:]}; dramatic cinematic lighting and "
        "colour grading; no text, one person only."
    )
    # The subject first, then where it goes (the docs' "[my cat] + [this pillow]" pattern).
    images: Sequence[ImageInput] = (portrait, scene) if scene is not None else (portrait,)
    return ImageRequest(prompt, tuple(images), aspect_ratio=aspect_ratio)


def scene_look(image_rgb: np.ndarray, face_xyxy: np.ndarray, *, yaw: float) -> SceneLook:
    """Measure the generic image: head angle (from ``yaw``), the lit side of the face, clothing and background
    colours (the region below the face; the whole frame)."""
    height, width = image_rgb.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in np.clip(face_xyxy, 0, [width, height, width, height]))
    face_w, face_h = max(x2 - x1, 2), max(y2 - y1, 2)
    gray = image_rgb[y1 : y1 + face_h, x1 : x1 + face_w].mean(axis=2)
    left, right = float(gray[:, : face_w // 2].mean()), float(gray[:, face_w // 2 :].mean())
    if max(left, right) > LIT_SIDE_RATIO * max(min(left, right), 1.0):
        light = f"Light falls from the image's {'LEFT' if left > right else 'RIGHT'} side, the other cheek in shadow"
    else:
        light = "Light falls evenly on both sides of the face"
    top, bottom = min(height - 1, y2), min(height, y2 + int(1.5 * face_h))
    body = image_rgb[top:bottom, max(0, x1 - face_w // 2) : min(width, x2 + face_w // 2)]
    clothing, background = _colours(body, "as in the scene"), _colours(image_rgb, "as in the scene")
    return SceneLook(turn_words(yaw), light, clothing, background, turned=abs(yaw) >= CLEARLY_TURNED_DEG)


def _colours(region_rgb: np.ndarray, fallback: str) -> str:
    if region_rgb.size < 3 * 16:
        return fallback
    colours = dominant_colours(np.ascontiguousarray(region_rgb), k=3)
    return "mostly " + ", ".join(c.name for c in colours[:2])

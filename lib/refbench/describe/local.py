"""The offline describer: plain-language descriptions built only from what the workbench measured.

Facts used: the detection class, dominant colours of the crop (k-means in CIE Lab, named after
the nearest colour of a fixed palette), face figures of characters (size, yaw, sharpness, exposure,
quality), size and position of the subject in its photo, and what else the photo holds. The texts end up
in generator prompts, so they say what a generator can use — pose (the subject's side and the image edge
the nose points to), colours, light, focus, framing, what else is in the place — in words, never as
measurements; every measured figure is kept in the description's ``details`` (stored as metadata). The
suitability is a geometric mean of measured quality factors mapped to 1..10, never a constant.
Deterministic: same crop and facts, same text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from refbench.describe import Description
from refbench.faces.pose import PROFILE_YAW_DEG
from refbench.types import BEST_WIDTH_BAND, FRONTAL_YAW_DEG, Asset

LOCAL_VERSION = "local-v2"  # v2: plain language, measurements only in details

# Named colours (sRGB) the dominant colours are snapped to, by nearest CIE76 distance in Lab.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "charcoal": (54, 69, 79),
    "dark grey": (90, 90, 90),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "white": (245, 245, 245),
    "ivory": (255, 250, 230),
    "beige": (222, 205, 170),
    "tan": (210, 180, 140),
    "peach": (240, 190, 160),
    "brown": (120, 72, 40),
    "dark brown": (70, 45, 30),
    "sienna": (160, 82, 45),
    "maroon": (110, 20, 30),
    "red": (200, 30, 35),
    "crimson": (220, 20, 60),
    "pink": (240, 150, 170),
    "orange": (240, 130, 30),
    "gold": (220, 175, 40),
    "yellow": (245, 225, 60),
    "olive": (128, 128, 40),
    "dark green": (30, 80, 40),
    "green": (60, 150, 60),
    "sage": (150, 170, 130),
    "teal": (0, 128, 128),
    "sky blue": (135, 190, 235),
    "blue": (40, 90, 200),
    "navy": (25, 35, 90),
    "slate blue": (90, 110, 150),
    "purple": (110, 50, 140),
    "lavender": (190, 170, 220),
}


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (N, 3) to Lab float32 (N, 3) (L in [0, 100])."""
    scaled = (np.asarray(rgb, dtype=np.float32) / 255.0).reshape(-1, 1, 3)
    return cv2.cvtColor(scaled, cv2.COLOR_RGB2Lab).reshape(-1, 3)


_KMEANS_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.1)
_KMEANS_LOCK = threading.Lock()  # cv2.kmeans draws from OpenCV's global RNG: seed and run as one step
_PALETTE_NAMES = list(PALETTE)
_PALETTE_LAB = _to_lab(np.array(list(PALETTE.values()), dtype=np.uint8))


@dataclass(frozen=True)
class NamedColour:
    """A dominant colour: its palette name, its mean sRGB and its share of the crop's pixels."""

    name: str
    rgb: tuple[int, int, int]
    share: float


def colour_name(lab: np.ndarray) -> str:
    """Name of the palette colour nearest (CIE76) to one Lab colour (3,)."""
    return _PALETTE_NAMES[int(np.argmin(np.linalg.norm(_PALETTE_LAB - lab, axis=1)))]


def dominant_colours(image_rgb: np.ndarray, *, k: int = 4, sample_side: int = 64) -> list[NamedColour]:
    """Dominant colours of an RGB image (H, W, 3) by k-means in Lab; clusters with one name merge.

    Returns:
        Colours by decreasing share; shares sum to 1.
    """
    small = cv2.resize(image_rgb, (sample_side, sample_side), interpolation=cv2.INTER_AREA).reshape(-1, 3)
    lab = _to_lab(small)
    k = min(k, len(np.unique(small, axis=0)))
    with _KMEANS_LOCK:  # cv2.kmeans: ~100x faster than sklearn's KMeans on 4096 points here
        cv2.setRNGSeed(0)
        _, labels, centres = cv2.kmeans(lab, k, None, _KMEANS_CRITERIA, 3, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(-1)
    shares = np.bincount(labels, minlength=k) / len(lab)
    merged: dict[str, list] = {}
    for label, (centre, share) in enumerate(zip(centres, shares, strict=True)):
        name = colour_name(centre)
        rgb = small[labels == label].mean(axis=0)
        if name in merged:
            merged[name][0] += share
        else:
            merged[name] = [share, rgb]
    colours = [NamedColour(n, tuple(int(c) for c in rgb), float(s)) for n, (s, rgb) in merged.items()]
    return sorted(colours, key=lambda c: -c.share)


def image_measures(image_rgb: np.ndarray) -> tuple[float, float]:
    """(sharpness, exposure) of an RGB image (H, W, 3): Laplacian variance at 256 px wide, mean luma in [0, 1]."""
    gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (256, max(1, round(256 * gray.shape[0] / max(gray.shape[1], 1)))))
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()), float(gray.mean() / 255.0)


def _sharp_factor(sharpness: float) -> float:
    return float(1.0 - np.exp(-sharpness / 150.0))


def _exposure_factor(exposure: float) -> float:
    return float(np.clip(1.0 - abs(exposure - 0.5) * 2.0, 0.05, 1.0))


def _geometric_mean(factors: list[float]) -> float:
    return float(np.exp(np.mean(np.log(np.clip(factors, 1e-3, 1.0)))))


def to_suitability(score: float) -> float:
    """A [0, 1] quality score as a 1..10 suitability, one decimal."""
    return round(1.0 + 9.0 * float(np.clip(score, 0.0, 1.0)), 1)


def face_size_factor(width_frac: float) -> float:
    """1 inside the 15–25% face-width band generators keep best, falling to 0.5 at 15 points outside it."""
    low, high = BEST_WIDTH_BAND
    distance = max(low - width_frac, width_frac - high, 0.0)
    return float(np.clip(1.0 - distance / 0.30, 0.5, 1.0))


def describe_sharpness(sharpness: float) -> str:
    """Words for a Laplacian variance."""
    return "tack-sharp" if sharpness > 400 else "sharp" if sharpness > 150 else "soft" if sharpness > 50 else "blurred"


def describe_exposure(exposure: float) -> str:
    """Words for a mean luma in [0, 1]."""
    return (
        "very dark"
        if exposure < 0.2
        else "dark"
        if exposure < 0.35
        else "evenly exposed"
        if exposure < 0.65
        else "bright"
        if exposure < 0.8
        else "overexposed"
    )


def describe_light(exposure: float) -> str:
    """The light of a picture in words a generator can use."""
    return {
        "very dark": "very low light",
        "dark": "low, moody light",
        "evenly exposed": "even light",
        "bright": "bright light",
        "overexposed": "very bright, washed-out light",
    }[describe_exposure(exposure)]


def describe_focus(sharpness: float) -> str:
    """The focus of a picture in words a generator can use."""
    return {"tack-sharp": "crisp focus", "sharp": "sharp focus", "soft": "soft focus", "blurred": "blurred"}[
        describe_sharpness(sharpness)
    ]


def describe_yaw(yaw: float) -> str:
    """Head pose in words: the subject's own side and the image edge the nose points to (> 0: right edge)."""
    if abs(yaw) < FRONTAL_YAW_DEG:
        return "facing the camera"
    side, edge = ("left", "right") if yaw > 0 else ("right", "left")
    if abs(yaw) < PROFILE_YAW_DEG:
        return f"head turned to their {side}, the nose towards the {edge} of the frame"
    return f"in profile, the nose pointing to the {edge} edge of the frame"


def describe_face_size(width_frac: float) -> str:
    """How much of the frame a face fills, in words."""
    if width_frac >= 0.5:
        return "the face fills the frame"
    if width_frac >= BEST_WIDTH_BAND[0]:
        return "a close head-and-shoulders view"
    return "the face small in the frame"


def colour_list(colours: list[NamedColour], *, n: int = 3) -> str:
    """The main colour names in order: "navy, white and tan"."""
    names = [c.name for c in colours[:n]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def number_words(count: int, noun: str, *, one: str = "a") -> str:
    """A count as words: "a person" (or ``one``), "two cars", "12 people"."""
    words = {1: one, 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    plural = (
        noun if count == 1 else ("people" if noun == "person" else f"{noun}es" if noun.endswith("s") else f"{noun}s")
    )
    return f"{words.get(count, str(count))} {plural}"


def placement(asset: Asset) -> tuple[float, str]:
    """(area fraction, 'left/centre/right, top/middle/bottom') of the subject in its photo."""
    width, height = asset.image_wh
    if asset.bbox_xyxy is None:
        return 1.0, "full frame"
    x1, y1, x2, y2 = asset.bbox_xyxy
    area = max(0.0, (x2 - x1) * (y2 - y1)) / max(width * height, 1)
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    return area, f"{vertical} {horizontal}" if (horizontal, vertical) != ("centre", "middle") else "centre"


def _framing(area: float) -> str:
    return "close-up" if area > 0.25 else "medium-shot" if area > 0.05 else "wide-shot"


def _position(where: str) -> str:
    """``placement``'s "top left" as "in the upper left of the frame", "middle right" as "on the right of the frame"."""
    if where in ("centre", "full frame"):
        return "filling the frame" if where == "full frame" else "in the centre of the frame"
    vertical, horizontal = where.split(" ")
    if vertical == "middle":
        return f"on the {horizontal} of the frame"
    return f"in the {'upper' if vertical == 'top' else 'lower'} {horizontal} of the frame"


class LocalDescriber:
    """Describes assets from measured facts only: no network, no model, deterministic.

    Args:
        n_colours: k of the k-means over the crop's Lab pixels.
        sample_side: The crop is resized to this square before clustering (speed, not accuracy).
    """

    backend = "local"
    model = "measured-facts"
    prompt_version = LOCAL_VERSION
    concurrency = 1

    def __init__(self, *, n_colours: int = 4, sample_side: int = 64) -> None:
        self.n_colours, self.sample_side = n_colours, sample_side

    def describe(self, asset: Asset) -> Description:
        """Describe one asset; an unreadable crop gives an ``error`` description."""
        start = time.perf_counter()
        try:
            with Image.open(asset.crop_path) as image:
                crop_rgb = np.asarray(image.convert("RGB"))
        except OSError as error:
            return Description(
                "error",
                self.backend,
                self.model,
                self.prompt_version,
                reason=f"crop unreadable: {asset.crop_path}: {error}",
            )
        colours = dominant_colours(crop_rgb, k=self.n_colours, sample_side=self.sample_side)
        build = (
            _character
            if asset.asset_type == "character"
            else (_environment if asset.asset_type == "environment" else _object)
        )
        reverse_prompt, visual, name, score, details = build(asset, crop_rgb, colours)
        details["colours"] = [{"name": c.name, "rgb": list(c.rgb), "share": round(c.share, 3)} for c in colours]
        return Description(
            "ok",
            self.backend,
            self.model,
            self.prompt_version,
            reverse_prompt=reverse_prompt,
            visual_description=visual,
            suggested_name=name,
            suitability=to_suitability(score),
            seconds=time.perf_counter() - start,
            details=details,
        )


def _character(asset: Asset, crop_rgb: np.ndarray, colours: list[NamedColour]) -> tuple[str, str, str, float, dict]:
    face = asset.face
    if face is None:  # an identity without measured faces: fall back to crop measures
        return _object(asset, crop_rgb, colours)
    pose, size = describe_yaw(face.yaw), face_size_factor(face.width_frac)
    light, focus = describe_light(face.exposure), describe_focus(face.sharpness)
    photos = max(asset.n_faces, 1)
    prompt = (
        f"Head-and-shoulders photo of a person, {pose}, {focus}, {light}; main colours "
        f"{colour_list(colours)}; {describe_face_size(face.width_frac)}."
    )
    visual = (
        f"The person of the reference photos, {pose}, in {colour_list(colours, n=4)} tones, "
        f"{focus} and {light} (seen in {number_words(photos, 'photo', one='one')})."
    )
    view = (
        "Portrait" if abs(face.yaw) < FRONTAL_YAW_DEG else "Profile" if abs(face.yaw) >= PROFILE_YAW_DEG else "Turned"
    )
    name = f"{view} Portrait, {colours[0].name.title()} Tones".replace("Portrait Portrait", "Portrait")
    score = face.quality_score * size
    details = {
        "pose": pose,
        "yaw": face.yaw,
        "face_width_frac": face.width_frac,
        "size_factor": size,
        "sharpness": face.sharpness,
        "exposure": face.exposure,
        "face_quality": face.quality_score,
        "detector_score": face.det_score,
        "n_photos": photos,
    }
    return prompt, visual, name, score, details


def _object(asset: Asset, crop_rgb: np.ndarray, colours: list[NamedColour]) -> tuple[str, str, str, float, dict]:
    sharpness, exposure = image_measures(crop_rgb)
    area, where = placement(asset)
    height, width = crop_rgb.shape[:2]
    confidence = asset.confidence if asset.confidence is not None else 0.5
    label, others = asset.label, [c.name for c in colours[1:3]]
    details_words = f" with {' and '.join(others)} details" if others else ""
    position = _position(where)
    small = ", small in the frame" if area <= 0.05 else ""
    prompt = (
        f"{_framing(area).capitalize()} photo of a {colours[0].name} {label}{details_words}{small}, "
        f"{describe_focus(sharpness)}, {describe_light(exposure)}, {position}."
    )
    visual = (
        f"A {colours[0].name} {label}{details_words}, as in its reference photo ({position}, "
        f"{describe_light(exposure)})."
    )
    resolution = float(np.clip(min(width, height) / 256.0, 0.0, 1.0))
    score = _geometric_mean([confidence, resolution, _sharp_factor(sharpness), _exposure_factor(exposure)])
    details = {
        "area_frac": area,
        "placement": where,
        "sharpness": sharpness,
        "exposure": exposure,
        "crop_wh": [width, height],
        "detector_confidence": confidence,
    }
    return prompt, visual, f"{colours[0].name.title()} {asset.label.title()}", score, details


def _environment(asset: Asset, crop_rgb: np.ndarray, colours: list[NamedColour]) -> tuple[str, str, str, float, dict]:
    sharpness, exposure = image_measures(crop_rgb)
    width, height = asset.image_wh
    counted = [number_words(n, c) for c, n in sorted(asset.scene_objects.items()) if c != "person"]
    people = asset.scene_objects.get("person", 0) or asset.scene_faces
    if people:
        counted.append(number_words(people, "person"))
    things = (", ".join(counted[:-1]) + " and " + counted[-1]) if len(counted) > 1 else "".join(counted)
    orientation = "landscape" if width > height * 1.1 else "portrait" if height > width * 1.1 else "square"
    holding = f", with {things}" if things else ", with nothing in the foreground"
    prompt = (
        f"Wide {orientation}-format scene in {colour_list(colours)} tones, {describe_light(exposure)}, "
        f"{describe_focus(sharpness)}{holding}."
    )
    visual = (
        f"The place of the reference photo: {colour_list(colours, n=4)} palette, {describe_light(exposure)}{holding}."
    )
    resolution = float(np.clip(min(width, height) / 720.0, 0.0, 1.0))
    score = _geometric_mean([resolution, _sharp_factor(sharpness), _exposure_factor(exposure)])
    main = f" With {max(asset.scene_objects, key=asset.scene_objects.get).title()}" if asset.scene_objects else ""
    details = {
        "sharpness": sharpness,
        "exposure": exposure,
        "objects": asset.scene_objects,
        "faces": asset.scene_faces,
        "image_wh": [width, height],
    }
    return prompt, visual, f"{colours[0].name.title()} Scene{main}", score, details

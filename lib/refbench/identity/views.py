"""View sheets: a character's faces binned into the five standard views by measured yaw.

Directions are the subject's own (``refbench.faces.pose``): a head turned to the subject's left looks
towards the image's right edge. Per view the best face by quality score is kept; a view without a face
is *missing*, with the photo to take. The sheet is drawn left to right as a head turning from the
subject's right to the subject's left (nose from the image's left edge to its right edge).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from refbench.errors import InputError
from refbench.faces.pose import VIEWS, View, view_of_yaw
from refbench.types import Detections, width_in_best_band

# Sheet order: the nose sweeps from the image's left edge to its right edge.
SHEET_ORDER = (View.PROFILE_RIGHT, View.THREE_QUARTER_RIGHT, View.FRONT, View.THREE_QUARTER_LEFT, View.PROFILE_LEFT)
DIRECTION_NOTE = (
    "left/right name the subject's own left and right (a subject-left turn points the nose to the image's right edge)"
)
FACE_COLUMNS = ("face_id", "image_file", "crop_path", "yaw", "width_frac", "quality_score")


@dataclass(frozen=True)
class ViewImage:
    """The image that stands for one view of a character: a registered photo's face crop, or a generated view."""

    view: View
    path: Path
    source: str  # photo | generated
    yaw: float
    width_frac: float | None = None
    quality: float | None = None
    face_id: str | None = None
    image_file: str | None = None
    similarity: float | None = None  # generated views: ArcFace cosine to the identity

    def to_json(self) -> dict[str, Any]:
        """JSON-safe fields, with the view's meaning spelled out."""
        spec = VIEWS[self.view]
        return {
            "view": self.view.value,
            "label": spec.label,
            "nose_towards": spec.nose_towards,
            "source": self.source,
            "path": str(self.path),
            "yaw": round(self.yaw, 1),
            "width_frac": None if self.width_frac is None else round(self.width_frac, 3),
            "quality": None if self.quality is None else round(self.quality, 3),
            "face_id": self.face_id,
            "image_file": self.image_file,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
        }


@dataclass(frozen=True)
class ViewSheet:
    """A character's views: one image per view found, how many faces fell in each view, what is missing."""

    tag: str
    face_model: str
    images: dict[View, ViewImage]
    counts: dict[View, int] = field(default_factory=dict)

    @property
    def missing(self) -> list[View]:
        """Views without an image, in sheet order."""
        return [view for view in SHEET_ORDER if view not in self.images]

    @property
    def advice(self) -> dict[View, str]:
        """What photo to take for each missing view."""
        return {view: VIEWS[view].photo_advice for view in self.missing}

    def with_images(self, images: Mapping[View, ViewImage]) -> ViewSheet:
        """This sheet with more (or replaced) view images, e.g. generated ones."""
        return ViewSheet(self.tag, self.face_model, {**self.images, **images}, self.counts)

    def to_json(self) -> dict[str, Any]:
        """The sheet as printed by ``refbench views --json``."""
        return {
            "tag": self.tag,
            "face_model": self.face_model,
            "directions": DIRECTION_NOTE,
            "views": [self.images[v].to_json() for v in SHEET_ORDER if v in self.images],
            "faces_per_view": {v.value: self.counts.get(v, 0) for v in SHEET_ORDER},
            "missing": [
                {"view": v.value, "label": VIEWS[v].label, "photo_to_take": VIEWS[v].photo_advice} for v in self.missing
            ],
        }


def bin_faces(faces: Detections, *, tag: str, face_model: str) -> ViewSheet:
    """Bin one identity's faces by yaw and keep the best face (quality score) of each view.

    Args:
        faces: The identity's faces with per-row ``face_id``, ``image_file``, ``crop_path``, ``yaw``,
            ``width_frac`` and ``quality_score`` (``Workspace.faces.gallery`` rows of one tag).
        tag: The character's tag.
        face_model: The face model that measured them.

    Raises:
        InputError: a required per-row field is missing.
    """
    absent = [name for name in FACE_COLUMNS if name not in faces.data]
    if absent:
        raise InputError(f"{tag}: faces lack {', '.join(absent)} (run `refbench manifest` to measure them)")
    views = [view_of_yaw(float(yaw)) for yaw in faces.data["yaw"]]
    counts = {view: views.count(view) for view in SHEET_ORDER}
    images: dict[View, ViewImage] = {}
    for index in np.argsort(-np.asarray(faces.data["quality_score"], dtype=np.float64), kind="stable"):
        view = views[index]
        if view not in images:
            images[view] = _photo(faces, int(index), view)
    return ViewSheet(tag, face_model, images, counts)


def _photo(faces: Detections, index: int, view: View) -> ViewImage:
    data = faces.data
    return ViewImage(
        view=view,
        path=Path(str(data["crop_path"][index])),
        source="photo",
        yaw=float(data["yaw"][index]),
        width_frac=float(data["width_frac"][index]),
        quality=float(data["quality_score"][index]),
        face_id=str(data["face_id"][index]),
        image_file=str(data["image_file"][index]),
    )


def render_view_sheet(sheet: ViewSheet, *, tile: int = 240) -> np.ndarray:
    """The sheet as one RGB image (H, W, 3) uint8: five tiles in ``SHEET_ORDER`` with captions, missing views
    as grey tiles saying what photo to take, and a title that says whose left and right are meant."""
    caption, title = 64, 44
    sheet_rgb = Image.new("RGB", (tile * len(SHEET_ORDER), title + tile + caption), "white")
    draw = ImageDraw.Draw(sheet_rgb)
    small, bold = ImageFont.load_default(size=12), ImageFont.load_default(size=15)
    draw.text((8, 6), f"{sheet.tag} views ({sheet.face_model})", fill="black", font=bold)
    draw.text((8, 25), DIRECTION_NOTE, fill=(80, 80, 80), font=small)
    for column, view in enumerate(SHEET_ORDER):
        x, spec = column * tile, VIEWS[view]
        image = sheet.images.get(view)
        if image is None:
            _missing_tile(draw, x, title, tile, spec.photo_advice, font=small)
            lines = [spec.label, "missing"]
        else:
            with Image.open(image.path) as opened:
                thumb = opened.convert("RGB")
            thumb.thumbnail((tile - 8, tile - 8))
            sheet_rgb.paste(thumb, (x + (tile - thumb.width) // 2, title + (tile - thumb.height) // 2))
            band = "in band" if width_in_best_band(image.width_frac or 0) else ""
            lines = [
                spec.label,
                f"yaw {degrees(image.yaw)}, nose to {spec.nose_towards}",
                f"{image.source}: {(image.image_file or image.path.name)[:24]} {band}".rstrip(),
            ]
        for row, line in enumerate(lines):
            colour = "black" if row == 0 else (70, 70, 70)
            draw.text((x + 6, title + tile + 4 + 18 * row), line, fill=colour, font=small)
    return np.asarray(sheet_rgb)


def degrees(yaw: float) -> str:
    """A signed yaw in whole degrees ("+25°", "+0°"; never "-0°")."""
    return f"{round(yaw):+d}°"


def _missing_tile(draw: ImageDraw.ImageDraw, x: int, top: int, tile: int, advice: str, *, font: Any) -> None:
    draw.rectangle((x + 4, top + 4, x + tile - 4, top + tile - 4), fill=(200, 200, 200), outline=(150, 150, 150))
    draw.text((x + 12, top + 12), "missing: take a photo", fill="black", font=font)
    for row, line in enumerate(textwrap.wrap(advice, width=max(20, tile // 7))[:12]):
        draw.text((x + 12, top + 32 + 15 * row), line, fill=(40, 40, 40), font=font)

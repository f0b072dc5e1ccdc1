"""Assets: the rules that turn detections, identities and photos into tagged references.

Characters (``CHAR_``) come from identities, props/vehicles/animals (``PROP_``, ``VEH_``, ``ANIM_``) from
confident object detections, environments (``ENV_``) from photos where nothing dominates the frame. An
asset keeps its tag once given; a re-run only adds what is new. These functions compute; the manifest
pipeline reads their inputs from the registry and writes their results back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

import numpy as np

from refbench.assets.crops import save_scaled
from refbench.ingest import printable
from refbench.types import Asset, Detections, ImageRecord

VEHICLES = {"bicycle", "car", "motorbike", "motorcycle", "aeroplane", "airplane", "bus", "train", "truck", "boat"}
ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
ASSET_PREFIX = {"character": "CHAR", "prop": "PROP", "vehicle": "VEH", "animal": "ANIM", "environment": "ENV"}
MIN_ASSET_CONFIDENCE = 0.5
MIN_ASSET_AREA_FRAC = 0.01
# An image is a scene (ENV) when nothing in it dominates the frame.
ENV_MAX_FACE_WIDTH_FRAC = 0.08
ENV_MAX_OBJECT_AREA_FRAC = 0.25
log = logging.getLogger(__name__)


def asset_type_of(class_name: str) -> str | None:
    """Asset type of a COCO class; ``None`` for people (characters come from faces)."""
    if class_name == "person":
        return None
    return "vehicle" if class_name in VEHICLES else "animal" if class_name in ANIMALS else "prop"


class TagCounter:
    """Hands out the next free ``PREFIX_NN`` tags after the highest number each prefix has used."""

    def __init__(self, last: dict[str, int]) -> None:
        self.last = dict(last)

    def next(self, prefix: str) -> str:
        """The next tag for ``prefix``, e.g. ``PROP_07``."""
        self.last[prefix] = self.last.get(prefix, 0) + 1
        return f"{prefix}_{self.last[prefix]:02d}"


def object_assets(candidates: Detections, *, registered: Collection[str], tags: TagCounter) -> list[Asset]:
    """New PROP/VEH/ANIM assets from candidate boxes (most confident first within each image).

    A box is kept unless it is a person or lies mostly inside a kept box of the same class in the same image
    (NMS keeps such boxes, but a tie's knot is no second tie); kept boxes already ``registered`` keep their
    old tags. ``candidates.data`` needs ``detection_id``, ``image_id``, ``class_name`` and ``crop_path``.
    """
    kept: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    new = []
    for i in range(len(candidates)):
        class_name, image_id = str(candidates.data["class_name"][i]), str(candidates.data["image_id"][i])
        box, key = candidates.xyxy[i], (image_id, class_name)
        if (asset_type := asset_type_of(class_name)) is None or _mostly_inside(box, kept[key]):
            continue
        kept[key].append(box)
        detection_id = str(candidates.data["detection_id"][i])
        if detection_id in registered:
            continue
        new.append(
            Asset(
                asset_id=detection_id,
                tag=tags.next(ASSET_PREFIX[asset_type]),
                asset_type=asset_type,
                name=class_name,
                crop_path=Path(str(candidates.data["crop_path"][i])),
                source_image_id=image_id,
                quality=float(candidates.confidence[i]),
                detection_id=detection_id,
            )
        )
    return new


def _mostly_inside(box: np.ndarray, others: list[np.ndarray], *, fraction: float = 0.7) -> bool:
    """Whether ``fraction`` of ``box`` (4,) lies inside one of ``others``."""
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-6)
    for other in others:
        overlap = np.clip(np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]), 0, None)
        if overlap[0] * overlap[1] / area >= fraction:
            return True
    return False


def environment_assets(scenes: list[ImageRecord], *, tags: TagCounter, out_dir: Path) -> list[Asset]:
    """One ENV asset per scene photo, shown by an upright scaled copy written to ``out_dir``.

    A photo whose copy cannot be made (its original damaged on disk since it was registered) gets no asset this
    time, with a warning; the next run tries again.
    """
    assets = []
    for record in scenes:
        try:
            crop = save_scaled(
                record.stored_path, out_dir / f"{record.image_id[:20]}.jpg", orientation=record.exif_orientation
            )
        except (OSError, ValueError, SyntaxError) as error:  # Pillow's decoder errors
            log.warning("no environment asset for %s: %s", printable(record.file_name), error)
            continue
        assets.append(
            Asset(
                asset_id=record.image_id,
                tag=tags.next(ASSET_PREFIX["environment"]),
                asset_type="environment",
                name=Path(record.file_name).stem.replace("_", " "),
                crop_path=crop,
                source_image_id=record.image_id,
            )
        )
    return assets

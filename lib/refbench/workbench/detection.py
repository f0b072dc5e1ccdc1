"""Notebook 01, the detection explorer: stored or live detections on a registered image, with widgets.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so a notebook shows each exactly
once and the exported HTML embeds them as PNG images that read offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from refbench.detect import OBJECT_DETECTORS, create_object_detector
from refbench.faces import create_face_analyzer
from refbench.ingest import load_image_rgb
from refbench.settings import DEFAULT_FACE_MODEL, ImageLimits
from refbench.types import FACE_CLASS, Detections
from refbench.workbench import WorkspaceReader
from refbench.workbench.live import Explorer, figure_image
from refbench.workbench.tables import show_table

STORED = "stored"  # detector choice meaning "the boxes the manifest registered"
LIVE_CONFIDENCE = 0.05  # live detectors keep weak boxes so the slider can reveal them
LANDMARK_COLORS = [(255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 0, 255), (255, 160, 0)]


def detector_choices() -> list[str]:
    """Detector dropdown entries: the manifest's stored boxes, then each live backend that needs no model file."""
    return [STORED, *[name for name in OBJECT_DETECTORS if name != "ultralytics"]]


def filter_detections(detections: Detections, *, min_confidence: float, classes: Iterable[str] = ()) -> Detections:
    """Rows at or above ``min_confidence`` whose class is in ``classes`` (empty: every class)."""
    keep = detections.confidence >= min_confidence
    wanted = set(classes)
    if wanted:
        keep &= np.isin(detections.data["class_name"].astype(str), list(wanted))
    return detections[keep]


def class_counts(detections: Detections) -> dict[str, int]:
    """Detections per class name, most frequent first."""
    return dict(Counter(detections.data.get("class_name", np.array([])).astype(str).tolist()).most_common())


def draw_detections(image_rgb: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of an RGB image (H, W, 3) with boxes, ``class score`` labels and face landmarks drawn."""
    canvas = Image.fromarray(image_rgb).copy()
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    font = ImageFont.load_default(size=max(12, width * 7))
    for i in range(len(detections)):
        name = str(detections.data["class_name"][i])
        color = (255, 215, 0) if name == FACE_CLASS else _class_color(name)
        x1, y1, x2, y2 = detections.xyxy[i].tolist()
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        draw.text(
            (x1 + width, max(0, y1 - width * 8)),
            f"{name} {detections.confidence[i]:.2f}",
            fill=color,
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
        points = detections.data.get("landmarks")
        if points is not None and not np.isnan(points[i]).any():
            for (x, y), dot in zip(points[i].tolist(), LANDMARK_COLORS, strict=True):
                draw.ellipse((x - width * 1.5, y - width * 1.5, x + width * 1.5, y + width * 1.5), fill=dot)
    return np.asarray(canvas)


def _class_color(name: str) -> tuple[int, int, int]:
    rng = np.random.default_rng(sum(map(ord, name)))
    return tuple(int(v) for v in rng.integers(60, 256, 3))


class DetectionExplorer:
    """Images of one workspace with stored or live detections; what notebook 01's widgets call.

    Args:
        reader: the workspace, read briefly per call.
        model_dir: model directory of the live detectors.
        face_model: face model of live runs.
        limits: the input limits images are decoded with (the settings').
    """

    def __init__(
        self,
        reader: WorkspaceReader,
        *,
        model_dir: Path,
        face_model: str = DEFAULT_FACE_MODEL,
        limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
    ) -> None:
        self.reader, self.model_dir, self.face_model, self.limits = reader, Path(model_dir), face_model, limits
        self._models: dict[str, Any] = {}
        self._found: dict[tuple[str, str], Detections] = {}
        self._names = {r.image_id: r.file_name for r in reader.read(lambda ws: ws.images.list())}

    def image_choices(self) -> list[tuple[str, str]]:
        """(file name, image id) of every registered image, in ingest order: dropdown options."""
        return [(name, image_id) for image_id, name in self._names.items()]

    def find_image(self, file_name: str) -> str:
        """Image id of a registered file name; an empty name picks the first image with a face."""
        return self.reader.read(lambda ws: ws.images.by_file(file_name)).image_id

    def load_image(self, image_id: str) -> np.ndarray:
        """The upright RGB pixels (H, W, 3) uint8 of a registered image, from its workspace copy."""
        record = self.reader.read(lambda ws: ws.images.get(image_id))
        return load_image_rgb(record.stored_path, limits=self.limits)

    def detections(self, image_id: str, detector: str) -> Detections:
        """All objects and faces of an image: the stored ones, or a live run of ``detector`` (cached)."""
        key = (image_id, detector)
        if key not in self._found:
            if detector == STORED:
                objects, faces = self.reader.read(
                    lambda ws: (ws.objects.of_image(image_id), ws.faces.of_image(image_id))
                )
            else:
                image = self.load_image(image_id)
                objects, faces = self._model(detector).detect(image), self._model(self.face_model).analyze(image)
            self._found[key] = Detections.merge(objects, faces)
        return self._found[key]

    def _model(self, name: str) -> Any:
        if name not in self._models:
            self._models[name] = (
                create_face_analyzer(name, model_dir=self.model_dir)
                if name == self.face_model
                else create_object_detector(name, model_dir=self.model_dir, confidence=LIVE_CONFIDENCE)
            )
        return self._models[name]

    def explorer(self, image_id: str, detector: str = STORED, min_confidence: float = 0.4) -> Explorer:
        """Image, detector, confidence and class controls over the figure and counts (live in JupyterLab)."""
        import ipywidgets as widgets

        controls = {
            "image_id": widgets.Dropdown(options=self.image_choices(), value=image_id, description="image"),
            "detector": widgets.Dropdown(options=detector_choices(), value=detector, description="detector"),
            "min_confidence": widgets.FloatSlider(
                value=min_confidence, min=0.05, max=1.0, step=0.05, description="confidence"
            ),
            "classes": widgets.SelectMultiple(description="classes", rows=6),
        }
        self.link_class_filter(controls["classes"], controls["image_id"], controls["detector"])
        return Explorer(controls, self.show, rows=[("image_id", "detector"), ("min_confidence", "classes")])

    def link_class_filter(self, class_filter: Any, image_picker: Any, detector_picker: Any) -> None:
        """Keep a class-filter widget's options to the classes of the picked image and detector."""

        def refresh(_change: Any = None) -> None:
            class_filter.value = ()
            class_filter.options = self.class_names(image_picker.value, detector_picker.value)

        image_picker.observe(refresh, names="value")
        detector_picker.observe(refresh, names="value")
        refresh()

    def class_names(self, image_id: str, detector: str) -> list[str]:
        """Class names present in an image: the class filter's options."""
        return sorted(class_counts(self.detections(image_id, detector)))

    def figure(self, image_id: str, detector: str, min_confidence: float, classes: Sequence[str] = ()) -> Figure:
        """The image with the filtered detections drawn, and a bar chart of counts per class."""
        shown = filter_detections(self.detections(image_id, detector), min_confidence=min_confidence, classes=classes)
        counts = class_counts(shown)
        figure = Figure(figsize=(11, 5), layout="constrained")
        image_axes, count_axes = figure.subplots(1, 2, width_ratios=[3, 1])
        image_axes.imshow(draw_detections(self.load_image(image_id), shown))
        image_axes.set_axis_off()
        image_axes.set_title(f"{self._names[image_id]} · {detector} · confidence ≥ {min_confidence:.2f}")
        count_axes.barh(list(counts)[::-1] or ["(none)"], list(counts.values())[::-1] or [0], color="tab:blue")
        count_axes.set_title(f"{len(shown)} detections")
        count_axes.set_xlabel("count")
        return figure

    def show(self, image_id: str, detector: str, min_confidence: float, classes: Sequence[str] = ()) -> None:
        """Display the figure and the counts table (the callback of the notebook's widgets)."""
        from IPython.display import display

        figure = self.figure(image_id, detector, min_confidence, classes)
        counts = class_counts(
            filter_detections(self.detections(image_id, detector), min_confidence=min_confidence, classes=classes)
        )
        display(figure_image(figure), show_table([("class", "count"), *counts.items()]))

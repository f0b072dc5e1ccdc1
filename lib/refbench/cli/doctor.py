"""``refbench doctor``: what this installation can do, as tables."""

from __future__ import annotations

import importlib.util
import platform

from rich.table import Table

from refbench.detect import OBJECT_DETECTORS, create_object_detector
from refbench.errors import RefbenchError
from refbench.faces import FACE_ANALYZERS, create_face_analyzer
from refbench.provision.weights import model_status
from refbench.settings import Settings
from refbench.versions import package_versions


def backend_availability(settings: Settings) -> list[tuple[str, str, str]]:
    """(kind, name, "available (provider)" or the reason it is not) for every registered backend."""
    rows = []
    for name in OBJECT_DETECTORS:
        if name == "ultralytics":  # runs a model file the user supplies: say how, not "unavailable"
            rows.append(("object detector", name, ultralytics_state()))
            continue
        try:
            create_object_detector(name, model_dir=settings.models)
            rows.append(("object detector", name, "available"))
        except RefbenchError as error:
            rows.append(("object detector", name, f"unavailable: {error}"))
    for name in FACE_ANALYZERS:
        try:
            analyzer = create_face_analyzer(name, model_dir=settings.models, providers=settings.providers)
            rows.append(("face model", name, f"available ({analyzer.execution_provider})"))
        except RefbenchError as error:
            rows.append(("face model", name, f"unavailable: {error}"))
    rows += library_availability(settings)
    return rows


def library_availability(settings: Settings) -> list[tuple[str, str, str]]:
    """The asset library's default embedders and OCR reader, loaded or with the reason they cannot be."""
    from refbench.library import (
        DEFAULT_IMAGE_EMBEDDER,
        DEFAULT_TEXT_EMBEDDER,
        create_image_embedder,
        create_text_embedder,
    )
    from refbench.library.ocr import create_ocr_reader

    rows = []
    for kind, name, load in (
        (
            "image embedder",
            DEFAULT_IMAGE_EMBEDDER,
            lambda: create_image_embedder(DEFAULT_IMAGE_EMBEDDER, model_dir=settings.models),
        ),
        (
            "text embedder",
            DEFAULT_TEXT_EMBEDDER,
            lambda: create_text_embedder(DEFAULT_TEXT_EMBEDDER, model_dir=settings.models),
        ),
        ("OCR", "rapidocr", create_ocr_reader),
    ):
        try:
            backend = load()
            rows.append((kind, name, f"available ({getattr(backend, 'execution_provider', 'CPUExecutionProvider')})"))
        except RefbenchError as error:
            rows.append((kind, name, f"unavailable: {error}"))
    return rows


def ultralytics_state() -> str:
    """Whether the ultralytics package is installed, and how to give it weights."""
    if importlib.util.find_spec("ultralytics") is None:
        return "unavailable: the ultralytics package is not installed"
    return "available with --detector-model PATH (a YOLOv8/11 .pt or .onnx you supply; no default weights)"


def doctor_report(settings: Settings) -> list[Table]:
    """Tables: environment, backends, model files."""
    import onnxruntime

    env = Table("item", "value", title="environment")
    env.add_row("python", platform.python_version())
    for name, value in package_versions().items():
        env.add_row(name, value)
    env.add_row("onnxruntime providers available", ", ".join(onnxruntime.get_available_providers()))
    env.add_row("database", str(settings.database))
    env.add_row("model directory", str(settings.models))
    backends = Table("kind", "backend", "state", title="backends")
    for row in backend_availability(settings):
        backends.add_row(*row)
    files = Table("file", "state", "sha256", "licence", title="model files")
    for row in model_status(settings.models):
        files.add_row(*row.values())
    return [env, backends, files]

"""Ultralytics YOLO (v8/11, ``.pt`` or ``.onnx``) for a model file the user supplies.

No Ultralytics weights can be downloaded here; this backend loads only a local file and
never lets Ultralytics fetch anything (offline switches are set before import).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from refbench.errors import ModelUnavailableError
from refbench.settings import PROJECT_ROOT
from refbench.types import Detections


def _offline_environment() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(PROJECT_ROOT / ".ultralytics"))


def _torch_nms(dets, scores, iou_threshold: float):  # noqa: ANN001 - torch.library signature
    """Greedy NMS in plain torch, same contract as ``torchvision.ops.nms``."""
    import torch

    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = dets[order[1:]]
        lt = torch.maximum(dets[i, :2], rest[:, :2])
        rb = torch.minimum(dets[i, 2:], rest[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(dets[i]) + area(rest) - inter)
        order = order[1:][iou <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def ensure_torchvision_nms() -> str:
    """Make ``import torchvision`` work on CPU torch.

    The only torchvision that accepts torch 2.13.0 here is a CUDA build whose compiled ops
    fail to load on CPU torch; importing it then dies on ``torchvision::nms``. Registering a
    pure-torch ``nms`` first is enough for Ultralytics. Returns which NMS is in use.
    """
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - probing the op registry
        return "torchvision"
    except (AttributeError, RuntimeError):
        pass
    if torch.version.cuda is not None:
        return "torchvision"  # a CUDA torch loads torchvision's own kernels
    library = torch.library.Library("torchvision", "DEF")  # noqa: TID251
    # torchvision registers fake kernels for exactly these two ops even when its own library fails.
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.impl("nms", _torch_nms, "CPU")
    ensure_torchvision_nms.library = library  # keep the registration alive
    import torchvision.extension

    # torchvision.ops.nms checks this flag before dispatching to the op we just registered.
    torchvision.extension._has_ops = lambda: True
    return "pure-torch"


class UltralyticsDetector:
    """``ultralytics.YOLO(path)`` on a local ``.pt``/``.onnx`` file."""

    name = "ultralytics"

    def __init__(self, *, model_path: Path, confidence: float = 0.25, iou: float = 0.7, image_size: int = 640):
        if not Path(model_path).is_file():
            raise ModelUnavailableError(f"Ultralytics model file {model_path} does not exist (nothing is downloaded)")
        _offline_environment()
        self.nms = ensure_torchvision_nms()
        from PIL import Image
        from ultralytics import YOLO

        from refbench.ingest.imaging import PIL_OPEN

        Image.open = PIL_OPEN  # undo Ultralytics' global patch of Pillow (it would try to pip-install pi-heif)
        self.model = YOLO(str(model_path))
        self.confidence, self.iou, self.image_size = confidence, iou, image_size

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Detect objects in an RGB image (H, W, 3) uint8 (Ultralytics takes numpy arrays as BGR)."""
        result = self.model.predict(
            np.ascontiguousarray(image_rgb[:, :, ::-1]),
            conf=self.confidence,
            iou=self.iou,
            imgsz=self.image_size,
            verbose=False,
        )[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        class_id = boxes.cls.cpu().numpy().astype(np.int32)
        names = np.array([result.names[int(i)] for i in class_id], dtype=object)
        return Detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), class_id, {"class_name": names})

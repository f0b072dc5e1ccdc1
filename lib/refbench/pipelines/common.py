"""What several pipelines share: the workspace's view of the threshold policy."""

from __future__ import annotations

from refbench.identity import Threshold, choose_threshold
from refbench.registry import Workspace
from refbench.settings import Settings


def face_threshold(ws: Workspace, face_model: str, *, explicit: float | None = None) -> Threshold:
    """The same-person threshold of ``face_model``: ``explicit``, else this workspace's calibrated one, else shipped."""
    stored = ws.thresholds.get(face_model)
    return choose_threshold(
        face_model,
        explicit=explicit,
        calibrated=stored.value if stored else None,
        calibration=stored.source if stored else "",
    )


def resolve_threshold(settings: Settings, face_model: str, *, explicit: float | None = None) -> Threshold:
    """``face_threshold`` for a workspace that may not exist yet (then: explicit or shipped)."""
    if explicit is not None or not settings.database.is_file():
        return choose_threshold(face_model, explicit=explicit)
    with Workspace.open(settings, read_only=True) as ws:
        return face_threshold(ws, face_model, explicit=explicit)

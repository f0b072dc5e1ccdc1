"""``refbench views``: a character's view sheet from its registered photos, drawn, stored and tracked as a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refbench.assets.crops import save_png
from refbench.errors import InputError
from refbench.identity.views import ViewSheet, bin_faces, render_view_sheet
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Asset, Metric


@dataclass(frozen=True)
class ViewSheetRun:
    """One stored view sheet: the run, the sheet's id, the sheet and its PNG."""

    run_id: str
    sheet_id: str
    sheet: ViewSheet
    path: Path


def character(ws: Workspace, tag: str) -> Asset:
    """The active character ``tag`` (a did-you-mean error for an unknown tag, a plain one for a non-character)."""
    asset = ws.assets.list()[tag]
    if asset.asset_type != "character":
        raise InputError(f"{tag} is a {asset.asset_type}: views are made of characters (CHAR_ tags)")
    return asset


def sheet_from_photos(ws: Workspace, tag: str, *, face_model: str) -> tuple[ViewSheet, int]:
    """The view sheet of ``tag`` from its registered faces, and how many faces were binned."""
    character(ws, tag)
    gallery = ws.faces.gallery(face_model)
    faces = gallery[gallery.data["identity_tag"] == tag] if len(gallery) else gallery
    if not len(faces):
        raise InputError(f"{tag} has no {face_model} faces: run `refbench manifest --face-model {face_model}` first")
    return bin_faces(faces, tag=tag, face_model=face_model), len(faces)


def store_sheet(ws: Workspace, sheet: ViewSheet, *, n_faces: int, run_id: str) -> tuple[str, Path]:
    """Draw ``sheet`` to ``<files>/views/<tag>-<run>.png`` and store it; returns (sheet id, PNG path)."""
    path = save_png(render_view_sheet(sheet), ws.files_dir / "views" / f"{sheet.tag}-{run_id}.png")
    identity_id = ws.assets.list()[sheet.tag].identity_id
    sheet_id = ws.views.save(sheet, path=path, identity_id=identity_id, n_faces=n_faces, run_id=run_id)
    return sheet_id, path


def view_metrics(sheet: ViewSheet, *, n_faces: int) -> list[Metric]:
    """Run metrics of a sheet: faces binned, views filled and missing, faces per view."""
    return [
        Metric("faces", n_faces, "faces"),
        Metric("views_filled", len(sheet.images), "views"),
        Metric("views_missing", len(sheet.missing), "views"),
        *(Metric("faces_in_view", n, "faces", label=view.value) for view, n in sheet.counts.items()),
    ]


def run_view_sheet(settings: Settings, *, tag: str, face_model: str | None = None) -> ViewSheetRun:
    """Bin ``tag``'s registered faces into the five views, draw the sheet and store it as a ``views`` run.

    Raises:
        UnknownTagError: no active asset has that tag (with a did-you-mean).
        InputError: the tag is no character, or it has no face of ``face_model``.
    """
    face_model = face_model or settings.face_model
    with Workspace.open(settings, create=False) as ws:
        sheet, n_faces = sheet_from_photos(ws, tag, face_model=face_model)
        with ws.runs.track("views", {"tag": tag, "face_model": face_model}) as run:
            sheet_id, path = store_sheet(ws, sheet, n_faces=n_faces, run_id=run.run_id)
            run.log_many(view_metrics(sheet, n_faces=n_faces))
    return ViewSheetRun(run.run_id, sheet_id, sheet, path)

"""Review and refine: the user's corrections, recorded as events and honoured by every re-cluster.

Each command checks its input against the registry first (an unknown tag, a face that is not in the tag:
nothing is recorded), then, as one tracked run and one transaction, stores the event with a snapshot of
the faces it names, re-clusters the face model under all active events and projects names, types and
exclusions onto the assets. ``undo`` marks the latest event undone and does the same. The CLI
(``refbench identities ...``, ``refbench assets ...``) and notebook 06 call exactly these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refbench.curation import ASSET_TYPES, CurationEvent, event_faces, replay
from refbench.describe import Describer
from refbench.errors import CurationError, OptionError, UnknownNameError
from refbench.identity import tag_number
from refbench.pipelines.common import face_threshold
from refbench.pipelines.describe import DescribeSummary, describe_assets
from refbench.pipelines.identities import apply_overrides, current_curation, update_identities
from refbench.pipelines.manifest import write_contact_sheet
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Identity

Payload = Callable[[Workspace, str], dict[str, Any]]


@dataclass(frozen=True)
class CurationResult:
    """What a curation command did: the event stored (or undone) and the identities after it."""

    event: CurationEvent
    run_id: str
    identities: int
    undone: bool = False

    @property
    def message(self) -> str:
        """One line for the command line."""
        return ("undone " if self.undone else "") + f"{self.event.summary} ({self.identities} identities)"


@dataclass(frozen=True)
class FaceCard:
    """One face of an identity, as a gallery shows it."""

    face_id: str
    image_file: str
    crop_path: Path
    quality: float
    width_frac: float


@dataclass(frozen=True)
class IdentityCard:
    """One identity as ``identities list`` and notebook 06 show it: tag, name, faces (best first)."""

    tag: str
    name: str
    face_model: str
    best_face_id: str
    faces: tuple[FaceCard, ...]
    named_by_user: bool = False
    excluded: bool = False
    asset_type: str = "character"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``--json``."""
        return {
            "tag": self.tag,
            "name": self.name,
            "face_model": self.face_model,
            "n_faces": len(self.faces),
            "best_face_id": self.best_face_id,
            "named_by_user": self.named_by_user,
            "excluded": self.excluded,
            "faces": [
                {
                    "face_id": f.face_id,
                    "image_file": f.image_file,
                    "quality": round(f.quality, 4),
                    "crop_path": str(f.crop_path),
                }
                for f in self.faces
            ],
        }


@dataclass(frozen=True)
class FaceChoice:
    """Faces picked by id or by the image they are in (``--face`` / ``--image``)."""

    faces: Sequence[str] = field(default=())
    images: Sequence[str] = field(default=())

    def pick(self, ws: Workspace, identity: Identity) -> list[str]:
        """The identity's faces this choice names, in the identity's order.

        Raises:
            CurationError: nothing chosen, or a face or image that has no face in the identity.
        """
        if not self.faces and not self.images:
            raise CurationError("choose faces with --face FACE_ID or --image FILE")
        gallery = ws.faces.gallery(identity.face_model)
        image_of = dict(zip(gallery.data["face_id"].tolist(), gallery.data["image_file"].tolist(), strict=True))
        members = set(identity.face_ids)
        for face in self.faces:
            if face not in members:
                where = (
                    f"belongs to {_tag_of(ws, identity.face_model, face)}" if face in image_of else "is not a face id"
                )
                raise CurationError(f"face {face} {where}, not {identity.tag}; see `refbench identities list`")
        for image in self.images:
            if not any(image_of.get(f) == image for f in members):
                files = sorted({image_of[f] for f in members if f in image_of})
                raise UnknownNameError(f"image with a face of {identity.tag}", image, files)
        return [f for f in identity.face_ids if f in set(self.faces) or image_of.get(f) in set(self.images)]


def _tag_of(ws: Workspace, face_model: str, face_id: str) -> str:
    owner = [d.tag for d in ws.identities.list(face_model) if face_id in d.face_ids]
    return owner[0] if owner else "no identity"


def _default_command(name: str, *args: object) -> str:
    return f"python: refbench.pipelines.curation.{name}({', '.join(repr(a) for a in args)})"


def record(settings: Settings, kind: str, payload: Payload, *, command: str) -> CurationResult:
    """Check and build an event's payload, then store it and re-cluster in one tracked run and transaction."""
    with Workspace.open(settings, create=False) as ws:
        face_model = _face_model(ws)
        built = payload(ws, face_model)
        with ws.runs.track("curate", {"kind": kind, "command": command}) as run, ws.transaction():
            before = ws.curation.events()
            event = ws.curation.add(kind, built, command=command, face_model=face_model, run_id=run.run_id)
            identities = refresh(ws, face_model=face_model, run_id=run.run_id, events_before=before, event=event)
    return CurationResult(event, run.run_id, identities)


def refresh(
    ws: Workspace,
    *,
    face_model: str,
    run_id: str,
    events_before: Sequence[CurationEvent],
    event: CurationEvent,
    restore_tags: Mapping[str, str] | None = None,
) -> int:
    """Re-link ``face_model``'s identities around the faces ``event`` names (all of them when the identities are
    not up to date with ``events_before``), at their current threshold, under every active event; assets follow.
    Returns the number of identities (``restore_tags``: see ``recluster``)."""
    events = ws.curation.events()
    threshold = ws.identities.threshold(face_model)
    if threshold is None:
        threshold = face_threshold(ws, face_model).value
    update_identities(
        ws,
        face_model=face_model,
        threshold=threshold,
        run_id=run_id,
        events=events,
        seeds=event_faces(event),
        events_before=events_before,
        restore_tags=restore_tags,
    )
    ws.assets.sync_characters(face_model)
    apply_overrides(ws, replay(events))
    write_contact_sheet(ws, run_id=run_id)
    return ws.identities.count(face_model)


def _face_model(ws: Workspace) -> str:
    model = ws.identities.active_face_model()
    if model is None:
        raise CurationError("this workspace has no identities yet: run `refbench manifest` first")
    return model


def _members(ws: Workspace, tag: str, face_model: str) -> Identity:
    return ws.identities.get(tag, face_model=face_model)


def _before(identities: Sequence[Identity]) -> dict[str, str]:
    return {face: d.tag for d in identities for face in d.face_ids}


# --- identities --------------------------------------------------------------------------------------------


def rename_identity(settings: Settings, tag: str, name: str, *, command: str | None = None) -> CurationResult:
    """Name an identity; the name stays with its people through every re-cluster."""
    name = _clean_name(name)

    def payload(ws: Workspace, face_model: str) -> dict[str, Any]:
        return {"tag": tag, "name": name, "members": list(_members(ws, tag, face_model).face_ids)}

    return record(
        settings, "rename_identity", payload, command=command or _default_command("rename_identity", tag, name)
    )


def merge_identities(
    settings: Settings, target: str, others: Sequence[str], *, command: str | None = None
) -> CurationResult:
    """The faces of ``others`` join ``target``, which keeps its tag (and its name, else the first other's)."""
    if not others or target in others or len(set(others)) != len(others):
        raise CurationError(f"merge needs a target and other, distinct tags; got {target} and {list(others)}")

    def payload(ws: Workspace, face_model: str) -> dict[str, Any]:
        identities = [_members(ws, tag, face_model) for tag in (target, *others)]
        names = {a.tag: a.name for a in ws.assets.list() if a.named_by_user}
        name = names.get(target) or next((names[t] for t in others if t in names), None)
        return {
            "target": target,
            "sources": list(others),
            "members": [f for d in identities for f in d.face_ids],
            "before": _before(identities),
            "name": name,
        }

    return record(settings, "merge", payload, command=command or _default_command("merge_identities", target, others))


def split_identity(settings: Settings, tag: str, *, choice: FaceChoice, command: str | None = None) -> CurationResult:
    """The chosen faces leave ``tag`` together, as a new identity, and never rejoin ``tag``."""

    def payload(ws: Workspace, face_model: str) -> dict[str, Any]:
        identity = _members(ws, tag, face_model)
        faces = choice.pick(ws, identity)
        remaining = [f for f in identity.face_ids if f not in set(faces)]
        if not remaining:
            raise CurationError(f"{tag} has no other face: nothing to split it from (exclude it instead)")
        return {
            "tag": tag,
            "new_tag": f"CHAR_{ws.identities.highest_tag_number() + 1:02d}",
            "faces": faces,
            "remaining": remaining,
            "before": _before([identity]),
        }

    return record(settings, "split", payload, command=command or _default_command("split_identity", tag, choice))


def set_reference(settings: Settings, tag: str, *, choice: FaceChoice, command: str | None = None) -> CurationResult:
    """The chosen face shows the identity (its crop becomes the character's reference)."""

    def payload(ws: Workspace, face_model: str) -> dict[str, Any]:
        identity = _members(ws, tag, face_model)
        faces = choice.pick(ws, identity)
        if len(faces) != 1:
            raise CurationError(f"choose one face of {tag} as its reference, not {len(faces)}")
        return {"tag": tag, "face": faces[0], "members": list(identity.face_ids)}

    return record(settings, "set_reference", payload, command=command or _default_command("set_reference", tag, choice))


# --- assets ------------------------------------------------------------------------------------------------


def _asset_payload(ws: Workspace, face_model: str, tag: str, **values: Any) -> dict[str, Any]:
    asset = ws.assets.list()[tag]  # UnknownTagError with suggestions
    members = list(ws.identities.get(tag, face_model=face_model).face_ids) if asset.asset_type == "character" else []
    return {"tag": tag, "asset_id": asset.asset_id, "members": members, **values}


def rename_asset(settings: Settings, tag: str, name: str, *, command: str | None = None) -> CurationResult:
    """Name any asset (a character's name follows its people, like ``rename_identity``)."""
    name = _clean_name(name)
    return record(
        settings,
        "rename_asset",
        lambda ws, model: _asset_payload(ws, model, tag, name=name),
        command=command or _default_command("rename_asset", tag, name),
    )


def retype_asset(settings: Settings, tag: str, asset_type: str, *, command: str | None = None) -> CurationResult:
    """Change an asset's type (its tag stays: scenes and plans refer to it)."""
    if asset_type not in ASSET_TYPES:
        raise OptionError(f"asset type must be one of {', '.join(ASSET_TYPES)}, got {asset_type!r}")
    return record(
        settings,
        "retype",
        lambda ws, model: _asset_payload(ws, model, tag, type=asset_type),
        command=command or _default_command("retype_asset", tag, asset_type),
    )


def exclude(
    settings: Settings, *, tag: str | None = None, image: str | None = None, command: str | None = None
) -> CurationResult:
    """Exclude an asset (no reference any more), or a photo (its faces leave every identity, its assets go)."""
    if (tag is None) == (image is None):
        raise CurationError("exclude one asset (TAG) or one photo (--image FILE)")
    if tag is not None:
        return record(
            settings,
            "exclude_asset",
            lambda ws, model: _asset_payload(ws, model, tag),
            command=command or _default_command("exclude", tag),
        )

    def payload(ws: Workspace, face_model: str) -> dict[str, Any]:
        record_ = ws.images.by_file(image)
        faces = ws.faces.of_image(record_.image_id)
        ids = [str(f) for f, m in zip(faces.data["face_id"], faces.data["face_model"], strict=True) if m == face_model]
        return {"image_id": record_.image_id, "file": record_.file_name, "faces": ids}

    return record(settings, "exclude_image", payload, command=command or _default_command("exclude", image))


def describe_asset(
    settings: Settings, tag: str, *, describer: Describer, command: str | None = None
) -> tuple[CurationResult, DescribeSummary]:
    """Describe one asset again (ignoring the cache); every other asset is left as it is. Undo restores the texts."""
    with Workspace.open(settings, create=False) as ws:
        asset = ws.assets.list()[tag]
        before = ws.assets.descriptions_of(tag)
    summary = describe_assets(settings, describer, force=True, tags=(tag,))
    result = record(
        settings,
        "describe",
        lambda ws, model: {"tag": tag, "asset_id": asset.asset_id, "before": before, "backend": describer.backend},
        command=command or _default_command("describe_asset", tag),
    )
    return result, summary


# --- undo, list, log ---------------------------------------------------------------------------------------


def undo(settings: Settings, *, command: str | None = None) -> CurationResult | None:
    """Undo the latest correction that is not undone yet (``None``: nothing to undo)."""
    command = command or _default_command("undo")
    with Workspace.open(settings, create=False) as ws:
        face_model = _face_model(ws)
        with ws.runs.track("curate", {"kind": "undo", "command": command}) as run, ws.transaction():
            events_before = ws.curation.events()
            event = ws.curation.undo_latest(run_id=run.run_id)
            if event is None:
                return None
            if event.kind == "describe":
                ws.assets.restore_descriptions(event.payload["asset_id"], event.payload["before"])
            tags = event.payload.get("before") if event.kind in ("merge", "split") else None
            identities = refresh(
                ws,
                face_model=face_model,
                run_id=run.run_id,
                events_before=events_before,
                event=event,
                restore_tags=tags,
            )
    return CurationResult(event, run.run_id, identities, undone=True)


def list_identities(settings: Settings, *, face_model: str | None = None) -> list[IdentityCard]:
    """Every identity of the face model (default: the one the characters show), by tag, faces best first."""
    with Workspace.open(settings, read_only=True) as ws:
        face_model = face_model or _face_model(ws)
        identities = ws.identities.list(face_model)
        gallery = ws.faces.gallery(face_model)
        assets = {a.tag: a for a in ws.assets.list()}
        curation = current_curation(ws)
    faces = {
        str(face_id): FaceCard(str(face_id), str(image), Path(str(crop)), float(q), float(w))
        for face_id, image, crop, q, w in zip(
            *(gallery.data[k] for k in ("face_id", "image_file", "crop_path", "quality_score", "width_frac")),
            strict=True,
        )
    }
    cards = []
    for d in identities:
        asset = assets.get(d.tag)
        members = sorted(
            (faces[f] for f in d.face_ids if f in faces), key=lambda c: (c.face_id != d.best_face_id, -c.quality)
        )
        auto_name = asset.name if asset else f"character {tag_number(d.tag):02d}"
        cards.append(
            IdentityCard(
                tag=d.tag,
                name=curation.names.get(d.tag, auto_name),
                face_model=face_model,
                best_face_id=d.best_face_id,
                faces=tuple(members),
                named_by_user=d.tag in curation.names,
                excluded=d.tag in curation.excluded_tags,
                asset_type=curation.types.get(d.tag, "character"),
            )
        )
    return cards


def curation_log(settings: Settings) -> list[CurationEvent]:
    """Every correction of the workspace, oldest first (undone ones marked)."""
    with Workspace.open(settings, read_only=True) as ws:
        return ws.curation.events()


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise OptionError("a name cannot be empty")
    return name

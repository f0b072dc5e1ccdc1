"""Per-scene reference selection: at most ``max_refs`` registry assets, each with the reason it was chosen.

Rules, in order of the sort key: manual pins first; then the shot type's preference (establishing →
environment and props; close-up → characters as face crops; two-shot → two *different* characters,
then the environment; object focus → objects); then role (subject > interaction target > background);
then the asset's quality score. Candidates whose image is byte-identical to one already chosen are
dropped. Every candidate, chosen or dropped, is stored with its reason. A character placed with a
``view`` (``profile_left`` for a side shot) is shown by that view of its view sheet when it has one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from refbench.errors import SelectionError
from refbench.faces.pose import VIEWS, View
from refbench.select.scenes import ROLE_PRIORITY, Role, SceneSpec, ShotType
from refbench.types import Asset, AssetSet

OBJECT_TYPES = ("prop", "vehicle", "animal", "product", "logo")
FULL_BODY_SHOTS = (ShotType.WIDE, ShotType.ACTION)

__all__ = ["Selection", "SelectionError", "Slot", "select_references"]


@dataclass(frozen=True)
class Slot:
    """One candidate reference: chosen (``slot`` 1..max_refs) or dropped (``slot`` None), with why."""

    tag: str
    role: Role
    asset_type: str
    variant: str
    image_path: Path
    quality: float | None
    reason: str
    pinned: bool = False
    slot: int | None = None


@dataclass
class Selection:
    """The references of one scene, in slot order, plus the candidates left out and why."""

    scene_id: str
    shot_type: ShotType
    max_refs: int
    chosen: list[Slot] = field(default_factory=list)
    dropped: list[Slot] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    unpins: list[str] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        """Chosen tags in slot order."""
        return [s.tag for s in self.chosen]


def _shot_rank(shot: ShotType, asset: Asset, character_index: int) -> tuple[int, str]:
    """Lower ranks are chosen first; the text says which shot-type rule applied."""
    kind = asset.asset_type
    if shot is ShotType.ESTABLISHING:
        rank = {"environment": 0, **dict.fromkeys(OBJECT_TYPES, 1)}.get(kind, 2)
        return rank, "establishing shot: environment first, then props, then characters"
    if shot is ShotType.CLOSE_UP:
        return (
            (0, "close-up: characters first, as face crops")
            if kind == "character"
            else (1, "close-up: non-character after the characters")
        )
    if shot is ShotType.TWO_SHOT:
        if kind == "character":
            return (
                (0, "two-shot: one of the two different characters")
                if character_index < 2
                else (3, "two-shot: a third character comes after the environment")
            )
        return (
            (1, "two-shot: environment after the two characters")
            if kind == "environment"
            else (2, "two-shot: objects after characters and environment")
        )
    if shot is ShotType.OBJECT_FOCUS:
        rank = {**dict.fromkeys(OBJECT_TYPES, 0), "character": 1}.get(kind, 2)
        return rank, "object focus: objects first, then characters, then environment"
    return 0, f"{shot.value}: ranked by role"


def _variant(shot: ShotType, asset: Asset, view: View | None = None) -> tuple[str, Path, str]:
    """Which image of the asset the shot wants: (variant, path, note). A view the placement asks for wins when the
    character's view sheet has it; otherwise the note says it is missing and how to get it."""
    missing = ""
    if view is not None:
        label = VIEWS[view].label
        if view.value in asset.views:
            return f"view_{view.value}", asset.views[view.value], f"asked for the {label} view: from its view sheet"
        missing = (
            f"asked for the {label} view, which its view sheet lacks (`refbench views {asset.tag}`, or generate it: "
            f"`refbench clean {asset.tag} --tier multi-angle`)"
        )
    variant, path, note = _default_variant(shot, asset)
    return variant, path, "; ".join(n for n in (missing, note) if n)


def _default_variant(shot: ShotType, asset: Asset) -> tuple[str, Path, str]:
    if asset.asset_type == "character" and shot in FULL_BODY_SHOTS:
        if asset.full_body_path is not None:
            return "full_body", asset.full_body_path, "full-body crop rather than the face crop"
        if asset.source_image_path is not None:
            return "source_image", asset.source_image_path, "no full-body crop: whole source photo instead"
    base = {"character": "face_crop", "environment": "environment"}.get(asset.asset_type, "object_crop")
    if asset.clean_path is not None:
        return f"clean_tier{asset.clean_tier}", asset.clean_path, f"primary clean reference (tier {asset.clean_tier})"
    return base, asset.crop_path, ""


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else f"missing:{path}"


def _candidates(scene: SceneSpec, registry: AssetSet) -> tuple[list[tuple], list[Slot]]:
    """Sortable candidates (one per distinct tag, best role kept) and the repeats dropped on the way."""
    best_role: dict[str, Role] = {}
    repeats = []
    for placement in scene.placements:
        tag, role = placement.asset_tag, placement.role
        if tag in best_role:
            keep = min(best_role[tag], role, key=ROLE_PRIORITY.__getitem__)
            repeats.append((tag, role if keep is best_role[tag] else best_role[tag]))
            best_role[tag] = keep
        else:
            best_role[tag] = role
    assets = {tag: registry[tag] for tag in best_role}
    # Characters are ranked among themselves first so the two-shot rule knows which two come first.
    characters = sorted(
        (t for t, a in assets.items() if a.asset_type == "character"),
        key=lambda t: (t not in scene.pins, ROLE_PRIORITY[best_role[t]], -(assets[t].quality or 0), t),
    )
    identities_seen: dict[str, str] = {}
    character_index: dict[str, int] = {}
    for tag in characters:
        identity = assets[tag].identity_id or tag
        if identity not in identities_seen:
            identities_seen[identity] = tag
            character_index[tag] = len(identities_seen) - 1
        else:
            character_index[tag] = 99
    candidates = []
    for tag, role in best_role.items():
        asset = assets[tag]
        rank, why = _shot_rank(scene.shot_type, asset, character_index.get(tag, 0))
        variant, path, note = _variant(scene.shot_type, asset, scene.views.get(tag))
        named = f"{asset.name!r}" if asset.named_by_user else ""
        reason = "; ".join(x for x in (named, why, f"role {role.value}", f"quality {_fmt(asset.quality)}", note) if x)
        key = (tag not in scene.pins, rank, ROLE_PRIORITY[role], -(asset.quality or 0.0), tag)
        candidates.append(
            (
                key,
                Slot(
                    tag=tag,
                    role=role,
                    asset_type=asset.asset_type,
                    variant=variant,
                    image_path=path,
                    quality=asset.quality,
                    reason=reason,
                    pinned=tag in scene.pins,
                ),
            )
        )
    dropped = [
        Slot(
            tag=t,
            role=r,
            asset_type=assets[t].asset_type,
            variant="",
            image_path=assets[t].crop_path,
            quality=assets[t].quality,
            reason=f"duplicate placement of {t}: kept its higher-priority role",
        )
        for t, r in repeats
    ]
    return sorted(candidates, key=lambda c: c[0]), dropped


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def select_references(scene: SceneSpec, registry: AssetSet, *, max_refs: int = 3) -> Selection:
    """Choose at most ``max_refs`` references for a scene, each with a reason.

    Args:
        scene: A validated scene spec (its ``pins``/``unpins`` are manual overrides).
        registry: The active assets (``Workspace.assets.list()``).
        max_refs: Upper bound of references (Veo 3.1 takes 3).

    Raises:
        SelectionError: unknown tags, more pins than slots, or a two-shot without two different characters.
    """
    if max_refs < 1:
        raise SelectionError(f"max_refs must be at least 1, got {max_refs}")
    if len(scene.pins) > max_refs:
        raise SelectionError(
            f"scene {scene.scene_id!r}: {len(scene.pins)} pinned tags {scene.pins} exceed max_refs={max_refs}"
        )
    candidates, dropped = _candidates(scene, registry)
    selection = Selection(
        scene.scene_id, scene.shot_type, max_refs, dropped=dropped, pins=list(scene.pins), unpins=list(scene.unpins)
    )
    digests: dict[str, str] = {}
    identities: dict[str, str] = {}
    for _, slot in candidates:
        asset = registry[slot.tag]
        digest = _file_digest(slot.image_path)
        if slot.tag in scene.unpins:
            selection.dropped.append(replace(slot, reason="unpinned by the user (manual override)"))
        elif digest in digests:
            selection.dropped.append(replace(slot, reason=f"same image as {digests[digest]}: de-duplicated"))
        elif asset.identity_id and asset.identity_id in identities:
            selection.dropped.append(replace(slot, reason=f"same identity as {identities[asset.identity_id]}"))
        elif len(selection.chosen) >= max_refs:
            selection.dropped.append(replace(slot, reason=f"over max_refs={max_refs} ({slot.reason})"))
        else:
            reason = ("pinned by the user (manual override); " if slot.pinned else "") + slot.reason
            selection.chosen.append(replace(slot, reason=reason, slot=len(selection.chosen) + 1))
            digests[digest] = slot.tag
            if asset.identity_id:
                identities[asset.identity_id] = slot.tag
    _check_two_shot(scene, selection)
    return selection


def _check_two_shot(scene: SceneSpec, selection: Selection) -> None:
    if scene.shot_type is not ShotType.TWO_SHOT:
        return
    chosen = [s.tag for s in selection.chosen if s.asset_type == "character"]
    if len(chosen) < 2:
        placed = [p.asset_tag for p in scene.placements if p.asset_tag.startswith("CHAR_")]
        raise SelectionError(
            f"scene {scene.scene_id!r}, field placements: a two_shot needs two different characters among its "
            f"references; placed characters {placed}, chosen {chosen} (unpinned: {scene.unpins})"
        )

"""Identities under the user's corrections: the re-cluster every manifest run and every curation command ends with.

Both call these inside one transaction: the events are replayed, resolved to the face set's rows, the faces
clustered with those constraints, tags placed by the pins, and the overrides projected onto the assets.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from refbench.curation import Curation, replay, resolve
from refbench.identity import build_identities
from refbench.registry import Workspace
from refbench.types import FaceSet, Identity


def current_curation(ws: Workspace) -> Curation:
    """The workspace's active corrections, replayed."""
    return replay(ws.curation.events())


def recluster(
    ws: Workspace,
    *,
    face_model: str,
    threshold: float,
    run_id: str,
    curation: Curation,
    restore_tags: Mapping[str, str] | None = None,
) -> list[Identity]:
    """Cluster ``face_model``'s faces (excluded photos left out) under ``curation``; replace its identities.

    ``restore_tags`` (face id → tag) stands in for the faces' current tags when tags vote: what ``undo``
    passes, so that an identity an event had taken apart or absorbed gets its old tag back.
    """
    face_set = without_images(ws.faces.of(face_model), curation.excluded_images)
    if restore_tags:
        face_set = with_previous_tags(face_set, restore_tags)
    counterparts = ws.faces.counterparts(curation.faces, face_model=face_model)
    resolved = resolve(curation, face_set.face_ids, counterparts=counterparts)
    identities = build_identities(
        face_set, threshold=threshold, curation=resolved, first_free=ws.identities.highest_tag_number() + 1
    )
    ws.identities.replace(face_model, identities, run_id=run_id)
    return identities


def apply_overrides(ws: Workspace, curation: Curation) -> None:
    """Names, types and exclusions of ``curation`` onto the assets (after characters follow the identities)."""
    ws.assets.apply_overrides(
        names=dict(curation.names),
        types=dict(curation.types),
        excluded_tags=curation.excluded_tags,
        excluded_images=curation.excluded_images,
    )


def with_previous_tags(face_set: FaceSet, tags: Mapping[str, str]) -> FaceSet:
    """``face_set`` with the tags of ``tags`` as its faces' previous tags (others keep theirs)."""
    previous = [
        tags.get(face, str(tag))
        for face, tag in zip(face_set.face_ids, face_set.faces.data["identity_tag"], strict=True)
    ]
    return FaceSet(face_set.face_model, face_set.faces.with_data(identity_tag=np.array(previous, dtype=object)))


def without_images(face_set: FaceSet, image_ids: frozenset[str]) -> FaceSet:
    """``face_set`` without the faces of ``image_ids``."""
    if not image_ids or not len(face_set):
        return face_set
    keep = ~np.isin(face_set.faces.data["image_id"].astype(str), list(image_ids))
    return FaceSet(face_set.face_model, face_set.faces[keep])

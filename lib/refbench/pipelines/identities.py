"""Identities under the user's corrections: the re-cluster every manifest run and every curation command ends with.

Both call these inside one transaction: the events are replayed, resolved to the face set's rows, the faces
clustered with those constraints, tags placed by the pins, and the overrides projected onto the assets.

A run at the threshold and under the corrections the identities were made with only re-links where something
changed (``relink``): the new faces, or the faces an event names, and the identities within the threshold of
them; the rest of the registry keeps its identities untouched. A new threshold, another face model, a new
correction seen by a manifest run, or ``recluster=True`` clusters every face again (``recluster``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from refbench.curation import Curation, CurationEvent, replay, resolve, version
from refbench.identity import build_identities, neighbourhood
from refbench.registry import Workspace
from refbench.registry.faces import IdentityState
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


def update_identities(
    ws: Workspace,
    *,
    face_model: str,
    threshold: float,
    run_id: str,
    events: Sequence[CurationEvent],
    seeds: Collection[str] = (),
    events_before: Sequence[CurationEvent] | None = None,
    restore_tags: Mapping[str, str] | None = None,
    full: bool = False,
) -> str:
    """Bring ``face_model``'s identities up to date and record the state they now come from.

    A re-link around the faces without an identity and ``seeds`` when the identities were made at ``threshold``
    under ``events_before`` (default ``events``: a curation command passes the events before its change, and
    the faces the change names as ``seeds``); otherwise, or with ``full``, a full re-cluster.

    Returns:
        ``incremental`` or ``full``.
    """
    curation, current = replay(events), version(events)
    state = ws.identities.state(face_model)
    expected = version(events if events_before is None else events_before)
    full = full or state is None or not state.allows_relink(threshold=threshold, curation_version=expected)
    if full:
        recluster(
            ws, face_model=face_model, threshold=threshold, run_id=run_id, curation=curation, restore_tags=restore_tags
        )
    else:
        relink(
            ws,
            face_model=face_model,
            threshold=threshold,
            run_id=run_id,
            curation=curation,
            seeds=seeds,
            restore_tags=restore_tags,
        )
    method = "full" if full else "incremental"
    n_faces = ws.faces.count(face_model)
    ws.identities.set_state(IdentityState(face_model, threshold, current, n_faces, method, run_id))
    return method


def relink(
    ws: Workspace,
    *,
    face_model: str,
    threshold: float,
    run_id: str,
    curation: Curation,
    seeds: Collection[str] = (),
    restore_tags: Mapping[str, str] | None = None,
) -> list[Identity]:
    """Cluster again only the faces without an identity, the ``seeds``, and the identities within ``threshold`` of
    them (``refbench.identity.neighbourhood``); every other identity is left as it is."""
    everyone = ws.faces.of(face_model)
    face_set = without_images(everyone, curation.excluded_images)
    if restore_tags:
        face_set = with_previous_tags(face_set, restore_tags)
    ids, tags = face_set.face_ids, [str(t) for t in face_set.faces.data["identity_tag"]]
    seed_rows = np.flatnonzero([t == "" or f in seeds for f, t in zip(ids, tags, strict=True)])
    gone = {str(t) for f, t in zip(everyone.face_ids, everyone.faces.data["identity_tag"], strict=True) if f in seeds}
    if not len(seed_rows) and not gone - {""}:
        return []
    rows = neighbourhood(face_set.embeddings, tags, seed_rows, threshold=threshold)
    subset = FaceSet(face_model, face_set.faces[rows])
    touched = ({tags[r] for r in rows} | gone) - {""}
    counterparts = ws.faces.counterparts(curation.faces, face_model=face_model)
    resolved = resolve(curation, subset.face_ids, counterparts=counterparts)
    identities = build_identities(
        subset,
        threshold=threshold,
        curation=resolved,
        first_free=ws.identities.highest_tag_number() + 1,
        reserved=set(tags) - touched - {""},
    )
    ws.identities.replace_some(face_model, touched, identities, run_id=run_id)
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

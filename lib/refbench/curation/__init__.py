"""Curation: a user's corrections stored as events and replayed as constraints that every re-cluster honours.

An event records what was asked and a snapshot of the faces it was asked about (face ids are stable: image
hash + face model + index). ``replay`` folds the active events, in order, into a ``Curation``:

- **must-links**: a merge puts every face of the merged identities in one group; a split takes the split
  faces out of their group into one of their own;
- **cannot-links**: a split separates the split faces from the faces that stayed; a later merge of the two
  sides lifts exactly the pairs it joins. Identities the user named differently are different people;
- **tag pins**: every identity event pins its tag to the faces it was about, so the tag (and with it the
  name, the type, the reference, an exclusion) follows those people to whichever cluster holds most of them;
- **asset overrides** (name, type, reference face, excluded tags and images), keyed by tags, which are
  never handed out twice.

Later events win over earlier ones; ``undo`` marks an event undone and the replay simply skips it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from refbench.identity.linkage import NO_COLOUR, LinkConstraints

# What each kind of event means (the ``kind`` column of ``curation_events``).
EVENT_KINDS = {
    "rename_identity": "give an identity a name",
    "merge": "faces of other identities join the target, which keeps its tag",
    "split": "faces leave an identity into a new one and never rejoin it",
    "set_reference": "the face that shows an identity",
    "rename_asset": "give an asset a name",
    "retype": "change an asset's type",
    "exclude_asset": "an asset is no reference",
    "exclude_image": "a photo takes no part (no faces, no assets)",
    "describe": "describe one asset again",
}
ASSET_TYPES = ("character", "prop", "vehicle", "animal", "environment")


@dataclass(frozen=True)
class CurationEvent:
    """One correction as stored: what (``kind`` and ``payload``), when, how it was asked, and whether undone."""

    seq: int
    kind: str
    payload: dict[str, Any]
    command: str
    face_model: str | None = None
    created_at: datetime | None = None
    undone: bool = False
    run_id: str | None = None

    @property
    def summary(self) -> str:
        """One line for logs and ``identities log``."""
        p = self.payload
        detail = {
            "rename_identity": lambda: f"{p['tag']} → {p['name']!r}",
            "rename_asset": lambda: f"{p['tag']} → {p['name']!r}",
            "merge": lambda: f"{' '.join(p['sources'])} into {p['target']}",
            "split": lambda: f"{len(p['faces'])} face(s) of {p['tag']} into {p['new_tag']}",
            "set_reference": lambda: f"{p['tag']} shown by {p['face']}",
            "retype": lambda: f"{p['tag']} → {p['type']}",
            "exclude_asset": lambda: p["tag"],
            "exclude_image": lambda: p["file"],
            "describe": lambda: p["tag"],
        }[self.kind]()
        return f"#{self.seq} {self.kind}: {detail}" + (" (undone)" if self.undone else "")


@dataclass(frozen=True)
class TagPin:
    """A tag pinned to the faces an event was about; ``seq`` orders pins (the latest wins)."""

    tag: str
    faces: frozenset[str]
    seq: int


@dataclass(frozen=True)
class Curation:
    """The active events folded into constraints and overrides (``replay``)."""

    must: tuple[frozenset[str], ...] = ()
    cannot: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    pins: tuple[TagPin, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)
    excluded_tags: frozenset[str] = frozenset()
    excluded_images: frozenset[str] = frozenset()

    @property
    def faces(self) -> frozenset[str]:
        """Every face id a constraint or pin mentions."""
        found = {f for group in self.must for f in group}
        found |= {f for a, b in self.cannot for f in a | b}
        found |= {f for pin in self.pins for f in pin.faces}
        return frozenset(found | set(self.references.values()))


def version(events: Iterable[CurationEvent]) -> str:
    """A digest of which events are active: identities clustered under another version must be re-linked."""
    active = sorted(e.seq for e in events if not e.undone)
    return hashlib.sha256(",".join(map(str, active)).encode()).hexdigest()[:16]


def event_faces(event: CurationEvent) -> set[str]:
    """Every face id an event names: where a re-link after it (or after undoing it) has to look."""
    p = event.payload
    found = {f for key in ("members", "faces", "remaining") for f in p.get(key, ())}
    return found | ({p["face"]} if p.get("face") else set())


def replay(events: Iterable[CurationEvent]) -> Curation:
    """Fold the events that are not undone, in ``seq`` order, into one ``Curation``."""
    state = _Replay()
    for event in sorted(events, key=lambda e: e.seq):
        if not event.undone:
            state.apply(event)
    return state.result()


class _Replay:
    """Mutable state of a replay: must-link groups, cannot-links, pins and overrides."""

    def __init__(self) -> None:
        self.groups: dict[int, set[str]] = {}
        self.new_group_id = itertools.count()
        self.group_of: dict[str, int] = {}
        self.cannot: list[tuple[frozenset[str], frozenset[str]]] = []
        self.pins: list[TagPin] = []
        self.names: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.references: dict[str, str] = {}
        self.excluded_tags: set[str] = set()
        self.excluded_images: set[str] = set()

    def apply(self, event: CurationEvent) -> None:
        p, seq = event.payload, event.seq
        if event.kind == "merge":
            self._must_link(set(p["members"]))
            self.pins.append(TagPin(p["target"], frozenset(p["members"]), seq))
            if p.get("name") and p["target"] not in self.names:
                self.names[p["target"]] = p["name"]
            for tag in p["sources"]:
                self.names.pop(tag, None)
        elif event.kind == "split":
            faces, remaining = frozenset(p["faces"]), frozenset(p["remaining"])
            self._detach(faces)
            if remaining:
                self.cannot.append((faces, remaining))
                self.pins.append(TagPin(p["tag"], remaining, seq))
            self.pins.append(TagPin(p["new_tag"], faces, seq))
        elif event.kind in ("rename_identity", "rename_asset"):
            self.names[p["tag"]] = p["name"]
            self._pin(p, seq)
        elif event.kind == "set_reference":
            self.references[p["tag"]] = p["face"]
            self._pin(p, seq)
        elif event.kind == "retype":
            self.types[p["tag"]] = p["type"]
        elif event.kind == "exclude_asset":
            self.excluded_tags.add(p["tag"])
            self._pin(p, seq)
        elif event.kind == "exclude_image":
            self.excluded_images.add(p["image_id"])

    def _pin(self, payload: dict[str, Any], seq: int) -> None:
        if payload.get("members"):
            self.pins.append(TagPin(payload["tag"], frozenset(payload["members"]), seq))

    def _must_link(self, faces: set[str]) -> None:
        """One group for ``faces`` and every face already must-linked to one of them; lift cannot-links inside."""
        joined = set(faces)
        for group_id in {self.group_of[f] for f in faces if f in self.group_of}:
            joined |= self.groups.pop(group_id)
        group_id = next(self.new_group_id)
        self.groups[group_id] = joined
        self.group_of.update(dict.fromkeys(joined, group_id))
        frozen = frozenset(joined)
        lifted = []
        for a, b in self.cannot:
            if a & frozen and b & frozen:  # keep every pair but those the merge joins
                lifted += [(a - frozen, b), (a & frozen, b - frozen)]
            else:
                lifted.append((a, b))
        self.cannot = [(a, b) for a, b in lifted if a and b]

    def _detach(self, faces: frozenset[str]) -> None:
        """Take ``faces`` out of their must-link groups; they form one group of their own."""
        for face in faces:
            group_id = self.group_of.pop(face, None)
            if group_id is not None:
                self.groups[group_id].discard(face)
        self._must_link(set(faces))

    def result(self) -> Curation:
        return Curation(
            must=tuple(frozenset(g) for g in self.groups.values() if len(g) > 1),
            cannot=tuple(self.cannot),
            pins=tuple(self.pins),
            names=dict(self.names),
            types=dict(self.types),
            references=dict(self.references),
            excluded_tags=frozenset(self.excluded_tags),
            excluded_images=frozenset(self.excluded_images),
        )


@dataclass(frozen=True)
class RowPin:
    """A tag pinned to rows of one face set."""

    tag: str
    rows: np.ndarray
    seq: int


@dataclass(frozen=True)
class ResolvedCuration:
    """A ``Curation`` in the rows of one face set: what clustering and tagging take."""

    constraints: LinkConstraints
    pins: tuple[RowPin, ...]
    references: dict[str, int]  # tag -> row of its reference face
    dropped: int = 0  # cannot-link rows dropped because a must-link contradicts them (must-links win)


def resolve(curation: Curation, face_ids: Sequence[str], *, counterparts: Mapping[str, str]) -> ResolvedCuration:
    """Constraints and pins of ``curation`` as rows of ``face_ids``.

    Args:
        curation: the replayed events.
        face_ids: the face set's ids, one per row.
        counterparts: face id of another face model → the id of the same face (same image, overlapping box) in
            this set, so that corrections made with one face model hold for another.
    """
    index = {face: row for row, face in enumerate(face_ids)}

    def rows(faces: Iterable[str]) -> np.ndarray:
        found = (index.get(counterparts.get(f, f)) for f in faces)
        return np.array(sorted({r for r in found if r is not None}), dtype=np.int64)

    n = len(face_ids)
    must = np.arange(n)
    for number, group in enumerate(curation.must):
        must[rows(group)] = n + number
    rules = [_rule(n, [rows(a), rows(b)]) for a, b in curation.cannot]
    rules.append(_rule(n, _named_sides(curation, rows)))
    rules, dropped = _must_wins(must, rules)
    rules = [r for r in rules if (r > NO_COLOUR).sum() > 1]
    pins = tuple(RowPin(p.tag, rows(p.faces), p.seq) for p in curation.pins)
    references = {tag: int(found[0]) for tag, face in curation.references.items() if len(found := rows([face]))}
    return ResolvedCuration(
        LinkConstraints(must, tuple(rules)), tuple(p for p in pins if len(p.rows)), references, dropped
    )


def _named_sides(curation: Curation, rows: Callable[[Iterable[str]], np.ndarray]) -> list[np.ndarray]:
    """Rows of each differently named identity (its latest pin's faces), one array per distinct name."""
    latest: dict[str, TagPin] = {}
    for pin in curation.pins:
        latest[pin.tag] = pin
    by_name: dict[str, list[np.ndarray]] = {}
    for tag, name in curation.names.items():
        if tag in latest:
            by_name.setdefault(name, []).append(rows(latest[tag].faces))
    return [np.concatenate(parts) for parts in by_name.values()] if len(by_name) > 1 else []


def _rule(n: int, sides: list[np.ndarray]) -> np.ndarray:
    """An exclusive rule over ``n`` rows: side ``k``'s rows get colour ``k``; a row on two sides gets none."""
    rule = np.full(n, NO_COLOUR, dtype=np.int64)
    sides = [s for s in sides if len(s)]
    if len(sides) < 2:
        return rule
    seen = np.zeros(n, dtype=np.int64)
    for colour, side in enumerate(sides):
        rule[side] = colour
        seen[side] += 1
    rule[seen > 1] = NO_COLOUR
    return rule


def _must_wins(must: np.ndarray, rules: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Rules with the colours removed from every must-link group they would split (a later merge lifted them)."""
    dropped = 0
    for rule in rules:
        coloured = rule > NO_COLOUR
        groups, counts = np.unique(must[coloured], return_counts=True)
        for group in groups[counts > 1]:
            members = coloured & (must == group)
            if len(np.unique(rule[members])) > 1:
                dropped += int(members.sum())
                rule[members] = NO_COLOUR
    return rules, dropped

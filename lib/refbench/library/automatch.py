"""Auto-matching: placements for a scene from its prompt, each with a confidence and the reason it was made.

In order of confidence: a tag written in the prompt (1.0); an asset's curated name ("Barack Obama", or a
word of it no other asset shares, "Obama": 0.95/0.85); an object word naming a detected class or a declared
asset ("the bus", "a dog", "the python logo": 0.8, the best-quality asset of that class); a place the prompt
describes, found by text search among environments (its cosine, when ≥ ``min_place_cosine``). Characters
and people become subjects (the first mentioned) or interaction targets, objects interaction targets (subjects
when no one is named), places backgrounds. Pins and unpins of the scene still decide; the selection later
picks at most ``max_refs`` references.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from refbench.library import DECLARED_ID_PREFIX
from refbench.library.keywords import words
from refbench.library.search import LibrarySearcher
from refbench.types import Asset, AssetSet

TAG_IN_TEXT = re.compile(r"\b(?:CHAR|PROP|VEH|ANIM|ENV|LOGO|PROD|PERS|TEX|STYLE)_\d{2,}\b")
DEFAULT_NAME = re.compile(r"^character \d+$")  # names the manifest gives before anyone curates them
PEOPLE = ("character", "person")
PLACES = ("environment",)


@dataclass(frozen=True)
class AutoPlacement:
    """One automatic placement: tag, role (``subject`` | ``interaction_target`` | ``background``), why."""

    tag: str
    role: str
    confidence: float
    reason: str
    position: int = 0  # where in the prompt it was found (order of mention)


class AutoMatcher:
    """Finds a prompt's assets.

    Args:
        max_refs: at most this many placements are added to a scene.
        min_place_cosine: an environment is placed only when its text cosine to the prompt reaches this.
    """

    def __init__(self, *, max_refs: int = 3, min_place_cosine: float = 0.35) -> None:
        self.max_refs, self.min_place_cosine = max_refs, min_place_cosine

    def match(
        self,
        prompt: str,
        *,
        assets: AssetSet,
        searcher: LibrarySearcher | None = None,
        exclude: Collection[str] = (),
        slots: int | None = None,
    ) -> list[AutoPlacement]:
        """Placements for ``prompt`` among ``assets``, most confident first, at most ``slots`` (default max_refs)."""
        found: dict[str, AutoPlacement] = {}
        for placement in [
            *_named_tags(prompt, assets),
            *_named_assets(prompt, assets),
            *_object_words(prompt, assets),
            *self._places(prompt, searcher),
        ]:
            if placement.tag not in exclude and placement.tag not in found:
                found[placement.tag] = placement
        ranked = sorted(found.values(), key=lambda p: (-p.confidence, p.position))
        chosen = ranked[: self.max_refs if slots is None else max(0, slots)]
        return _assign_roles(chosen, assets)

    def _places(self, prompt: str, searcher: LibrarySearcher | None) -> list[AutoPlacement]:
        if searcher is None or not len(searcher.index):
            return []
        hits = searcher.text_hits(prompt, k=1, types=PLACES)
        if not hits:
            return []
        cosine = hits[0].text_cosine
        if cosine is None or round(cosine, 2) < self.min_place_cosine:  # the figure "why" shows
            return []
        return [
            AutoPlacement(
                hits[0].tag, "background", round(cosine, 2), f"place described in the prompt ({hits[0].why})", 10**6
            )
        ]


def _named_tags(prompt: str, assets: AssetSet) -> list[AutoPlacement]:
    return [
        AutoPlacement(m.group(0), "", 1.0, "tag named in the prompt", m.start())
        for m in TAG_IN_TEXT.finditer(prompt)
        if m.group(0) in assets
    ]


def _phrase_at(phrase: Sequence[str], tokens: Sequence[str]) -> int:
    """Token index where ``phrase`` occurs in ``tokens``, or -1."""
    n = len(phrase)
    return next((i for i in range(len(tokens) - n + 1) if list(tokens[i : i + n]) == list(phrase)), -1) if n else -1


def _named_assets(prompt: str, assets: AssetSet) -> list[AutoPlacement]:
    """Assets whose curated name occurs in the prompt (people and declared assets: not detector class names)."""
    tokens = words(prompt)
    named = [a for a in assets if _curated(a)]
    counts: dict[str, int] = {}
    for asset in named:
        for word in set(words(asset.name)):
            counts[word] = counts.get(word, 0) + 1
    found, partial = [], {}
    for asset in named:
        phrase = words(asset.name)
        if (at := _phrase_at(phrase, tokens)) >= 0:
            found.append(AutoPlacement(asset.tag, "", 0.95, f"name {asset.name!r} in the prompt", at))
            continue
        unique = [w for w in phrase if len(w) >= 4 and counts.get(w) == 1 and w in tokens]
        if unique and asset.asset_type in PEOPLE:
            reason = f"{unique[0]!r} of {asset.name!r} in the prompt"
            found.append(AutoPlacement(asset.tag, "", 0.85, reason, tokens.index(unique[0])))
            continue
        # "a face mask" for assets named "blue face mask", "white face mask": one of them, the first by tag.
        part = _longest_shared_phrase(phrase, tokens)
        key = " ".join(part)
        if part and (key not in partial or asset.tag < partial[key].tag):
            reason = f"{key!r} of {asset.name!r} in the prompt"
            partial[key] = AutoPlacement(asset.tag, "", 0.75, reason, _phrase_at(part, tokens))
    return found + list(partial.values())


def _longest_shared_phrase(phrase: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """The longest run of at least two consecutive words of ``phrase`` that occurs in ``tokens`` (else [])."""
    for n in range(len(phrase) - 1, 1, -1):
        for start in range(len(phrase) - n + 1):
            if _phrase_at(phrase[start : start + n], tokens) >= 0:
                return list(phrase[start : start + n])
    return []


def _curated(asset: Asset) -> bool:
    """Whether a person gave the asset its name (detected objects and scenes carry class or file names)."""
    if asset.asset_type == "character":
        return not DEFAULT_NAME.match(asset.name)
    return asset.asset_id.startswith(DECLARED_ID_PREFIX)


def _object_words(prompt: str, assets: AssetSet) -> list[AutoPlacement]:
    """The best asset of each object class the prompt names ("the bus", "two dogs")."""
    tokens = words(prompt)
    best: dict[str, Asset] = {}
    for asset in assets:
        if asset.asset_type in PEOPLE or asset.asset_type in PLACES or not asset.class_name:
            continue
        label = " ".join(words(asset.class_name))
        if label and (label not in best or (asset.quality or 0) > (best[label].quality or 0)):
            best[label] = asset
    found = []
    for label, asset in best.items():
        if (at := _phrase_at(label.split(), tokens)) >= 0:
            found.append(AutoPlacement(asset.tag, "", 0.8, f"object word {label!r} in the prompt (best {label})", at))
    return found


def _assign_roles(placements: list[AutoPlacement], assets: AssetSet) -> list[AutoPlacement]:
    """People: the first mentioned is the subject, the others interaction targets; objects: targets (subject when
    no one is named); places and textures: background."""
    people = sorted((p for p in placements if assets[p.tag].asset_type in PEOPLE), key=lambda p: p.position)
    things = sorted((p for p in placements if p not in people), key=lambda p: p.position)
    roles = {p.tag: ("subject" if i == 0 else "interaction_target") for i, p in enumerate(people)}
    for i, p in enumerate(things):
        kind = assets[p.tag].asset_type
        if kind in (*PLACES, "texture", "style"):
            roles[p.tag] = "background"
        else:
            roles[p.tag] = "subject" if not people and i == 0 else "interaction_target"
    return [AutoPlacement(p.tag, p.role or roles[p.tag], p.confidence, p.reason, p.position) for p in placements]

"""How many corrections reach the ground truth from a clustering: the fewest ``split`` and ``merge`` commands.

Ground truth is a table of points, one per face (``file,x,y,identity``, the point inside the face's box in
pixels of the upright photo), so that it holds for any face model. From a clustering, each identity that
holds faces of several people keeps its majority person and needs one ``split`` per other person (the split
faces leave together); then each person spread over several identities needs one ``merge`` (every other
identity of that person joins the one holding most of their faces). Both counts are the minimum for these
two commands.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refbench.errors import InputNotFound
from refbench.types import Detections


@dataclass(frozen=True)
class FacePoint:
    """One labelled face: a point inside it, in pixels of the upright photo."""

    file: str
    x: float
    y: float
    identity: str


@dataclass(frozen=True)
class Split:
    """``identities split TAG --face ...``: these faces (all one person) leave ``tag``."""

    tag: str
    faces: tuple[str, ...]


@dataclass(frozen=True)
class Merge:
    """``identities merge TARGET SOURCES...``: the sources' faces join ``target``."""

    target: str
    sources: tuple[str, ...]


def load_face_points(path: Path) -> list[FacePoint]:
    """Read a ``file,x,y,identity`` CSV."""
    if not Path(path).is_file():
        raise InputNotFound(f"face ground truth {path} does not exist")
    with Path(path).open() as handle:
        return [FacePoint(r["file"], float(r["x"]), float(r["y"]), r["identity"]) for r in csv.DictReader(handle)]


def label_faces(points: Sequence[FacePoint], faces: Detections) -> dict[str, str]:
    """Face id → identity for each point inside a face box of its photo (the box whose centre is nearest).

    ``faces.data`` needs ``face_id`` and ``image_file``; faces without a point stay unlabelled.
    """
    files = faces.data["image_file"].astype(str)
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    labels = {}
    for point in points:
        xy = np.array([point.x, point.y], dtype=np.float32)
        inside = (files == point.file) & np.all((faces.xyxy[:, :2] <= xy) & (xy <= faces.xyxy[:, 2:]), axis=1)
        if inside.any():
            rows = np.flatnonzero(inside)
            row = rows[int(np.argmin(np.linalg.norm(centres[rows] - xy, axis=1)))]
            labels[str(faces.data["face_id"][row])] = point.identity
    return labels


def plan_splits(assignment: Mapping[str, str], truth: Mapping[str, str]) -> list[Split]:
    """One split per minority person of each identity (labelled faces only), largest groups first."""
    people: dict[str, dict[str, list[str]]] = {}
    for face, tag in assignment.items():
        if face in truth:
            people.setdefault(tag, {}).setdefault(truth[face], []).append(face)
    splits = []
    for tag, groups in sorted(people.items()):
        ranked = sorted(groups.values(), key=lambda faces: (-len(faces), min(faces)))
        splits += [Split(tag, tuple(sorted(faces))) for faces in ranked[1:]]
    return splits


def plan_merges(assignment: Mapping[str, str], truth: Mapping[str, str]) -> list[Merge]:
    """One merge per person whose labelled faces lie in several identities (call on a split-clean clustering)."""
    tags_of: dict[str, Counter] = {}
    for face, tag in assignment.items():
        if face in truth:
            tags_of.setdefault(truth[face], Counter())[tag] += 1
    merges = []
    for _, tags in sorted(tags_of.items()):
        if len(tags) > 1:
            ranked = sorted(tags, key=lambda t: (-tags[t], t))
            merges.append(Merge(ranked[0], tuple(ranked[1:])))
    return merges


def restricted(assignment: Mapping[str, str], truth: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(true labels, predicted tags) of the labelled faces, in face-id order: what cluster metrics compare."""
    faces = sorted(f for f in assignment if f in truth)
    return [truth[f] for f in faces], [assignment[f] for f in faces]

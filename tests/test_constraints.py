"""The constraint model on its own: events replayed into must/cannot-links and pins, constrained average linkage,
equality with scikit-learn's dense average linkage, and the corrections planner."""

from __future__ import annotations

import numpy as np
import pytest
from refbench.curation import Curation, CurationEvent, replay, resolve
from refbench.curation.corrections import Merge, Split, plan_merges, plan_splits
from refbench.errors import ConstraintConflict
from refbench.identity import build_identities, cluster_faces, cluster_faces_dense, stable_tags
from refbench.identity.linkage import LinkConstraints, average_linkage, threshold_pairs
from refbench.settings import Settings
from refbench.types import Detections, FaceSet

from tests.conftest import read_workspace


def event(seq: int, kind: str, **payload) -> CurationEvent:
    return CurationEvent(seq, kind, payload, command="test")


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(labels == lb).tolist()) for lb in set(labels.tolist())}


def identities(rng: np.random.Generator, n_people: int, per_person: int, *, dim: int = 64) -> np.ndarray:
    """Unit vectors around one random centre per person (same-person cosine ~0.2-0.8, others ~0)."""
    centres = rng.standard_normal((n_people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n_people * per_person, dim))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    weight = rng.uniform(0.2, 0.8, (len(noise), 1))
    faces = np.sqrt(weight) * np.repeat(centres, per_person, axis=0) + np.sqrt(1 - weight) * noise
    return (faces / np.linalg.norm(faces, axis=1, keepdims=True)).astype(np.float32)


# --- replay: later events win ------------------------------------------------------------------------------


def test_a_merge_links_every_face_and_pins_the_target_tag() -> None:
    curation = replay([event(1, "merge", target="CHAR_01", sources=["CHAR_02"], members=["a", "b", "c"])])
    assert curation.must == (frozenset("abc"),) and curation.cannot == ()
    assert [(p.tag, p.faces) for p in curation.pins] == [("CHAR_01", frozenset("abc"))]


def test_a_split_detaches_the_faces_and_separates_them_from_those_left() -> None:
    curation = replay(
        [
            event(1, "merge", target="CHAR_01", sources=["CHAR_02"], members=["a", "b", "c"]),
            event(2, "split", tag="CHAR_01", new_tag="CHAR_03", faces=["c"], remaining=["a", "b"]),
        ]
    )
    assert set(curation.must) == {frozenset("ab")}
    assert curation.cannot == ((frozenset("c"), frozenset("ab")),)
    assert {p.tag for p in curation.pins} == {"CHAR_01", "CHAR_03"}


def test_a_later_merge_lifts_only_the_pairs_it_joins() -> None:
    curation = replay(
        [
            event(1, "split", tag="CHAR_01", new_tag="CHAR_02", faces=["x", "y"], remaining=["a", "b"]),
            event(2, "merge", target="CHAR_01", sources=["CHAR_02"], members=["a", "x"]),
        ]
    )
    kept = {(f, g) for side_a, side_b in curation.cannot for f in side_a for g in side_b}
    assert kept == {("x", "b"), ("y", "b")}  # x and y left together, so the merge joins both to a; b stays apart


def test_undone_events_are_skipped_and_names_follow_merges() -> None:
    curation = replay(
        [
            event(1, "rename_identity", tag="CHAR_02", name="Biden", members=["b"]),
            event(2, "merge", target="CHAR_01", sources=["CHAR_02"], members=["a", "b"], name="Biden"),
            CurationEvent(3, "rename_identity", {"tag": "CHAR_01", "name": "Joe"}, "test", undone=True),
            event(4, "retype", tag="PROP_01", type="vehicle"),
            event(5, "exclude_image", image_id="img", file="x.jpg"),
        ]
    )
    assert dict(curation.names) == {"CHAR_01": "Biden"}
    assert dict(curation.types) == {"PROP_01": "vehicle"} and curation.excluded_images == {"img"}


# --- resolve: rows of one face set -------------------------------------------------------------------------


def test_named_identities_exclude_each_other_and_counterparts_map_other_models() -> None:
    curation = replay(
        [
            event(1, "rename_identity", tag="CHAR_01", name="Obama", members=["sface-a"]),
            event(2, "rename_identity", tag="CHAR_02", name="Biden", members=["b"]),
        ]
    )
    resolved = resolve(curation, ["a", "b", "c"], counterparts={"sface-a": "a"})
    (rule,) = resolved.constraints.exclusive
    assert rule.tolist() == [0, 1, -1]
    assert [(p.tag, p.rows.tolist()) for p in resolved.pins] == [("CHAR_01", [0]), ("CHAR_02", [1])]


def test_a_must_link_wins_over_a_cannot_link_it_contradicts() -> None:
    curation = Curation(must=(frozenset("ab"),), cannot=((frozenset("a"), frozenset("b")),))
    resolved = resolve(curation, ["a", "b"], counterparts={})
    assert resolved.dropped == 2 and resolved.constraints.exclusive == ()


# --- constrained average linkage ---------------------------------------------------------------------------


def test_must_links_merge_first_and_cannot_links_never_join() -> None:
    embeddings = identities(np.random.default_rng(1), 3, 4)  # rows 0-3, 4-7, 8-11: three people
    free = cluster_faces(embeddings, threshold=0.1)
    assert partition(free) == {frozenset(range(i, i + 4)) for i in (0, 4, 8)}
    must = np.arange(12)
    must[[0, 4]] = 100  # a user says faces 0 and 4 are one person
    cannot = np.full(12, -1)
    cannot[[1, 2]] = [0, 1]  # ... and that faces 1 and 2 are not
    labels = cluster_faces(embeddings, threshold=0.1, constraints=LinkConstraints(must, (cannot,)))
    assert labels[0] == labels[4] and labels[1] != labels[2]


def test_a_contradiction_inside_a_must_link_group_is_refused() -> None:
    embeddings = identities(np.random.default_rng(2), 1, 2)
    constraints = LinkConstraints(np.array([0, 0]), (np.array([0, 1]),))
    with pytest.raises(ConstraintConflict, match="cannot-link rule 0"):
        cluster_faces(embeddings, threshold=0.3, constraints=constraints)


@pytest.mark.parametrize("threshold", [-0.5, 0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9])
def test_same_partition_as_dense_sklearn_on_the_sample_faces(demo_workspace: Settings, threshold: float) -> None:
    with read_workspace(demo_workspace) as ws:
        embeddings = ws.faces.of("insightface").embeddings
    assert (
        cluster_faces(embeddings, threshold=threshold).tolist()
        == cluster_faces_dense(embeddings, threshold=threshold).tolist()
    )


@pytest.mark.parametrize(("people", "per_person", "threshold"), [(40, 5, 0.1), (100, 6, 0.3), (150, 4, 0.45)])
def test_same_partition_as_dense_sklearn_on_identity_structured_sets(
    people: int, per_person: int, threshold: float
) -> None:
    embeddings = identities(np.random.default_rng(people), people, per_person)
    order = np.random.default_rng(0).permutation(len(embeddings))  # interleaved, as photos arrive
    embeddings = embeddings[order]
    pairs = threshold_pairs(embeddings, threshold=threshold).pairs
    sparse = average_linkage(embeddings, threshold=threshold, pairs=pairs)
    assert sparse.tolist() == cluster_faces_dense(embeddings, threshold=threshold).tolist()
    assert len(pairs) < len(embeddings) ** 2 / 4  # the graph is sparse


def test_threshold_pairs_are_exactly_the_pairs_above_the_threshold() -> None:
    embeddings = identities(np.random.default_rng(3), 20, 5)
    sims = embeddings @ embeddings.T
    expected = {(i, j) for i, j in zip(*np.nonzero(np.triu(sims, 1) > 0.25), strict=True)}
    found = threshold_pairs(embeddings, threshold=0.25, block_bytes=4 * 100 * 7).pairs  # 7-row blocks
    assert {tuple(p) for p in found.tolist()} == expected


# --- tags ---------------------------------------------------------------------------------------------------


def test_pins_place_tags_before_votes_and_numbers_are_never_reused() -> None:
    from refbench.curation import RowPin

    labels = np.array([0, 0, 1, 1, 2])
    previous = ["CHAR_01", "CHAR_01", "CHAR_01", "CHAR_02", ""]
    pins = [RowPin("CHAR_05", np.array([2, 3]), seq=1)]
    assert stable_tags(labels, previous, pins=pins, first_free=9) == {1: "CHAR_05", 0: "CHAR_01", 2: "CHAR_09"}


def test_a_reference_pin_chooses_the_best_face() -> None:
    from refbench.curation import ResolvedCuration

    embeddings = identities(np.random.default_rng(4), 1, 3)
    faces = Detections(
        np.zeros((3, 4)),
        np.ones(3),
        np.zeros(3),
        {
            "face_id": np.array(["f0", "f1", "f2"], dtype=object),
            "embedding": embeddings,
            "quality_score": np.array([0.9, 0.5, 0.1], np.float32),
            "identity_tag": np.array(["CHAR_01"] * 3, dtype=object),
        },
    )
    face_set = FaceSet("insightface", faces)
    (automatic,) = build_identities(face_set, threshold=0.1)
    pinned = ResolvedCuration(LinkConstraints.none(3), (), {"CHAR_01": 2})
    (chosen,) = build_identities(face_set, threshold=0.1, curation=pinned)
    assert (automatic.best_face_id, chosen.best_face_id) == ("f0", "f2")


# --- the corrections planner --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "splits", "merges"),
    [
        ({"a1": "T1", "a2": "T1", "b1": "T2"}, [], []),
        ({"a1": "T1", "a2": "T2", "b1": "T3"}, [], [Merge("T1", ("T2",))]),
        ({"a1": "T1", "a2": "T1", "b1": "T1", "c1": "T1"}, [Split("T1", ("b1",)), Split("T1", ("c1",))], []),
        ({"a1": "T1", "a2": "T2", "a3": "T2", "b1": "T2"}, [Split("T2", ("b1",))], [Merge("T2", ("T1",))]),
    ],
)
def test_the_fewest_splits_and_merges(assignment: dict, splits: list, merges: list) -> None:
    truth = {face: face[0] for face in assignment}
    assert plan_splits(assignment, truth) == splits
    if not splits:
        assert plan_merges(assignment, truth) == merges

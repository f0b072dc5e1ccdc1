"""Clustering faces into identities with real ArcFace embeddings from the sample photos."""

from __future__ import annotations

import numpy as np
import pytest
from refbench.errors import OptionError
from refbench.identity import cluster_faces, default_threshold, similarity_matrix
from refbench.settings import Settings

from tests.conftest import read_workspace


@pytest.fixture(scope="module")
def labelled_embeddings(demo_workspace: Settings, sample_identities: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    with read_workspace(demo_workspace) as ws:
        file_names = {record.image_id: record.file_name for record in ws.images.list()}
        faces = ws.faces.of("insightface").faces
    # The most confident face of each labelled photo.
    first: dict[str, np.ndarray] = {}
    for i in np.argsort(-faces.confidence, kind="stable"):
        name = file_names[faces.data["image_id"][i]]
        if name in sample_identities:
            first.setdefault(name, faces.data["embedding"][i])
    names = sorted(first)
    return np.array([first[n] for n in names], np.float32), [sample_identities[n] for n in names]


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(labels == lb).tolist()) for lb in set(labels.tolist())}


def test_clusters_are_the_people(labelled_embeddings) -> None:
    embeddings, people = labelled_embeddings
    labels = cluster_faces(embeddings, threshold=default_threshold("insightface"))
    truth = np.array([sorted(set(people)).index(p) for p in people])
    assert partition(labels) == partition(truth)


def test_clustering_does_not_depend_on_photo_order(labelled_embeddings) -> None:
    embeddings, _ = labelled_embeddings
    rng = np.random.default_rng(0)
    reference = partition(cluster_faces(embeddings, threshold=0.3))
    for _ in range(5):
        order = rng.permutation(len(embeddings))
        labels = np.empty(len(order), int)
        labels[order] = cluster_faces(embeddings[order], threshold=0.3)
        assert partition(labels) == reference


def test_a_high_threshold_splits_and_a_low_one_merges(labelled_embeddings) -> None:
    embeddings, people = labelled_embeddings
    assert len(set(cluster_faces(embeddings, threshold=0.95).tolist())) == len(people)  # everyone alone
    assert len(set(cluster_faces(embeddings, threshold=-0.5).tolist())) == 1  # everyone together


def test_similarity_matrix_is_symmetric_with_unit_diagonal(labelled_embeddings) -> None:
    sims = similarity_matrix(labelled_embeddings[0])
    np.testing.assert_allclose(sims, sims.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(sims), 1.0, atol=1e-5)


@pytest.mark.parametrize(("n", "expected"), [(0, []), (1, [0])])
def test_tiny_inputs(n: int, expected: list[int]) -> None:
    assert cluster_faces(np.ones((n, 512), np.float32) / np.sqrt(512), threshold=0.3).tolist() == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cluster_faces(np.zeros((2, 4)), threshold=1.5), r"threshold must be a cosine similarity in \[-1, 1\]"),
        (lambda: default_threshold("antelopev2"), "no default threshold for face model 'antelopev2'"),
    ],
)
def test_bad_arguments(call, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        call()

"""Cluster quality: hand-computed BCubed / pairwise / purity, scikit-learn agreement, the sweep, the manifest."""

from __future__ import annotations

import numpy as np
import pytest
from refbench.errors import CalibrationError
from refbench.identity.calibration import embed_images, load_identities
from refbench.identity.metrics import (
    bcubed,
    best_sweep_point,
    cluster_scores,
    largest_face_scores,
    pairwise_f1,
    purity,
    threshold_sweep,
)
from refbench.settings import PROJECT_ROOT
from sklearn.metrics.cluster import pair_confusion_matrix

from tests.conftest import read_workspace

IDENTITIES = PROJECT_ROOT / "data" / "samples" / "identities.csv"

# (true, predicted, BCubed P, R, F1, pairwise P, R, F1, purity), worked out by hand in the comments.
CASES = [
    # one cluster {a,a,b} and {b}: P = (4/3 + 1/3 + 1)/4 = 2/3, R = (4/2 + 1/2 + 1/2)/4 = 3/4;
    # pairs: together 1, predicted 3, actual 2 -> P 1/3, R 1/2; purity (2 + 1)/4
    (["a", "a", "b", "b"], [0, 0, 0, 1], 2 / 3, 3 / 4, 12 / 17, 1 / 3, 1 / 2, 0.4, 0.75),
    # perfect, whatever the label names
    (["a", "a", "b", "c"], [5, 5, 7, 9], 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    # all singletons: P = 1, R = (1/3*3 + 1)/4 = 1/2; no predicted pairs -> pairwise P = 1, R = 0
    (["a", "a", "a", "b"], [0, 1, 2, 3], 1.0, 0.5, 2 / 3, 1.0, 0.0, 0.0, 1.0),
    # everything merged: P = (9/4 + 1/4)/4 = 5/8, R = 1; pairs: together 3 of 6 predicted
    (["a", "a", "a", "b"], [0, 0, 0, 0], 5 / 8, 1.0, 10 / 13, 0.5, 1.0, 2 / 3, 0.75),
]


@pytest.mark.parametrize(("true", "pred", "bp", "br", "bf", "pp", "pr", "pf", "pur"), CASES)
def test_hand_computed_cases(true, pred, bp, br, bf, pp, pr, pf, pur) -> None:
    assert bcubed(true, pred) == pytest.approx((bp, br, bf))
    assert pairwise_f1(true, pred) == pytest.approx((pp, pr, pf))
    assert purity(true, pred) == pytest.approx(pur)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_agrees_with_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    true, pred = rng.integers(0, 4, 40), rng.integers(0, 6, 40)
    (_, fp), (fn, tp) = pair_confusion_matrix(true, pred)  # ordered pairs: each unordered pair counted twice
    precision, recall, _ = pairwise_f1(true, pred)
    assert precision == pytest.approx(tp / (tp + fp))
    assert recall == pytest.approx(tp / (tp + fn))


@pytest.mark.parametrize(
    ("true", "pred", "message"),
    [
        (["a"], [0, 1], "labels differ in length: 1 true vs 2 predicted"),
        ([], [], "no items to score"),
    ],
)
def test_bad_inputs(true, pred, message) -> None:
    with pytest.raises(CalibrationError, match=message):
        cluster_scores(true, pred)


def test_scores_count_clusters_and_people() -> None:
    scores = cluster_scores(["a", "a", "b", "b"], [0, 0, 0, 1])
    assert (scores.n_items, scores.n_clusters, scores.n_identities) == (4, 2, 2)


def test_sweep_on_real_faces(samples_dir, backends) -> None:
    identities = load_identities(IDENTITIES)
    embedded = embed_images(identities, images_dir=samples_dir, analyzer=backends.faces)
    files = list(embedded.embeddings)
    embeddings = np.stack([embedded.embeddings[f] for f in files])
    points = threshold_sweep(embeddings, [identities[f] for f in files], [0.0, 0.3, 0.95])
    by_threshold = {p.threshold: p.scores for p in points}
    assert by_threshold[0.3].bcubed_f1 == 1.0  # the shipped default separates the dev set
    low = by_threshold[0.0]  # too permissive: different people merge
    assert low.bcubed_recall == 1.0 and low.bcubed_precision < 0.7 and low.n_clusters < low.n_identities
    assert by_threshold[0.95].n_clusters == len(files)  # nothing is that similar: all singletons
    assert best_sweep_point(points).threshold == 0.3


def test_manifest_identities_of_the_sample_photos(demo_workspace, sample_identities) -> None:
    with read_workspace(demo_workspace) as ws:
        scores = largest_face_scores(sample_identities, ws.faces.largest_per_image("insightface"))
    assert scores.n_items == len(sample_identities)
    assert scores.bcubed_f1 >= 0.97
    assert scores.n_clusters == scores.n_identities

"""Face identities: cosine similarities and agglomerative clustering (average linkage).

Greedy "compare with the first member" grouping depends on the order of the photos and is
not transitive; average linkage merges two groups only when their *mean* pairwise
similarity clears the threshold.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from refbench.errors import ConfigError, ShapeError

# Cosine similarity above which two faces are the same person, per face model; `refbench calibrate` measures
# and stores a workspace's own. Chosen with `refbench calibrate --identities data/samples/identities.csv`
# (12 photos, 8 same / 58 different pairs) plus `--distractors` (29-30 faces of group photos, ~830 different
# pairs), placing the threshold ~3.5 sd above the different-person mean and ~5 sd below the same-person mean:
# - insightface (w600k_mbf): same-person min 0.515, different max 0.166 (0.328 with 40 px group faces),
#   Gaussian-EER 0.29 (0.34 with distractors), clustering BCubed F1 = 1 for 0.17-0.51: keep 0.30, the low end,
#   because unseen same-person pairs (age, pose) fall lower than unseen portrait impostors rise.
# - opencv-yunet-sface: same min 0.607, different max 0.274 (0.424), Gaussian-EER 0.44 (0.46), F1 = 1 for
#   0.20-0.60: 0.40, between OpenCV's published 0.363 (LFW, balanced pairs) and the Gaussian-EER; SFace's
#   different-person scores sit higher and wider (mean 0.08, sd 0.09) than w600k_mbf's (0.02, 0.08).
DEFAULT_THRESHOLDS = {"insightface": 0.30, "opencv-yunet-sface": 0.40}


def default_threshold(face_model: str) -> float:
    """The shipped same-person threshold of ``face_model``."""
    if face_model not in DEFAULT_THRESHOLDS:
        raise ConfigError(f"no default threshold for face model {face_model!r}; pass one explicitly")
    return DEFAULT_THRESHOLDS[face_model]


def similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarities (N, N) of L2-normalized embeddings (N, D)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ShapeError(f"embeddings: expected shape (N, D), got {embeddings.shape}")
    return np.clip(embeddings @ embeddings.T, -1.0, 1.0)


def cluster_faces(embeddings: np.ndarray, *, threshold: float) -> np.ndarray:
    """Cluster faces into identities.

    Args:
        embeddings: (N, D) L2-normalized face embeddings.
        threshold: cosine similarity a group's mean pairwise similarity must reach to merge.

    Returns:
        (N,) int labels, numbered by first appearance (the first face is identity 0).
    """
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    distance = 1.0 - similarity_matrix(embeddings)
    np.fill_diagonal(distance, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold
    )
    return _renumber(model.fit_predict(distance))


def _renumber(labels: np.ndarray) -> np.ndarray:
    order = {label: i for i, label in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[label] for label in labels.tolist()], dtype=int)

"""Verification calibration: how well a face model's cosine separates same-person from different-person pairs.

From labelled images (a pairs file ``a,b,same`` or an identities file ``file,identity`` from which every
pair is formed) the largest face of each image is embedded once; every pair is scored with the cosine of
the two embeddings; scikit-learn's ROC then gives AUC, the equal-error rate, thresholds at target
false-accept rates and the best-accuracy threshold. Images without a face are counted, never dropped
silently: their pairs are reported as skipped.

Decision rule everywhere: a pair is "same person" when ``score >= threshold``.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refbench.errors import CalibrationError, ImageRejected, InputNotFound
from refbench.faces import FaceAnalyzer, largest_face
from refbench.ingest import list_files, load_image_rgb
from refbench.settings import ImageLimits
from refbench.types import Metric, Progress

FAR_TARGETS = (1e-2, 1e-3)
MIN_DISTRACTOR_FACE_PX = 32  # smaller faces are below what ArcFace (112 px input) can tell apart reliably
_TRUE = {"1", "true", "yes", "same", "y", "t"}
_FALSE = {"0", "false", "no", "different", "n", "f"}


@dataclass(frozen=True)
class LabeledPair:
    """Two image files (relative to the image folder) and whether they show the same person."""

    a: str
    b: str
    same: bool


@dataclass
class EmbeddedImages:
    """The largest face's embedding per image file; files without a usable face listed apart."""

    face_model: str
    embeddings: dict[str, np.ndarray]  # file -> (D,) L2-normalized float32
    no_face: list[str] = field(default_factory=list)
    boxes: dict[str, np.ndarray] = field(default_factory=dict)  # file -> (4,) xyxy of the embedded face
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> reason


@dataclass(frozen=True)
class PairScores:
    """Scored pairs: cosine (P,) float64 and label (P,) bool, plus the pairs that had no face to score."""

    pairs: list[LabeledPair]
    scores: np.ndarray
    same: np.ndarray
    skipped: list[LabeledPair]

    @property
    def genuine(self) -> np.ndarray:
        """Scores (G,) of same-person pairs."""
        return self.scores[self.same]

    @property
    def impostor(self) -> np.ndarray:
        """Scores (I,) of different-person pairs."""
        return self.scores[~self.same]


@dataclass(frozen=True)
class VerificationMetrics:
    """What the ROC of scored pairs says; thresholds are cosines, rule ``score >= threshold``.

    ``threshold_far`` maps a target FAR to the lowest threshold whose measured FAR on these impostors is at
    most the target; ``far_resolvable`` says whether there are enough impostor pairs (1/I <= target) for that
    threshold to mean anything. ``best_accuracy_threshold`` is the middle of the widest score gap among the
    thresholds of best accuracy (``best_accuracy_interval``); with separable data that is the max-margin
    threshold. ``gaussian_eer_threshold`` is where normal fits of the two score distributions are equally many
    standard deviations away, ``(mu_i * sd_g + mu_g * sd_i) / (sd_g + sd_i)``: unlike a midpoint it accounts for
    the spread of each side.
    """

    n_genuine: int
    n_impostor: int
    auc: float
    eer: float
    eer_threshold: float
    threshold_far: dict[float, float]
    tar_at_far: dict[float, float]
    far_resolvable: dict[float, bool]
    best_accuracy: float
    best_accuracy_threshold: float
    best_accuracy_interval: tuple[float, float]
    gaussian_eer_threshold: float
    current_threshold: float
    accuracy_at_current: float
    genuine_min: float
    impostor_max: float
    fpr: np.ndarray  # ROC (K,)
    tpr: np.ndarray
    roc_thresholds: np.ndarray

    @property
    def margin(self) -> float:
        """Lowest genuine minus highest impostor score: > 0 when every pair is separable."""
        return self.genuine_min - self.impostor_max


@dataclass(frozen=True)
class Calibration:
    """One calibration of one face model on one labelled set."""

    calibration_id: str
    face_model: str
    source: str
    images_dir: str
    n_images: int
    no_face: list[str]
    unreadable: dict[str, str]
    scores: PairScores
    metrics: VerificationMetrics
    n_distractor_faces: int = 0

    @property
    def recommended_threshold(self) -> float:
        """The threshold this calibration proposes as the model's default.

        The Gaussian equal-error threshold, kept inside the interval of best measured accuracy: it never costs
        accuracy on the calibration pairs, and within a wide separable gap it leans away from the wider
        (usually the same-person) distribution, which is what generalizes to unseen people and photos.
        """
        low, high = self.metrics.best_accuracy_interval
        return float(np.clip(self.metrics.gaussian_eer_threshold, np.nextafter(low, np.inf), high))


def _parse_bool(value: str, *, where: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CalibrationError(f"{where}: 'same' must be one of {sorted(_TRUE | _FALSE)}, got {value!r}")


def load_pairs(path: Path) -> list[LabeledPair]:
    """Read a pairs CSV with header ``a,b,same`` (same: 1/0, true/false, yes/no)."""
    rows = _read_csv(path, required=("a", "b", "same"))
    return [
        LabeledPair(r["a"].strip(), r["b"].strip(), _parse_bool(r["same"], where=f"{path} line {i + 2}"))
        for i, r in enumerate(rows)
    ]


def load_identities(path: Path) -> dict[str, str]:
    """Read an identities CSV with header ``file,identity``: file -> person."""
    rows = _read_csv(path, required=("file", "identity"))
    identities: dict[str, str] = {}
    for i, row in enumerate(rows):
        file, person = row["file"].strip(), row["identity"].strip()
        if not file or not person:
            raise CalibrationError(f"{path} line {i + 2}: empty file or identity")
        if identities.get(file, person) != person:
            raise CalibrationError(f"{path} line {i + 2}: {file!r} labelled both {identities[file]!r} and {person!r}")
        identities[file] = person
    return identities


def _read_csv(path: Path, *, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputNotFound(f"labels file not found: {path}")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise CalibrationError(f"{path}: missing column(s) {missing}; expected header {','.join(required)}")
        rows = list(reader)
    if not rows:
        raise CalibrationError(f"{path}: no rows")
    return rows


def pairs_from_identities(identities: dict[str, str]) -> list[LabeledPair]:
    """Every unordered pair of files, labelled same when both files show the same person."""
    files = sorted(identities)
    return [LabeledPair(a, b, identities[a] == identities[b]) for a, b in itertools.combinations(files, 2)]


def embed_images(
    files: Iterable[str],
    *,
    images_dir: Path,
    analyzer: FaceAnalyzer,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
    progress: Progress | None = None,
) -> EmbeddedImages:
    """Embed the largest face of each file (relative to ``images_dir``), once per file."""
    result = EmbeddedImages(face_model=analyzer.name, embeddings={})
    unique = list(dict.fromkeys(files))
    for done, file in enumerate(unique):
        if progress:
            progress(done, len(unique), file)
        try:
            image = load_image_rgb(images_dir / file, limits=limits)
        except ImageRejected as error:
            result.unreadable[file] = str(error)
            continue
        face = largest_face(analyzer.analyze(image))
        if not len(face):
            result.no_face.append(file)
        else:
            result.embeddings[file], result.boxes[file] = face.data["embedding"][0], face.xyxy[0]
    return result


def score_pairs(pairs: Sequence[LabeledPair], embeddings: dict[str, np.ndarray]) -> PairScores:
    """Cosine of each pair whose two images have a face; the others come back as ``skipped``."""
    scored = [p for p in pairs if p.a in embeddings and p.b in embeddings]
    skipped = [p for p in pairs if p.a not in embeddings or p.b not in embeddings]
    scores = np.array([float(np.dot(embeddings[p.a], embeddings[p.b])) for p in scored], dtype=np.float64)
    return PairScores(scored, np.clip(scores, -1.0, 1.0), np.array([p.same for p in scored], dtype=bool), skipped)


def verification_metrics(
    scores: np.ndarray, same: np.ndarray, *, current_threshold: float, far_targets: Sequence[float] = FAR_TARGETS
) -> VerificationMetrics:
    """ROC figures of scored pairs.

    Args:
        scores: (P,) similarity per pair, higher = more alike.
        same: (P,) bool, True for same-person pairs.
        current_threshold: the threshold in use now, to report its accuracy.
        far_targets: false-accept rates to find thresholds for.

    Raises:
        CalibrationError: when there is not at least one same-person and one different-person pair.
    """
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    genuine, impostor = scores[same], scores[~same]
    if len(genuine) == 0 or len(impostor) == 0:
        raise CalibrationError(
            f"calibration needs same- and different-person pairs; got {len(genuine)} same and "
            f"{len(impostor)} different (pairs whose images have no face are skipped)"
        )
    from sklearn.metrics import auc as area_under_curve
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(same, scores, drop_intermediate=False)
    eer, eer_threshold = equal_error_rate(fpr, tpr, thresholds, scores)
    best_threshold, best_accuracy, interval = best_accuracy_threshold(scores, same)
    threshold_far = {t: threshold_at_far(impostor, t) for t in far_targets}
    return VerificationMetrics(
        n_genuine=len(genuine),
        n_impostor=len(impostor),
        auc=float(area_under_curve(fpr, tpr)),
        eer=eer,
        eer_threshold=eer_threshold,
        threshold_far=threshold_far,
        tar_at_far={t: float(np.mean(genuine >= th)) for t, th in threshold_far.items()},
        far_resolvable={t: 1.0 / len(impostor) <= t for t in far_targets},
        best_accuracy=best_accuracy,
        best_accuracy_threshold=best_threshold,
        best_accuracy_interval=interval,
        gaussian_eer_threshold=gaussian_eer_threshold(genuine, impostor),
        current_threshold=current_threshold,
        accuracy_at_current=accuracy_at(scores, same, current_threshold),
        genuine_min=float(genuine.min()),
        impostor_max=float(impostor.max()),
        fpr=fpr,
        tpr=tpr,
        roc_thresholds=thresholds,
    )


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Fraction of pairs (P,) decided right by ``score >= threshold``."""
    return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(same, dtype=bool)))


def confusion_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, int]:
    """True/false accepts and rejects of pairs (P,) at ``threshold``: keys tp, fp, tn, fn."""
    accept, same = np.asarray(scores) >= threshold, np.asarray(same, dtype=bool)
    return {
        "tp": int(np.sum(accept & same)),
        "fp": int(np.sum(accept & ~same)),
        "tn": int(np.sum(~accept & ~same)),
        "fn": int(np.sum(~accept & same)),
    }


def equal_error_rate(
    fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray, scores: np.ndarray
) -> tuple[float, float]:
    """EER and its threshold from a scikit-learn ROC (K,) computed with ``drop_intermediate=False``.

    The EER is read at the ROC point where false-reject and false-accept rates are closest (their mean);
    its threshold is the middle between that ROC threshold and the next lower score, so that with
    separable data it sits in the gap rather than on the lowest genuine score.
    """
    fnr = 1.0 - tpr
    index = int(np.argmin(np.abs(fnr - fpr)))
    eer = float((fnr[index] + fpr[index]) / 2.0)
    upper = float(min(thresholds[index], np.max(scores)))  # roc_curve's first threshold is +inf
    lower_scores = scores[scores < upper]
    lower = float(lower_scores.max()) if len(lower_scores) else upper
    return eer, (upper + lower) / 2.0


def threshold_at_far(impostor: np.ndarray, target: float) -> float:
    """Lowest threshold (rule ``score >= t``) at which at most ``target`` of the impostor scores (I,) pass.

    With I impostors, ``floor(target * I)`` of them may pass: the threshold is just above the next one.
    """
    ranked = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    allowed = int(np.floor(target * len(ranked) + 1e-9))
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.inf))


def gaussian_eer_threshold(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Threshold equally many standard deviations from the mean genuine (G,) and impostor (I,) scores."""
    sd_g = float(np.std(genuine, ddof=1)) if len(genuine) > 1 else 0.0
    sd_i = float(np.std(impostor, ddof=1)) if len(impostor) > 1 else 0.0
    mu_g, mu_i = float(np.mean(genuine)), float(np.mean(impostor))
    if sd_g + sd_i == 0:
        return (mu_g + mu_i) / 2.0
    return (mu_i * sd_g + mu_g * sd_i) / (sd_g + sd_i)


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """(threshold, accuracy, (low, high)) maximizing accuracy over pairs (P,); every t in (low, high] ties.

    Candidates are the midpoints between consecutive distinct scores (and just outside both ends); among
    the best candidates the one in the widest gap wins, i.e. the max-margin threshold when separable.
    """
    values = np.unique(np.asarray(scores, dtype=np.float64))
    edges = np.concatenate([[values[0] - 1e-6], values, [values[-1] + 1e-6]])
    candidates = (edges[:-1] + edges[1:]) / 2.0
    gaps = edges[1:] - edges[:-1]
    accuracies = np.array([accuracy_at(scores, same, t) for t in candidates])
    best = np.flatnonzero(np.isclose(accuracies, accuracies.max()))
    choice = best[int(np.argmax(gaps[best]))]
    return float(candidates[choice]), float(accuracies[choice]), (float(edges[choice]), float(edges[choice + 1]))


@dataclass(frozen=True)
class DistractorFace:
    """One face of a distractor photo: its key (``file#index``), where it is, and its embedding (D,)."""

    key: str
    path: Path
    xyxy: np.ndarray  # (4,) in pixels of the upright image
    embedding: np.ndarray


def find_distractor_faces(
    folder: Path,
    *,
    analyzer: FaceAnalyzer,
    min_face_width: float = MIN_DISTRACTOR_FACE_PX,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
    progress: Progress | None = None,
) -> list[DistractorFace]:
    """Every face at least ``min_face_width`` px wide in the images of ``folder``, keyed ``file#index``.

    Distractors are faces of people known to be absent from the labelled set and distinct from each other
    (e.g. group photos): they add different-person pairs, so that low false-accept rates can be resolved.
    """
    found = []
    paths = list_files(folder)
    for done, path in enumerate(paths):
        if progress:
            progress(done, len(paths), f"distractors: {path.name}")
        try:
            faces = analyzer.analyze(load_image_rgb(path, limits=limits))
        except ImageRejected:
            continue
        widths = faces.xyxy[:, 2] - faces.xyxy[:, 0]
        for i in np.flatnonzero(widths >= min_face_width):
            embedding = np.asarray(faces.data["embedding"][i], dtype=np.float32)
            found.append(DistractorFace(f"{path.relative_to(folder)}#{i:02d}", path, faces.xyxy[i], embedding))
    return found


def embed_distractors(
    folder: Path,
    *,
    analyzer: FaceAnalyzer,
    min_face_width: float = MIN_DISTRACTOR_FACE_PX,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen value
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """The embeddings of ``find_distractor_faces``, by key."""
    faces = find_distractor_faces(
        folder, analyzer=analyzer, min_face_width=min_face_width, limits=limits, progress=progress
    )
    return {face.key: face.embedding for face in faces}


def distractor_pairs(labelled: Iterable[str], distractors: Iterable[str]) -> list[LabeledPair]:
    """Different-person pairs: each distractor face with every labelled image and every other distractor."""
    labelled, distractors = list(dict.fromkeys(labelled)), list(distractors)
    return [LabeledPair(f, d, False) for f in labelled for d in distractors] + [
        LabeledPair(a, b, False) for a, b in itertools.combinations(distractors, 2)
    ]


def calibrate(
    pairs: Sequence[LabeledPair],
    *,
    images_dir: Path,
    analyzer: FaceAnalyzer,
    current_threshold: float,
    source: str,
    embedded: EmbeddedImages | None = None,
    distractors: dict[str, np.ndarray] | None = None,
) -> Calibration:
    """Embed the images of ``pairs`` (unless ``embedded`` is given) and compute the verification metrics.

    ``distractors`` (from ``embed_distractors``) add different-person pairs with every labelled image.
    """
    if not pairs:
        raise CalibrationError("no pairs to calibrate on")
    files = [f for p in pairs for f in (p.a, p.b)]
    embedded = embedded or embed_images(files, images_dir=images_dir, analyzer=analyzer)
    distractors = distractors or {}
    all_pairs = list(pairs) + distractor_pairs(files, distractors)
    scores = score_pairs(all_pairs, {**embedded.embeddings, **distractors})
    metrics = verification_metrics(scores.scores, scores.same, current_threshold=current_threshold)
    return Calibration(
        calibration_id=f"calibration-{analyzer.name}-{uuid.uuid4().hex[:8]}",
        face_model=analyzer.name,
        source=source,
        images_dir=str(images_dir),
        n_images=len(dict.fromkeys(files)),
        no_face=list(embedded.no_face),
        unreadable=dict(embedded.unreadable),
        scores=scores,
        metrics=metrics,
        n_distractor_faces=len(distractors),
    )


def summary_metrics(calibration: Calibration) -> list[Metric]:
    """The headline figures of a calibration, as run metrics."""
    m = calibration.metrics
    metrics = [
        Metric("auc", m.auc, "ratio"),
        Metric("eer", m.eer, "ratio"),
        Metric("eer_threshold", m.eer_threshold, "cosine"),
        Metric("best_accuracy", m.best_accuracy, "ratio"),
        Metric("best_accuracy_threshold", m.best_accuracy_threshold, "cosine"),
        Metric("gaussian_eer_threshold", m.gaussian_eer_threshold, "cosine"),
        Metric("current_threshold", m.current_threshold, "cosine"),
        Metric("accuracy_at_current", m.accuracy_at_current, "ratio"),
        Metric("genuine_min", m.genuine_min, "cosine"),
        Metric("impostor_max", m.impostor_max, "cosine"),
        Metric("margin", m.margin, "cosine"),
        Metric("recommended_threshold", calibration.recommended_threshold, "cosine"),
        Metric("n_images", calibration.n_images, "images"),
        Metric("n_distractor_faces", calibration.n_distractor_faces, "faces"),
        Metric("n_no_face", len(calibration.no_face), "images"),
        Metric("n_unreadable", len(calibration.unreadable), "images"),
        Metric("n_genuine", m.n_genuine, "pairs"),
        Metric("n_impostor", m.n_impostor, "pairs"),
        Metric("n_skipped", len(calibration.scores.skipped), "pairs"),
    ]
    for target, threshold in m.threshold_far.items():
        metrics += [
            Metric(f"threshold_far_{target:g}", threshold, "cosine"),
            Metric(f"tar_at_far_{target:g}", m.tar_at_far[target], "ratio"),
        ]
    return metrics

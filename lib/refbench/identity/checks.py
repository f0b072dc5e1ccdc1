"""Checks of a generated image: is the face there, is it the person, is it the right size, does it turn the right way.

Every check measures the largest face of the output (the subject of a portrait or a close scene) and says in
plain words what it found against what it wanted. The size band is the 15–25% of the image width that
generators keep identity best at (DESIGN.md); the identity threshold is the calibrated one of the face model
(``refbench.pipelines.common.face_threshold``); yaw is the signed landmark estimate (> 0: nose towards the
image's right edge), so a face that turns the wrong way is caught even when the person is right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from refbench.faces import FaceAnalyzer, largest_face
from refbench.faces.pose import VIEWS, View, mirrored, turn_words, view_of_yaw
from refbench.faces.quality import yaw_from_landmarks
from refbench.identity.facesim import facesim
from refbench.types import BEST_WIDTH_BAND, Detections, width_in_best_band

YAW_TOLERANCE_DEG = 15.0  # how far a matched face may turn from the face it should match


@dataclass(frozen=True)
class FaceMeasure:
    """The largest face of an image, measured: what the checks compare."""

    embedding: np.ndarray  # (D,) L2-normalized
    yaw: float  # degrees, > 0: nose towards the image's right edge
    width_frac: float  # face box width / image width
    det_score: float
    n_faces: int
    xyxy: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # the face box in pixels

    @property
    def in_size_band(self) -> bool:
        """Whether the face spans 15–25% of the image width."""
        return width_in_best_band(self.width_frac)

    @property
    def view(self) -> View:
        """The standard view the face is in (subject's left/right)."""
        return view_of_yaw(self.yaw)


def measure_face(image_rgb: np.ndarray, analyzer: FaceAnalyzer) -> FaceMeasure | None:
    """The largest face of an RGB image (H, W, 3), or ``None`` when the face model finds none."""
    return largest_measure(analyzer.analyze(image_rgb), image_width=image_rgb.shape[1])


def largest_measure(faces: Detections, *, image_width: int) -> FaceMeasure | None:
    """The largest of already detected faces (with landmarks and embeddings), measured; ``None`` for none."""
    face = largest_face(faces)
    if not len(face):
        return None
    x1, _, x2, _ = face.xyxy[0]
    return FaceMeasure(
        embedding=np.asarray(face.data["embedding"][0], dtype=np.float32),
        yaw=yaw_from_landmarks(face.data["landmarks"][0]),
        width_frac=float((x2 - x1) / image_width),
        det_score=float(face.confidence[0]),
        n_faces=len(faces),
        xyxy=tuple(float(v) for v in face.xyxy[0]),
    )


@dataclass(frozen=True)
class OutputCheck:
    """One named check of an output: passed or not, the measured value, and what it means."""

    name: str
    ok: bool
    message: str
    value: float | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe fields."""
        value = None if self.value is None else round(float(self.value), 4)
        return {"name": self.name, "ok": self.ok, "value": value, "message": self.message}


def check_face_found(measure: FaceMeasure | None) -> OutputCheck:
    """A face must be there at all."""
    if measure is None:
        return OutputCheck("face_found", False, "no face found in the output")
    return OutputCheck("face_found", True, f"{measure.n_faces} face(s); the largest is checked", measure.n_faces)


def check_identity(measure: FaceMeasure, reference: np.ndarray, *, threshold: float) -> OutputCheck:
    """FaceSim-Arc against the identity must reach the calibrated same-person threshold."""
    score = facesim(reference, measure.embedding)
    verdict = "the same person" if score >= threshold else "not recognisably the same person"
    return OutputCheck(
        "identity", score >= threshold, f"ArcFace {score:.3f} vs threshold {threshold:.3f}: {verdict}", score
    )


def check_size_band(measure: FaceMeasure, *, band: tuple[float, float] = BEST_WIDTH_BAND) -> OutputCheck:
    """The face must span the band of the image width (identity is kept best at 15–25%)."""
    low, high = band
    ok = low <= measure.width_frac <= high
    where = "inside" if ok else ("below" if measure.width_frac < low else "above")
    return OutputCheck(
        "face_size_band",
        ok,
        f"face is {measure.width_frac:.0%} of the image width, {where} the {low:.0%}-{high:.0%} band",
        measure.width_frac,
    )


def check_view(measure: FaceMeasure, view: View) -> OutputCheck:
    """The face must turn the way ``view`` asks (sign) and as far (size): a mirrored turn fails on its side."""
    spec, got = VIEWS[view], measure.view
    if spec.contains(measure.yaw):
        return OutputCheck("view", True, f"yaw {measure.yaw:+.0f} deg is {spec.label}", measure.yaw)
    problem = "turned the wrong way (mirrored)" if mirrored(measure.yaw, spec.target_yaw) else f"is {VIEWS[got].label}"
    wanted = "at the camera" if view is View.FRONT else f"towards the image's {spec.nose_towards}"
    low, high = spec.yaw_range
    return OutputCheck(
        "view",
        False,
        f"yaw {measure.yaw:+.0f} deg {problem}; {spec.label} needs the nose {wanted} ({low:+.0f} to {high:+.0f} deg)",
        measure.yaw,
    )


def check_turn_matches(
    measure: FaceMeasure, *, reference_yaw: float, tolerance_deg: float = YAW_TOLERANCE_DEG
) -> OutputCheck:
    """The face must turn like a reference face: not mirrored, and within ``tolerance_deg`` of its yaw."""
    flipped = mirrored(measure.yaw, reference_yaw)
    close = abs(measure.yaw - reference_yaw) <= tolerance_deg
    got, want = f"yaw {measure.yaw:+.0f} deg", f"{reference_yaw:+.0f}"
    if flipped:
        message = f"mirrored: {got} turns the other way than the reference ({want})"
    elif not close:
        message = f"{got} is more than {tolerance_deg:.0f} deg from the reference's {want}"
    else:
        message = f"{got} matches the reference's {want} ({turn_words(reference_yaw)})"
    return OutputCheck("head_angle", bool(close and not flipped), message, measure.yaw)


@dataclass(frozen=True)
class Judgement:
    """The checks of one output and what they measured."""

    measure: FaceMeasure | None
    checks: tuple[OutputCheck, ...]
    facesim: float | None  # against the identity, also when identity is not a gate

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        """Messages of the checks that failed."""
        return [f"{c.name}: {c.message}" for c in self.checks if not c.ok]


class OutputJudge:
    """Checks generated images of one identity: face found, size band, and on request identity, view, head angle.

    Args:
        analyzer: The face model (the same one the identity was embedded with).
        identity: The identity's embedding (D,), or ``None`` when no identity is at stake.
        threshold: The calibrated same-person cosine of ``analyzer``.
        band: The face-width band outputs must fall in.
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        *,
        identity: np.ndarray | None,
        threshold: float,
        band: tuple[float, float] = BEST_WIDTH_BAND,
    ) -> None:
        self.analyzer, self.identity, self.threshold, self.band = analyzer, identity, float(threshold), band

    def __call__(
        self,
        image_rgb: np.ndarray,
        *,
        same_person: bool = True,
        view: View | None = None,
        like_yaw: float | None = None,
    ) -> Judgement:
        """Judge one image: identity (when ``same_person``), the requested ``view``, the head angle of a face it
        must turn like (``like_yaw``), always a face and its size."""
        measure = measure_face(image_rgb, self.analyzer)
        found = check_face_found(measure)
        if measure is None:
            return Judgement(None, (found,), None)
        score = None if self.identity is None else facesim(self.identity, measure.embedding)
        checks = [found, check_size_band(measure, band=self.band)]
        if same_person and self.identity is not None:
            checks.append(check_identity(measure, self.identity, threshold=self.threshold))
        if view is not None:
            checks.append(check_view(measure, view))
        if like_yaw is not None:
            checks.append(check_turn_matches(measure, reference_yaw=like_yaw))
        return Judgement(measure, tuple(checks), score)


class CharacterJudge:
    """FaceSim-Arc of each placed character in an output, for chains: every character's embedding against the
    output face that matches it best (several people may share a frame), each gated at the calibrated threshold.

    Args:
        analyzer: The face model the characters were embedded with.
        threshold: The calibrated same-person cosine of ``analyzer``.
    """

    def __init__(self, analyzer: FaceAnalyzer, *, threshold: float) -> None:
        self.analyzer, self.threshold = analyzer, float(threshold)

    def __call__(
        self,
        image_rgb: np.ndarray,
        references: Mapping[str, np.ndarray],
        *,
        need_face: bool,
        measured: Mapping[str, np.ndarray] | None = None,
    ) -> Judgement:
        """One ``identity:<name>`` check per reference (the gate), one ``measured:<name>`` figure per ``measured``
        embedding (reported, never failing), ``face_found`` when a face is needed or references exist;
        ``facesim`` is the lowest gated score."""
        faces = self.analyzer.analyze(image_rgb)
        measure = largest_measure(faces, image_width=image_rgb.shape[1])
        if not (references or need_face):
            return Judgement(measure, (), None)
        found = check_face_found(measure)
        if measure is None:
            return Judgement(None, (found,), None)
        embeddings = np.asarray(faces.data["embedding"], dtype=np.float32)
        checks, scores = [found], []
        for name, reference in references.items():
            score = float(np.clip(embeddings @ reference, 0.0, 1.0).max())
            scores.append(score)
            verdict = "kept" if score >= self.threshold else "drifted"
            message = f"best face ArcFace {score:.3f} vs threshold {self.threshold:.3f}: identity {verdict}"
            checks.append(OutputCheck(f"identity:{name}", score >= self.threshold, message, score))
        for name, reference in (measured or {}).items():
            score = float(np.clip(embeddings @ reference, 0.0, 1.0).max())
            checks.append(OutputCheck(f"measured:{name}", True, f"best face ArcFace {score:.3f} (not a gate)", score))
        return Judgement(measure, tuple(checks), min(scores) if scores else None)

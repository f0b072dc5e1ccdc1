"""Face identity science: verification calibrations (with every scored pair) and FaceSim-Arc evaluations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from refbench.errors import UnknownNameError
from refbench.identity.calibration import Calibration
from refbench.identity.facesim import FaceSimResult
from refbench.registry.connection import count, insert_rows, now, transaction
from refbench.registry.faces import Thresholds


@dataclass(frozen=True)
class StoredCalibration:
    """The headline figures of a calibration as stored (``Calibrations.get``); thresholds are cosines."""

    calibration_id: str
    face_model: str
    source: str
    n_images: int
    n_genuine: int
    n_impostor: int
    n_skipped: int
    auc: float
    eer: float
    recommended_threshold: float
    run_id: str | None


@dataclass(frozen=True)
class StoredEvaluation:
    """One output's FaceSim-Arc as stored (``Evaluations.list``); figures are ``None`` when no frame had a face."""

    evaluation_id: str
    face_model: str
    reference: str
    reference_kind: str  # tag | image
    output_path: str
    output_kind: str  # image | video
    n_frames: int
    n_no_face: int
    facesim_mean: float | None
    facesim_min: float | None
    no_face_rate: float
    run_id: str | None
    face_width_frac: float | None = None
    in_size_band: bool | None = None
    yaw: float | None = None
    mirrored: bool | None = None
    orientation_from: str | None = None


class Calibrations:
    """The ``calibrations`` and ``calibration_pairs`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save(self, calibration: Calibration, *, run_id: str | None, set_default: bool) -> None:
        """Store a calibration and every scored pair; optionally make it the model's default threshold (one
        transaction)."""
        m = calibration.metrics
        row = {
            "calibration_id": calibration.calibration_id,
            "face_model": calibration.face_model,
            "source": calibration.source,
            "images_dir": calibration.images_dir,
            "n_images": calibration.n_images,
            "n_no_face": len(calibration.no_face),
            "n_distractor_faces": calibration.n_distractor_faces,
            "no_face_files": json.dumps(calibration.no_face),
            "n_unreadable": len(calibration.unreadable),
            "n_genuine": m.n_genuine,
            "n_impostor": m.n_impostor,
            "n_skipped": len(calibration.scores.skipped),
            "auc": m.auc,
            "eer": m.eer,
            "eer_threshold": m.eer_threshold,
            "threshold_far_1e2": m.threshold_far.get(1e-2),
            "threshold_far_1e3": m.threshold_far.get(1e-3),
            "best_accuracy": m.best_accuracy,
            "best_accuracy_threshold": m.best_accuracy_threshold,
            "current_threshold": m.current_threshold,
            "accuracy_at_current": m.accuracy_at_current,
            "genuine_min": m.genuine_min,
            "impostor_max": m.impostor_max,
            "recommended_threshold": calibration.recommended_threshold,
            "run_id": run_id,
            "created_at": now(),
        }
        with transaction(self._con):
            insert_rows(self._con, "calibrations", [row])
            self._con.executemany(
                "INSERT INTO calibration_pairs (calibration_id, file_a, file_b, same, score) VALUES (?, ?, ?, ?, ?)",
                [
                    [calibration.calibration_id, p.a, p.b, p.same, float(s)]
                    for p, s in zip(calibration.scores.pairs, calibration.scores.scores, strict=True)
                ],
            )
            if set_default:
                Thresholds(self._con).set(
                    calibration.face_model, calibration.recommended_threshold, source=calibration.calibration_id
                )

    def get(self, calibration_id: str) -> StoredCalibration:
        """A stored calibration's headline figures.

        Raises:
            UnknownNameError: no calibration has that id.
        """
        row = self._con.execute(
            "SELECT calibration_id, face_model, source, n_images, n_genuine, n_impostor, n_skipped, auc, eer,"
            " recommended_threshold, run_id FROM calibrations WHERE calibration_id = ?",
            [calibration_id],
        ).fetchone()
        if row is None:
            known = [r[0] for r in self._con.execute("SELECT calibration_id FROM calibrations").fetchall()]
            raise UnknownNameError("calibration", calibration_id, known)
        return StoredCalibration(*row)

    def count(self) -> int:
        """Stored calibrations."""
        return count(self._con, "calibrations")

    def pair_count(self, calibration_id: str) -> int:
        """Scored pairs stored for one calibration."""
        return int(
            self._con.execute(
                "SELECT count(*) FROM calibration_pairs WHERE calibration_id = ?", [calibration_id]
            ).fetchone()[0]
        )


class Evaluations:
    """The ``identity_evaluations`` and ``identity_evaluation_frames`` tables (FaceSim-Arc of outputs)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save(
        self,
        results: Sequence[FaceSimResult],
        *,
        reference: str,
        reference_kind: str,
        face_model: str,
        run_id: str | None,
        orientation_from: str | None = None,
    ) -> list[str]:
        """Store one row per output and one per scored frame; returns the evaluation ids."""
        ids = []
        with transaction(self._con):
            for result in results:
                evaluation_id = f"facesim-{uuid.uuid4().hex[:12]}"
                insert_rows(
                    self._con,
                    "identity_evaluations",
                    [
                        {
                            "evaluation_id": evaluation_id,
                            "face_model": face_model,
                            "reference": reference,
                            "reference_kind": reference_kind,
                            "output_path": str(result.output_path),
                            "output_kind": result.output_kind,
                            "n_frames": len(result.scores),
                            "n_no_face": result.n_no_face,
                            "facesim_mean": result.mean,
                            "facesim_min": result.min,
                            "no_face_rate": result.no_face_rate,
                            "face_width_frac": result.face_width_frac,
                            "in_size_band": result.in_size_band,
                            "yaw": result.yaw,
                            "mirrored": result.mirrored,
                            "orientation_from": orientation_from,
                            "orientation_yaw": result.orientation_yaw,
                            "run_id": run_id,
                            "created_at": now(),
                        }
                    ],
                )
                self._con.executemany(
                    "INSERT INTO identity_evaluation_frames (evaluation_id, frame_index, score, face_width_frac, yaw,"
                    " mirrored) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        [evaluation_id, *frame]
                        for frame in zip(
                            result.frame_indices,
                            result.scores,
                            result.width_fracs or [None] * len(result.scores),
                            result.yaws or [None] * len(result.scores),
                            result.frame_mirrored or [None] * len(result.scores),
                            strict=True,
                        )
                    ],
                )
                ids.append(evaluation_id)
        return ids

    def list(self, *, run_id: str | None = None) -> list[StoredEvaluation]:
        """Stored evaluations (of one run, or all), oldest first."""
        rows = self._con.execute(
            "SELECT evaluation_id, face_model, reference, reference_kind, output_path, output_kind, n_frames,"
            " n_no_face, facesim_mean, facesim_min, no_face_rate, run_id, face_width_frac, in_size_band, yaw, mirrored,"
            " orientation_from FROM identity_evaluations"
            " WHERE ? IS NULL OR run_id = ? ORDER BY created_at, evaluation_id",
            [run_id, run_id],
        ).fetchall()
        return [StoredEvaluation(*r) for r in rows]

    def frame_scores(self, evaluation_id: str) -> list[float | None]:
        """The per-frame scores of one evaluation, in frame order."""
        rows = self._con.execute(
            "SELECT score FROM identity_evaluation_frames WHERE evaluation_id = ? ORDER BY frame_index", [evaluation_id]
        ).fetchall()
        return [r[0] for r in rows]

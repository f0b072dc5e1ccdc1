"""``evaluate-identity``: FaceSim-Arc of generated outputs against a character or a reference image, as a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from refbench.errors import OptionError
from refbench.faces import create_face_analyzer
from refbench.identity.facesim import (
    FaceSimResult,
    evaluate_output,
    is_tag,
    metrics_of,
    orientation_yaw_of,
    reference_from_image,
)
from refbench.registry import Workspace
from refbench.settings import Settings


@dataclass(frozen=True)
class IdentityEvaluation:
    """One ``evaluate-identity`` run: its id, the face model used and a result per output."""

    run_id: str
    face_model: str
    results: list[FaceSimResult]


def run_identity_evaluation(
    settings: Settings,
    *,
    reference: str,
    outputs: Sequence[Path],
    face_model: str | None = None,
    orientation_from: Path | None = None,
) -> IdentityEvaluation:
    """Score ``outputs`` against a CHAR tag or a reference image — FaceSim-Arc, face size, yaw and, given an
    orientation image, mirroring — and store results, frames and metrics as a run."""
    if not outputs:
        raise OptionError("give at least one output image or video")
    face_model = face_model or settings.face_model
    limits = settings.image_limits
    with Workspace.open(settings) as ws:
        # a mistyped tag fails here, with a did-you-mean, before a model loads
        tagged = ws.identities.reference_embedding(reference, face_model=face_model) if is_tag(reference) else None
        analyzer = create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
        if tagged is not None:
            embedding = tagged
        else:
            embedding = reference_from_image(Path(reference), analyzer=analyzer, limits=limits)
        turn = (
            None if orientation_from is None else orientation_yaw_of(orientation_from, analyzer=analyzer, limits=limits)
        )
        parameters = {
            "reference": reference,
            "outputs": [str(p) for p in outputs],
            "face_model": analyzer.name,
            "orientation_from": None if orientation_from is None else str(orientation_from),
        }
        with ws.runs.track("evaluate-identity", parameters, execution_provider=analyzer.execution_provider) as run:
            results = [
                evaluate_output(p, embedding, analyzer=analyzer, limits=limits, orientation_yaw=turn) for p in outputs
            ]
            ws.evaluations.save(
                results,
                reference=reference,
                reference_kind="tag" if is_tag(reference) else "image",
                face_model=analyzer.name,
                run_id=run.run_id,
                orientation_from=parameters["orientation_from"],
            )
            run.log_many(m for r in results for m in metrics_of(r))
    return IdentityEvaluation(run.run_id, analyzer.name, results)

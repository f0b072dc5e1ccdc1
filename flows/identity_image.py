"""Prefect flow of the matched-portrait pipeline: ``run_identity_image`` with each generation step as a task.

The flow only orchestrates: views, the generic identity image, the matched portrait and the final image are the
library's steps, each checked and stored in DuckDB; ``prefect_steps()`` makes every generation step a task run.
Run it locally with ``python flows/identity_image.py CHAR_01 "an orchestra conductor on stage" "grey hair"``
(a key in GOOGLE_API_KEY/GEMINI_API_KEY, or REFBENCH_GEMINI_BASE_URL pointing at `refbench fake-gemini`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger
from refbench.generation.images import connect_image_generator
from refbench.generation.portrait import IdentityBrief
from refbench.pipelines.identity_image import prefect_steps, run_identity_image
from refbench.settings import Settings


@flow(name="identity-image", log_prints=True)
def identity_image_flow(
    tag: str,
    identity: str,
    traits: list[str] | None = None,
    db_path: Path | None = None,
    model: str = "gemini-2.5-flash-image",
    base_url: str | None = None,
    face_model: str | None = None,
    scene_image: bool = False,
    allow_two_faces: bool = False,
    aspect_ratio: str = "3:4",
) -> dict:
    """Make one identity image of a character: views, generic image, matched portrait, final image.

    Args:
        tag: The character (CHAR_01).
        identity: Role and scene, e.g. "an orchestra conductor on stage at the final chord".
        traits: The person's physical traits ("short grey hair", "brown eyes").
        db_path: DuckDB workspace file; default ``REFBENCH_DB_PATH`` or ``data/refbench.duckdb``.
        model: Gemini image model.
        base_url: API endpoint override (a loopback fake); default ``REFBENCH_GEMINI_BASE_URL`` or Google's.
        face_model: Face model that checks outputs; default the settings'.
        scene_image: Also send the generic image to the final step (a second face-bearing image).
        allow_two_faces: Send requests with two face-bearing images anyway.
        aspect_ratio: Of every generated image.

    Returns:
        Run id, job id, status, total cost and per step its status, attempts, cost and output, as plain values.
    """
    settings = Settings(**({"db_path": db_path} if db_path is not None else {}))
    made = run_identity_image(
        settings,
        tag=tag,
        brief=IdentityBrief(identity, tuple(traits or ())),
        generator=connect_image_generator(model=model, base_url=base_url, limits=settings.image_limits),
        face_model=face_model,
        scene_image=scene_image,
        allow_two_faces=allow_two_faces,
        aspect_ratio=aspect_ratio,
        run_step=prefect_steps(),
    )
    get_run_logger().info("identity image %s: %s, $%.3f", made.run_id, made.job.status, made.job.cost_usd)
    return {
        "run_id": made.run_id,
        "job_id": made.job_id,
        "status": made.job.status,
        "cost_usd": made.job.cost_usd,
        "sheet": str(made.sheet_path),
        "final": None if made.final_path is None else str(made.final_path),
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "attempts": len(s.attempts),
                "cost_usd": s.cost_usd,
                "output": None if s.output_path is None else str(s.output_path),
            }
            for s in made.job.steps
        ],
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    identity_image_flow(tag=args[0], identity=args[1], traits=args[2:])

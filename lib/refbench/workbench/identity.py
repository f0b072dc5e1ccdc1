"""Display helpers for notebook 05 (identity pipeline): view sheets, identity-image jobs and chains.

Everything is read from the workspace briefly and read-only; a sheet not stored yet is drawn from the photos
without being stored.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from PIL import Image

from refbench.identity.views import bin_faces, render_view_sheet
from refbench.registry.generations import StoredImageJob
from refbench.settings import Settings
from refbench.workbench import WorkspaceReader


def reader(db_path: str = "") -> WorkspaceReader:
    """The workspace of ``db_path`` (``""``: the settings' default workspace)."""
    return WorkspaceReader(db_path or Settings().database)


def first_character(db_path: str = "") -> str:
    """The first character tag of the workspace ("" when it has none)."""
    tags = reader(db_path).read(lambda ws: [a.tag for a in ws.assets.list().of_type("character")])
    return tags[0] if tags else ""


def view_sheet_image(db_path: str, tag: str, *, face_model: str = "") -> np.ndarray:
    """The newest stored view sheet of ``tag`` as RGB (H, W, 3), else one drawn from its photos (not stored)."""

    def read(ws: Any) -> np.ndarray:
        stored = ws.views.latest(tag)
        if stored is not None and stored.path.is_file():
            with Image.open(stored.path) as image:
                return np.asarray(image.convert("RGB"))
        model = face_model or Settings().face_model
        gallery = ws.faces.gallery(model)
        faces = gallery[gallery.data["identity_tag"] == tag]
        return render_view_sheet(bin_faces(faces, tag=tag, face_model=model))

    return reader(db_path).read(read)


def latest_job(db_path: str, *, kind: str, job_id: str = "") -> StoredImageJob | None:
    """The stored job ``job_id``, else the newest job of ``kind`` (``None`` when there is none)."""
    jobs = reader(db_path).read(lambda ws: ws.image_jobs.list(kind=kind))
    chosen = [j for j in jobs if j.job_id == job_id] if job_id else jobs[-1:]
    return chosen[0] if chosen else None


def attempt_rows(db_path: str, job: StoredImageJob) -> list[dict[str, Any]]:
    """One row per attempt: step, attempt, passed, FaceSim-Arc per character, face width, yaw, USD, why not."""
    attempts = reader(db_path).read(lambda ws: ws.image_jobs.attempts(job.job_id))
    rows = []
    for a in attempts:
        checks = json.loads(a["checks"])
        scores = {c["name"].partition(":")[2] or "identity": c["value"] for c in checks if "identity" in c["name"]}
        rows.append(
            {
                "step": a["step_name"],
                "attempt": a["attempt"],
                "ok": a["ok"],
                "FaceSim-Arc": ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if v is not None),
                "face width": None if a["face_width_frac"] is None else f"{a['face_width_frac']:.0%}",
                "yaw": None if a["yaw"] is None else round(a["yaw"]),
                "USD": a["cost_usd"],
                "why not": a["error"] or "; ".join(c["message"] for c in checks if not c["ok"]),
            }
        )
    return rows


def facesim_by_step(db_path: str, job: StoredImageJob) -> list[tuple[str, float | None]]:
    """Per step, the FaceSim-Arc of the attempt the job kept (else its last attempt)."""
    rows = reader(db_path).read(lambda ws: ws.image_jobs.attempts(job.job_id))
    best: dict[str, float | None] = {}
    for row in rows:
        if row["step_name"] not in best or row["ok"]:
            best[row["step_name"]] = row["facesim"]
    return list(best.items())


def plot_job(job: StoredImageJob, *, thumb_size: int = 220) -> Any:
    """The kept output of every step side by side, titled with the step and its status."""
    import matplotlib.pyplot as plt

    steps = [s for s in job.steps if s.output_path is not None and s.output_path.is_file()]
    figure, axes = plt.subplots(1, max(len(steps), 1), figsize=(max(len(steps), 1) * thumb_size / 80, thumb_size / 60))
    for axis, step in zip(np.atleast_1d(axes), steps, strict=False):
        with Image.open(step.output_path) as image:
            axis.imshow(image.convert("RGB"))
        axis.set_title(f"{step.name}\n{step.status}, {step.attempts} attempt(s)", fontsize=9)
    for axis in np.atleast_1d(axes):
        axis.axis("off")
    figure.suptitle(f"{job.kind} {job.job_id}: {job.status}, ${job.cost_usd:.3f}", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.88))
    return figure


def plot_facesim(db_path: str, job: StoredImageJob) -> Any:
    """FaceSim-Arc along the job's steps against the calibrated threshold it was checked at."""
    import matplotlib.pyplot as plt

    points = facesim_by_step(db_path, job)
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.plot([n for n, _ in points], [np.nan if v is None else v for _, v in points], marker="o", label="FaceSim-Arc")
    if "threshold" in job.parameters:
        axis.axhline(job.parameters["threshold"], color="red", linestyle="--", label="calibrated threshold")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("cosine")
    axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return figure

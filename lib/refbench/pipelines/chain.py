"""``refbench chain``: a scenes file as a checked image chain, stored as a ``chain`` run.

Each step's FaceSim-Arc against its placed characters is a gate at the calibrated threshold (retry, then stop
or continue, see ``refbench.generation.chain``). The job and every attempt go to ``image_jobs``; run metrics
carry FaceSim-Arc per step and character (label ``<step>:<character>``) and the cost. A video chain (``frames``)
also builds each scene's Veo first/last-frame request from its two frames, checks it and stores it as a plan
(``generation_requests``) without sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from refbench.faces import create_face_analyzer
from refbench.generation.attempts import MAX_ATTEMPTS, ImageJob
from refbench.generation.chain import ChainResult, build_image_chain, run_image_chain
from refbench.generation.images import ImageGenerator
from refbench.generation.plan import ScenePlan
from refbench.generation.veo import build_veo_request, validate_veo_request
from refbench.identity.checks import CharacterJudge
from refbench.pipelines.common import face_threshold
from refbench.registry import Workspace
from refbench.select.scenes import SceneSpec, load_scenes
from refbench.select.selection import Selection
from refbench.settings import ImageLimits, Settings
from refbench.types import AssetSet, Metric


@dataclass(frozen=True)
class ChainRun:
    """One stored chain: its run, job, the chain as run, and (video chains) the Veo requests built from its frames."""

    run_id: str
    job_id: str
    job: ImageJob
    chain: ChainResult
    plans: list[ScenePlan] = field(default_factory=list)


def run_chain(
    settings: Settings,
    *,
    scenes_file: Path,
    generator: ImageGenerator,
    first_reference: Path | None = None,
    frames: bool = False,
    on_drift: str = "stop",
    face_model: str | None = None,
    aspect_ratio: str = "16:9",
    max_attempts: int = MAX_ATTEMPTS,
    veo_mode: str = "gemini",
) -> ChainRun:
    """Run the scenes of ``scenes_file`` as an image chain (``frames``: start and end frames per scene) and store it.

    Raises:
        SceneSpecError: the scenes file is invalid (every problem listed, each naming scene and field).
        InputNotFound: ``first_reference`` does not exist.
    """
    face_model = face_model or settings.face_model
    analyzer = create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
    with Workspace.open(settings, create=False) as ws:
        assets = ws.assets.list()
        registered = {record.file_name: record.stored_path for record in ws.images.list()}
        scenes = load_scenes(scenes_file, known_tags=assets.tags, registered_images=registered)
        steps = build_image_chain(scenes, assets, first_reference=first_reference, frames=frames)
        threshold = face_threshold(ws, face_model).value
        parameters = {
            "scenes_file": str(scenes_file),
            "first_reference": None if first_reference is None else str(first_reference),
            "frames": frames,
            "on_drift": on_drift,
            "face_model": face_model,
            "threshold": threshold,
            "model": getattr(generator, "model", generator.name),
            "aspect_ratio": aspect_ratio,
        }
        with ws.runs.track("chain", parameters, execution_provider=analyzer.execution_provider) as run:
            chain = run_image_chain(
                steps,
                generator,
                out_dir=ws.files_dir / "chains" / run.run_id,
                judge=CharacterJudge(analyzer, threshold=threshold),
                identities=character_identities(ws, assets, face_model=face_model),
                max_attempts=max_attempts,
                on_drift=on_drift,
                aspect_ratio=aspect_ratio,
            )
            job = ImageJob("chain", None, parameters["model"], chain.results, chain.status, parameters, _summary(chain))
            job_id = ws.image_jobs.save(job, run_id=run.run_id)
            plans = frame_plans(scenes, chain, mode=veo_mode, limits=settings.image_limits) if frames else []
            for plan in plans:
                ws.plans.save(plan, run_id=run.run_id)
            run.log_many(chain_metrics(chain, job))
    return ChainRun(run.run_id, job_id, job, chain, plans)


def character_identities(ws: Workspace, assets: AssetSet, *, face_model: str) -> dict:
    """Character tag → centroid embedding of its identity under ``face_model``."""
    centroids = ws.identities.centroids(face_model)
    return {a.tag: centroids[a.identity_id] for a in assets.of_type("character") if a.identity_id in centroids}


def frame_plans(scenes: list[SceneSpec], chain: ChainResult, *, mode: str, limits: ImageLimits) -> list[ScenePlan]:
    """Per scene with both frames made: its Veo first/last-frame interpolation request (no references), checked."""
    plans = []
    for scene in scenes:
        start, end = chain.outputs.get(f"{scene.scene_id}:start"), chain.outputs.get(f"{scene.scene_id}:end")
        if start is None or end is None:
            continue
        framed = scene.model_copy(update={"first_frame": start, "last_frame": end, "placements": [], "pins": []})
        request = build_veo_request(framed, None, mode=mode, limits=limits)
        selection = Selection(scene.scene_id, scene.shot_type, max_refs=0)
        plans.append(ScenePlan(framed, selection, request, validate_veo_request(request)))
    return plans


def chain_metrics(chain: ChainResult, job: ImageJob) -> list[Metric]:
    """FaceSim-Arc per step and character (kept, else best attempt), attempts per step, steps made, cost."""
    metrics = [
        Metric("cost_usd", job.cost_usd, "USD"),
        Metric("steps_planned", len(chain.steps), "steps"),
        Metric("steps_ok", sum(r.status == "ok" for r in chain.results), "steps"),
    ]
    for index, result in enumerate(chain.results, start=1):
        best = result.best
        metrics.append(Metric("attempts", len(result.attempts), "attempts", step=index, label=result.name))
        for check in best.checks if best else ():
            kind, _, character = check.name.partition(":")
            if kind in ("identity", "measured"):
                name = "facesim" if kind == "identity" else "facesim_measured"
                metrics.append(Metric(name, check.value, "cosine", step=index, label=f"{result.name}:{character}"))
    return metrics


def _summary(chain: ChainResult) -> str:
    made = len(chain.results)
    if chain.status == "stopped":
        failed = chain.results[-1]
        return f"stopped at step {made} of {len(chain.steps)} ({failed.name}): {failed.message}"
    return f"{made} steps, identity held by {chain.identity}" + ("" if chain.status == "ok" else " (drifted)")

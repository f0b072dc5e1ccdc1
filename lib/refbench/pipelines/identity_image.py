"""``refbench identity-image``: the matched-portrait pipeline over a workspace, every step checked and stored.

Steps (``refbench.generation.portrait``): (1) the character's view sheet, stored; (2) a generic identity image
from text, checked for a face in the 15–25% band; (3) a matched portrait from the view nearest the generic
image's head angle, checked for the face band, the head angle (not mirrored, within 15°) and ArcFace against
the identity at the calibrated threshold; (4) the final image from the matched portrait, checked the same way.
Each step makes at most three attempts; a step that fails stops the pipeline. Before each request the face
model counts its face-bearing images: more than one is refused before sending unless allowed. The job, its
steps (prompt, images sent, status) and every attempt (checks, FaceSim-Arc, yaw, size, tokens, USD) go to
``image_jobs``; the run's metrics carry the per-step figures and the total cost.

A Prefect flow passes ``prefect_steps()`` as ``run_step`` so each generation step is a task run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from refbench.clean.multi_angle import ViewReference, nearest_reference
from refbench.errors import FaceImagesRefused
from refbench.faces import create_face_analyzer
from refbench.generation.attempts import MAX_ATTEMPTS, ImageJob, StepResult, generate_checked
from refbench.generation.images import FaceImageGuard, ImageGenerator, ImageInput, ImageRequest
from refbench.generation.portrait import IdentityBrief, final_request, generic_request, portrait_request, scene_look
from refbench.identity.checks import OutputJudge, measure_face
from refbench.ingest import load_image_rgb
from refbench.pipelines.common import face_threshold
from refbench.pipelines.multi_angle import current_sheet, view_references
from refbench.pipelines.views import character, store_sheet
from refbench.registry import Workspace
from refbench.settings import ImageLimits, Settings
from refbench.types import Metric

StepRunner = Callable[[str, Callable[[], StepResult]], StepResult]


def run_directly(name: str, step: Callable[[], StepResult]) -> StepResult:
    """Run a step in this thread (the CLI)."""
    return step()


def prefect_steps() -> StepRunner:
    """A ``run_step`` that runs each generation step as a Prefect task (call inside a flow)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    def run(name: str, step: Callable[[], StepResult]) -> StepResult:
        # No task retries: the step retries itself (at most three checked attempts, each under the retry policy).
        return task(step, name=f"identity-image-{name}", cache_policy=NO_CACHE)()

    return run


@dataclass(frozen=True)
class IdentityImageRun:
    """One identity image: its run, the stored job, the view sheet used and the final image (if every step passed)."""

    run_id: str
    job_id: str
    job: ImageJob
    sheet_path: Path

    @property
    def final_path(self) -> Path | None:
        """The accepted final image."""
        last = self.job.steps[-1] if self.job.steps else None
        return last.output_path if last is not None and last.name == "final" else None


@dataclass
class _Pipeline:
    """The state of one identity image while its steps run."""

    brief: IdentityBrief
    generator: ImageGenerator
    judge: OutputJudge
    guard: FaceImageGuard
    out_dir: Path
    run_step: StepRunner
    max_attempts: int
    aspect_ratio: str
    allow_two_faces: bool

    def step(self, name: str, request: ImageRequest, judge: Callable) -> StepResult:
        """Check the request's face-bearing images, then generate until the judge passes an output; the stored
        inputs say which images held a face."""
        faces = set(self.guard.check(request, allow=self.allow_two_faces))
        result = self.run_step(
            name,
            lambda: generate_checked(
                request,
                name=name,
                generator=self.generator,
                judge=judge,
                out_dir=self.out_dir,
                max_attempts=self.max_attempts,
            ),
        )
        return replace(result, references=tuple({**r, "has_face": r["role"] in faces} for r in result.references))


def run_identity_image(
    settings: Settings,
    *,
    tag: str,
    brief: IdentityBrief,
    generator: ImageGenerator,
    face_model: str | None = None,
    scene_image: bool = False,
    allow_two_faces: bool = False,
    aspect_ratio: str = "3:4",
    max_attempts: int = MAX_ATTEMPTS,
    run_step: StepRunner = run_directly,
) -> IdentityImageRun:
    """Make one identity image of character ``tag`` as an ``identity-image`` run.

    Args:
        settings: The workspace.
        tag: The character (CHAR_01).
        brief: The identity (role and scene) and the person's traits.
        generator: The image generator (``GeminiImageGenerator``; the loopback fake in tests).
        face_model: The face model that checks outputs (default: the settings').
        scene_image: Also send the generic image to step 4 (a second face-bearing image).
        allow_two_faces: Send requests with two face-bearing images anyway.
        aspect_ratio: Of every generated image.
        max_attempts: Per step (1..3).
        run_step: How each generation step runs (``prefect_steps()`` in the flow).

    Raises:
        FaceImagesRefused: a request would carry two face-bearing images and that is not allowed (the job is
            stored as ``refused`` first).
    """
    face_model = face_model or settings.face_model
    analyzer = create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers)
    limits = settings.image_limits
    with Workspace.open(settings, create=False) as ws:
        asset = character(ws, tag)
        threshold = face_threshold(ws, face_model).value
        identity = ws.identities.centroids(face_model)[asset.identity_id]
        parameters = {
            "tag": tag,
            "identity": brief.identity,
            "traits": list(brief.traits),
            "face_model": face_model,
            "model": getattr(generator, "model", generator.name),
            "threshold": threshold,
            "scene_image": scene_image,
            "allow_two_faces": allow_two_faces,
            "aspect_ratio": aspect_ratio,
            "max_attempts": max_attempts,
        }
        with ws.runs.track("identity-image", parameters, execution_provider=analyzer.execution_provider) as run:
            sheet, n_faces = current_sheet(ws, tag, face_model=face_model)
            sheet_id, sheet_path = store_sheet(ws, sheet, n_faces=n_faces, run_id=run.run_id)
            pipeline = _Pipeline(
                brief=brief,
                generator=generator,
                judge=OutputJudge(analyzer, identity=identity, threshold=threshold),
                guard=FaceImageGuard(analyzer),
                out_dir=ws.files_dir / "identity" / run.run_id,
                run_step=run_step,
                max_attempts=max_attempts,
                aspect_ratio=aspect_ratio,
                allow_two_faces=allow_two_faces,
            )
            steps: list[StepResult] = []
            refused: FaceImagesRefused | None = None
            try:
                _run_steps(
                    pipeline,
                    steps,
                    references=view_references(ws, sheet, face_model=face_model, limits=limits),
                    scene_image=scene_image,
                    limits=limits,
                )
                status = "ok" if steps[-1].name == "final" and steps[-1].status == "ok" else "failed"
                message = _summary(steps)
            except FaceImagesRefused as error:
                refused, status, message = error, "refused", str(error)
            job = ImageJob(
                "identity_image",
                tag,
                parameters["model"],
                tuple(steps),
                status,
                {**parameters, "sheet_id": sheet_id},
                message,
            )
            job_id = ws.image_jobs.save(job, run_id=run.run_id)
            run.log_many(_metrics(job))
            if refused is not None:
                raise refused
    return IdentityImageRun(run.run_id, job_id, job, sheet_path)


def _run_steps(
    pipeline: _Pipeline,
    steps: list[StepResult],
    *,
    references: list[ViewReference],
    scene_image: bool,
    limits: ImageLimits,
) -> None:
    """Steps 2-4, appending each result to ``steps``; stops at the first step that fails."""
    judge, brief, ratio = pipeline.judge, pipeline.brief, pipeline.aspect_ratio
    generic = generic_request(brief, aspect_ratio=ratio)
    steps.append(pipeline.step("generic", generic, lambda rgb: judge(rgb, same_person=False)))
    if steps[-1].status != "ok":
        return
    generic_rgb = load_image_rgb(steps[-1].output_path, limits=limits)
    measured = measure_face(generic_rgb, judge.analyzer)
    look = scene_look(generic_rgb, measured.xyxy, yaw=measured.yaw)
    reference = nearest_reference(references, yaw=measured.yaw, what="a matched portrait").image
    request = portrait_request(brief, reference=reference, look=look, aspect_ratio=ratio)
    steps.append(pipeline.step("portrait", request, lambda rgb: judge(rgb, like_yaw=measured.yaw)))
    if steps[-1].status != "ok":
        return
    portrait = ImageInput.fitted(
        load_image_rgb(steps[-1].output_path, limits=limits), "matched portrait", source=steps[-1].output_path
    )
    scene = ImageInput.fitted(generic_rgb, "generic scene", source=steps[0].output_path) if scene_image else None
    request = final_request(brief, portrait=portrait, look=look, scene=scene, aspect_ratio=ratio)
    steps.append(pipeline.step("final", request, lambda rgb: judge(rgb, like_yaw=measured.yaw)))


def _summary(steps: list[StepResult]) -> str:
    return "; ".join(f"{s.name}: {s.message}" for s in steps)


def _metrics(job: ImageJob) -> list[Metric]:
    """Per step (label): attempts, cost and the accepted (else best) attempt's figures; the total cost."""
    metrics = [Metric("cost_usd", job.cost_usd, "USD"), Metric("steps_ok", sum(s.status == "ok" for s in job.steps))]
    for step in job.steps:
        best = step.best
        metrics += [
            Metric("attempts", len(step.attempts), "attempts", label=step.name),
            Metric("step_cost_usd", step.cost_usd, "USD", label=step.name),
        ]
        if best is not None:
            metrics += [
                Metric("facesim", best.facesim, "cosine", label=step.name),
                Metric("face_width_frac", best.width_frac, "ratio", label=step.name),
                Metric("yaw", best.yaw, "deg", label=step.name),
            ]
    return metrics

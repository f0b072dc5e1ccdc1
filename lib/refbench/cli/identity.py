"""The identity pipeline's commands: ``views`` (view sheets), ``identity-image`` (matched portrait) and ``chain``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from refbench.cli.app import DbOption, app, console, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.generation.attempts import ImageJob

FaceModelOption = Annotated[str | None, typer.Option(help="Face model backend (default: the settings').")]


@app.command()
def views(
    tag: Annotated[str, typer.Argument(help="Character tag (CHAR_01).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the sheet as JSON instead of a table.")] = False,
    face_model: FaceModelOption = None,
    db: DbOption = None,
) -> None:
    """Bin a character's photos into front, 3/4 and profile views (left/right: the subject's own), draw the
    sheet, list the missing views with the photo to take, and store the sheet."""
    from rich.table import Table

    from refbench.faces.pose import VIEWS
    from refbench.identity.views import DIRECTION_NOTE, SHEET_ORDER, degrees
    from refbench.pipelines.views import run_view_sheet

    made = run_view_sheet(settings_for(db), tag=tag, face_model=face_model)
    if as_json:
        print(json.dumps({**made.sheet.to_json(), "sheet_path": str(made.path), "run_id": made.run_id}, indent=2))
        return
    table = Table("view", "faces", "yaw", "face width", "quality", "photo", title=f"{tag} views ({made.run_id})")
    for view in SHEET_ORDER:
        image, n = made.sheet.images.get(view), made.sheet.counts.get(view, 0)
        if image is None:
            table.add_row(VIEWS[view].label, str(n), "-", "-", "-", "[yellow]missing[/yellow]")
        else:
            width = "-" if image.width_frac is None else f"{image.width_frac:.0%}"
            table.add_row(
                VIEWS[view].label, str(n), degrees(image.yaw), width, f"{image.quality:.2f}", image.image_file or ""
            )
    console.print(table)
    console.print(f"note: {DIRECTION_NOTE}", soft_wrap=True)
    for view, advice in made.sheet.advice.items():
        console.print(f"missing {VIEWS[view].label}: {escape(advice)}", soft_wrap=True)
    console.print(f"sheet: {made.path}", soft_wrap=True)


ModelOption = Annotated[str, typer.Option(help="Gemini image model.")]
BaseUrlOption = Annotated[str | None, typer.Option(help="API base URL (e.g. a loopback `refbench fake-gemini`).")]


@app.command("identity-image")
def identity_image(
    tag: Annotated[str, typer.Argument(help="Character tag (CHAR_01).")],
    identity: Annotated[str, typer.Option(help="The identity: role and scene, e.g. 'a conductor on stage'.")],
    traits: Annotated[
        list[str] | None,
        typer.Option(help="Physical traits (repeatable, or comma-separated): 'grey hair, brown eyes'."),
    ] = None,
    scene_image: Annotated[
        bool, typer.Option(help="Also send the generic scene image to the final step (a second face-bearing image).")
    ] = False,
    allow_two_faces: Annotated[
        bool, typer.Option(help="Send requests with two face-bearing images anyway (safety filters may block them).")
    ] = False,
    aspect_ratio: Annotated[str, typer.Option(help="Aspect ratio of every generated image.")] = "3:4",
    model: ModelOption = "gemini-2.5-flash-image",
    base_url: BaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON instead of a table.")] = False,
    face_model: FaceModelOption = None,
    db: DbOption = None,
) -> None:
    """The matched-portrait pipeline: views, a generic identity image, a matched portrait, the final image; every
    step checked (face size band, head angle against the generic image, ArcFace against the character) and
    stored with its prompt, images, attempts and cost."""
    from refbench.generation.images import connect_image_generator
    from refbench.generation.portrait import IdentityBrief
    from refbench.pipelines.identity_image import run_identity_image

    settings = settings_for(db)
    split = tuple(t.strip() for item in traits or [] for t in item.split(",") if t.strip())
    made = run_identity_image(
        settings,
        tag=tag,
        brief=IdentityBrief(identity, split),
        generator=connect_image_generator(model=model, base_url=base_url, limits=settings.image_limits),
        face_model=face_model,
        scene_image=scene_image,
        allow_two_faces=allow_two_faces,
        aspect_ratio=aspect_ratio,
    )
    if as_json:
        print(json.dumps(job_json(made.job, run_id=made.run_id, sheet=str(made.sheet_path)), indent=2))
    else:
        console.print(steps_table(made.job, title=f"{tag} identity image ({made.run_id})"))
        console.print(f"views: {made.sheet_path}\nfinal: {made.final_path or '-'}", soft_wrap=True)
    if made.job.status != "ok":
        raise typer.Exit(1)


def steps_table(job: ImageJob, *, title: str) -> Table:
    """One row per step: status, attempts, the kept (else best) attempt's figures, cost and output."""
    from rich.table import Table

    table = Table(title=title)
    for name in ("step", "status", "tries", "FaceSim", "width", "yaw", "USD"):
        table.add_column(name)
    table.add_column("output / why not", overflow="fold")
    for step in job.steps:
        best = step.best
        figures = (
            ("-", "-", "-")
            if best is None
            else (_f(best.facesim, ".3f"), _f(best.width_frac, ".0%"), _f(best.yaw, "+.0f"))
        )
        outcome = step.output_path.name if step.output_path else step.message
        table.add_row(
            step.name, step.status, str(len(step.attempts)), *figures, f"{step.cost_usd:.3f}", escape(outcome)
        )
    folder = next((s.output_path.parent for s in job.steps if s.output_path), None)
    why = "" if job.status == "ok" else f" — {escape(job.message)}"
    where = "" if folder is None else f"\noutputs in {folder}"
    table.caption = f"{job.status}: total ${job.cost_usd:.3f}{why}{where}"
    return table


def job_json(job: ImageJob, **extra: str) -> dict:
    """A job as JSON: status, cost, and per step its prompt, images sent and attempts with their checks."""
    return {
        **extra,
        "kind": job.kind,
        "tag": job.tag,
        "status": job.status,
        "cost_usd": round(job.cost_usd, 5),
        "message": job.message,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "output": None if s.output_path is None else str(s.output_path),
                "cost_usd": round(s.cost_usd, 5),
                "prompt": s.prompt,
                "inputs": list(s.references),
                "attempts": [
                    {
                        "attempt": a.number,
                        "ok": a.ok,
                        "output": None if a.output_path is None else str(a.output_path),
                        "facesim": a.facesim,
                        "face_width_frac": a.width_frac,
                        "yaw": a.yaw,
                        "cost_usd": a.cost_usd,
                        "error": a.error,
                        "checks": [c.to_json() for c in a.checks],
                    }
                    for a in s.attempts
                ],
            }
            for s in job.steps
        ],
    }


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@app.command()
def chain(
    scenes_file: Annotated[Path, typer.Argument(help="Scenes file (YAML or JSON), in chain order.")],
    first_reference: Annotated[
        Path | None, typer.Option(help="Image the first step starts from (default: none, the first step is text only).")
    ] = None,
    frames: Annotated[
        bool, typer.Option("--frames", help="Video chain: a start and an end frame per scene, and its Veo request.")
    ] = False,
    on_drift: Annotated[
        str, typer.Option(help="After 3 attempts below the identity threshold: stop, or continue from the best.")
    ] = "stop",
    aspect_ratio: Annotated[str, typer.Option(help="Aspect ratio of every image.")] = "16:9",
    model: ModelOption = "gemini-2.5-flash-image",
    base_url: BaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON instead of a table.")] = False,
    face_model: FaceModelOption = None,
    db: DbOption = None,
) -> None:
    """Generate the scenes as a chain (each step references the previous output), checking FaceSim-Arc of the
    placed characters at every step: below the calibrated threshold a step is retried, then the chain stops."""
    from refbench.generation.images import connect_image_generator
    from refbench.pipelines.chain import run_chain

    settings = settings_for(db)
    made = run_chain(
        settings,
        scenes_file=scenes_file,
        generator=connect_image_generator(model=model, base_url=base_url, limits=settings.image_limits),
        first_reference=first_reference,
        frames=frames,
        on_drift=on_drift,
        face_model=face_model,
        aspect_ratio=aspect_ratio,
    )
    if as_json:
        requests = {p.scene.scene_id: p.request.to_json() | {"valid": p.valid} for p in made.plans}
        print(json.dumps(job_json(made.job, run_id=made.run_id) | {"veo_requests": requests}, indent=2))
    else:
        console.print(steps_table(made.job, title=f"chain {made.run_id} (identity held by {made.chain.identity})"))
        for plan in made.plans:
            state = "valid" if plan.valid else "refused: " + "; ".join(c.message for c in plan.checks if not c.ok)
            console.print(f"Veo request {plan.scene.scene_id} (first/last frame): {escape(state)}", soft_wrap=True)
    if made.job.status in ("stopped", "failed"):
        raise typer.Exit(1)

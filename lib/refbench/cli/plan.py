"""``refbench plan``: choose each scene's references, build and check its Veo request, optionally submit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from refbench.cli.app import ApiMode, DbOption, app, console, settings_for
from refbench.errors import OptionError

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.pipelines.plan import PlanRun, ScenePlan


def selection_table(plan: ScenePlan) -> Table:
    """Chosen and dropped candidates of one scene, with reasons."""
    from rich.table import Table

    table = Table(title=f"scene {plan.scene.scene_id} ({plan.scene.shot_type.value})", show_lines=False)
    for column in ("slot", "tag", "role", "variant", "quality", "reason"):
        table.add_column(column)
    for s in plan.selection.chosen + plan.selection.dropped:
        table.add_row(
            str(s.slot or "-"),
            s.tag,
            s.role.value,
            s.variant or "-",
            "n/a" if s.quality is None else f"{s.quality:.2f}",
            s.reason,
        )
    return table


@app.command()
def plan(
    scenes_file: Annotated[Path, typer.Argument(help="Scenes file (YAML or JSON).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print only: write nothing, send nothing.")] = False,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit", help="Submit valid requests (needs GOOGLE_API_KEY or GEMINI_API_KEY, and --mode vertex)."
        ),
    ] = False,
    db: DbOption = None,
    mode: Annotated[ApiMode, typer.Option(help="API surface the request is checked for.")] = "gemini",
    model: Annotated[str, typer.Option(help="Veo model id.")] = "veo-3.1-generate-preview",
    max_refs: Annotated[int, typer.Option(help="References per scene (Veo 3.1: at most 3).")] = 3,
    base_url: Annotated[str | None, typer.Option(help="API endpoint override (tests: a loopback fake).")] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between operation polls.")] = 10.0,
    auto: Annotated[
        bool, typer.Option("--auto", help="Fill each scene's placements from its prompt (names, objects, places).")
    ] = False,
    max_polls: Annotated[int, typer.Option(help="Polls before giving up on an operation.")] = 60,
    tier: Annotated[
        str | None,
        typer.Option(help="Quality tier draft|standard|final: video model, resolution, storyboard and clean sheets."),
    ] = None,
) -> None:
    """Select references per scene, print the selection and the exact request JSON; refuse invalid requests."""
    if dry_run and submit:
        raise typer.BadParameter("--dry-run and --submit exclude each other")
    if submit and mode != "vertex":  # checked before any scene is planned or printed
        raise OptionError("google-genai 3.4 sends generate_videos only in Vertex mode: plan with --mode vertex")
    from refbench.pipelines.plan import PlanOptions, plan_scenes, submit_plans

    settings = settings_for(db)
    options = PlanOptions(mode=mode, model=model, max_refs=max_refs, tier=tier)
    planned = plan_scenes(scenes_file, settings=settings, options=options, store_results=not dry_run, auto=auto)
    for item in planned.plans:
        for placement in planned.auto.get(item.scene.scene_id, []):
            console.print(
                f"scene {item.scene.scene_id}: auto {placement.tag} as {placement.role} "
                f"(confidence {placement.confidence:.2f}: {escape(placement.reason)})",
                soft_wrap=True,
            )
        console.print(selection_table(item))
        console.print_json(json.dumps(item.request.to_json()))
        for check in item.checks:
            if not check.ok:
                console.print(f"[red]refused[/red] {escape(f'[{check.name}] {check.message}')}", soft_wrap=True)
        console.print(
            f"scene {item.scene.scene_id}: request "
            + ("[green]valid[/green]" if item.valid else "[red]refused before sending[/red]")
        )
        print_costs(item)
    print_plan_cost(planned)
    invalid = planned.refused
    if submit:
        for scene_id, result in submit_plans(
            planned, settings=settings, base_url=base_url, poll_interval_s=poll_interval, max_polls=max_polls
        ).items():
            console.print(f"scene {scene_id}: {escape(result)}", soft_wrap=True)
    if invalid:
        console.print(f"[red]error:[/red] {len(invalid)} request(s) refused: {', '.join(invalid)}")
        raise typer.Exit(1)


def print_costs(item: ScenePlan) -> None:
    """One line per cost item of a scene, then its total (from the dated price table)."""
    for line in item.costs:
        price = "price unknown" if line.unit_usd is None else f"${line.usd:.3f}"
        console.print(
            f"  cost {line.item}: {line.quantity:g} {line.unit}(s) of {line.model} {line.variant} = {price}",
            markup=False,
            highlight=False,
        )
    if item.tier_note:
        console.print(f"  resolution: {item.tier_note}", markup=False, highlight=False)
    total = item.cost_usd
    console.print(f"scene {item.scene.scene_id}: estimated " + ("cost unknown" if total is None else f"${total:.2f}"))


def print_plan_cost(planned: PlanRun) -> None:
    """The plan's estimated total and the price table's date."""
    from refbench.generation.costs import PRICE_TABLE_DATE

    total = planned.cost_usd
    amount = "unknown (a price is missing)" if total is None else f"${total:.2f}"
    console.print(f"plan: estimated {amount} for {len(planned.plans)} scene(s) (prices as of {PRICE_TABLE_DATE})")

"""Scene planning: scenes file → references per scene → checked Veo request → (optionally) submitted.

The CLI (``refbench plan``) and notebook 03 call these functions; nothing here prints. A stored plan is a
``plan`` run; a dry run reads the workspace only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from refbench.credentials import redact
from refbench.errors import OptionError, RefbenchError
from refbench.generation.costs import PRICE_TABLE_DATE, total_usd
from refbench.generation.plan import PlanOptions, ScenePlan, plan_costs, plan_scene
from refbench.generation.submit import submit_veo
from refbench.google_api import GoogleApiSettings, make_client
from refbench.library.automatch import AutoMatcher, AutoPlacement
from refbench.registry import Workspace
from refbench.registry.library import StoredPlacement
from refbench.select.scenes import Placement, SceneSpec, load_scenes
from refbench.settings import Settings
from refbench.types import AssetSet, Metric

__all__ = ["PlanOptions", "PlanRun", "ScenePlan", "plan_scenes", "submit_plans"]


@dataclass
class PlanRun:
    """The plans of one scenes file; ``run_id`` is ``None`` for a dry run (nothing stored)."""

    plans: list[ScenePlan]
    run_id: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # scene id -> submission outcome
    auto: dict[str, list[AutoPlacement]] = field(default_factory=dict)  # scene id -> placements added by --auto

    @property
    def cost_usd(self) -> float | None:
        """Estimated USD of the whole plan; ``None`` when some price is unknown."""
        return total_usd([line for plan in self.plans for line in plan.costs])

    @property
    def refused(self) -> list[str]:
        """Scene ids whose request failed a pre-flight check."""
        return [p.scene.scene_id for p in self.plans if not p.valid]


def plan_scenes(
    scenes_file: Path, *, settings: Settings, options: PlanOptions, store_results: bool = True, auto: bool = False
) -> PlanRun:
    """Plan every scene of a file; with ``store_results`` selections and requests go to DuckDB as a ``plan`` run.

    With ``auto``, each scene's placements are filled (or completed, up to ``options.max_refs``) from its prompt
    by ``refbench.library.automatch``; the automatic placements are stored with their confidence and reason.

    Raises:
        SceneSpecError: the file is invalid (every problem listed, each naming scene and field).
        SelectionError: a scene's placements cannot satisfy its shot type.
    """
    options = replace(options, limits=settings.image_limits)
    with Workspace.open(settings, read_only=not store_results, create=False) as ws:
        assets = ws.assets.list()
        registered = {record.file_name: record.stored_path for record in ws.images.list()}
        scenes = load_scenes(scenes_file, known_tags=assets.tags, registered_images=registered)
        added = auto_placements(ws, scenes, assets, settings=settings, max_refs=options.max_refs) if auto else {}
        scenes = [with_placements(scene, added.get(scene.scene_id, [])) for scene in scenes]
        plans = plan_costs([plan_scene(scene, assets, options=options) for scene in scenes], assets, options=options)
        if not store_results:
            return PlanRun(plans, auto=added)
        parameters = {
            "scenes_file": str(scenes_file),
            "mode": options.mode,
            "model": options.model,
            "max_refs": options.max_refs,
            "auto": auto,
            "tier": options.tier,
            "price_table_date": PRICE_TABLE_DATE,
        }
        with ws.runs.track("plan", parameters) as run:
            for item in plans:
                ws.plans.save(item, run_id=run.run_id)
                ws.brand.save_costs(item.costs, run_id=run.run_id, tier=options.tier, table_date=PRICE_TABLE_DATE)
            ws.library.save_placements(
                [StoredPlacement(s, p.tag, p.role, p.confidence, p.reason) for s, ps in added.items() for p in ps],
                run_id=run.run_id,
            )
            run.log(
                Metric("scenes", len(plans), "scenes"),
                Metric("requests_valid", sum(p.valid for p in plans), "requests"),
                Metric("requests_refused", sum(not p.valid for p in plans), "requests"),
                Metric("auto_placements", sum(len(ps) for ps in added.values()), "placements"),
                *cost_metrics(plans),
            )
    return PlanRun(plans, run.run_id, auto=added)


def cost_metrics(plans: list[ScenePlan]) -> list[Metric]:
    """The plan's estimated USD: in total and per item (run-level, shown by ``runs compare``), and per scene."""
    lines = [line for plan in plans for line in plan.costs]
    items = sorted({line.item for line in lines})
    return [
        Metric("cost_usd", total_usd(lines), "USD"),
        *[Metric(f"cost_usd_{item}", total_usd([x for x in lines if x.item == item]), "USD") for item in items],
        *[Metric("cost_usd_scene", plan.cost_usd, "USD", label=plan.scene.scene_id) for plan in plans],
    ]


def auto_placements(
    ws: Workspace, scenes: list[SceneSpec], assets: AssetSet, *, settings: Settings, max_refs: int
) -> dict[str, list[AutoPlacement]]:
    """Scene id → placements found in its prompt, never more than the scene's free slots up to ``max_refs``."""
    from refbench.library.search import LibrarySearcher
    from refbench.pipelines.library import LibraryOptions, load_library_index, load_library_models

    models = load_library_models(LibraryOptions(ocr=False), settings)
    index = load_library_index(ws, models)
    searcher = LibrarySearcher(index, text_embedder=models.text, image_embedder=models.image)
    matcher = AutoMatcher(max_refs=max_refs)
    return {
        scene.scene_id: matcher.match(
            scene.prompt,
            assets=assets,
            searcher=searcher,
            exclude={*scene.tags, *scene.unpins},
            slots=max_refs - len(scene.tags),
        )
        for scene in scenes
    }


def with_placements(scene: SceneSpec, placements: list[AutoPlacement]) -> SceneSpec:
    """The scene with automatic placements appended after its own."""
    if not placements:
        return scene
    extra = [Placement(asset_tag=p.tag, role=p.role) for p in placements]
    return scene.model_copy(update={"placements": [*scene.placements, *extra]})


def submit_plans(
    plan_run: PlanRun,
    *,
    settings: Settings,
    base_url: str | None = None,
    poll_interval_s: float = 10.0,
    max_polls: int = 60,
) -> dict[str, str]:
    """Submit every valid stored plan, poll it, save its videos under ``<workspace files>/generated``.

    Returns:
        Scene id → outcome text (output files or the error).
    """
    valid = [p for p in plan_run.plans if p.valid]
    if any(p.request.mode != "vertex" for p in valid):
        raise OptionError("google-genai 3.4 sends generate_videos only in Vertex mode: plan with --mode vertex")
    if any(p.request_id is None for p in valid):
        raise OptionError("plans must be stored before they are submitted (not with --dry-run)")
    api = GoogleApiSettings(**({"base_url": base_url} if base_url else {}))  # else REFBENCH_GEMINI_BASE_URL
    client = make_client(mode="vertex", settings=api)
    with Workspace.open(settings, create=False) as ws:
        for item in valid:
            try:
                result = submit_veo(
                    client,
                    item.request,
                    out_dir=ws.files_dir / "generated",
                    poll_interval_s=poll_interval_s,
                    max_polls=max_polls,
                    policy=api.policy(),
                )
            except Exception as error:  # noqa: BLE001 - one scene's failure is recorded, the others go on
                text = str(error) if isinstance(error, RefbenchError) else f"{type(error).__name__}: {error}"
                ws.plans.mark_failed(item.request_id, error=text)
                plan_run.outcomes[item.scene.scene_id] = f"failed: {redact(text)}"
                continue
            outputs = [str(p) for p in result.outputs] + result.uris
            ws.plans.mark_done(item.request_id, operation_name=result.operation_name, outputs=outputs)
            plan_run.outcomes[item.scene.scene_id] = f"done: {', '.join(outputs)}"
    return plan_run.outcomes

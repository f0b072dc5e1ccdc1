"""One scene's plan: its references (selection), the Veo request built from them, and the pre-flight checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from refbench.generation.costs import CostLine, total_usd
from refbench.generation.tiers import Tier, get_tier, scene_costs
from refbench.generation.veo import (
    DEFAULT_INLINE_BUDGET_BYTES,
    MAX_REFERENCE_SIDE,
    VEO_31_MODEL,
    CheckResult,
    VeoRequest,
    build_veo_request,
    validate_veo_request,
)
from refbench.select.scenes import SceneSpec
from refbench.select.selection import Selection, select_references
from refbench.settings import ImageLimits
from refbench.types import AssetSet


@dataclass(frozen=True)
class PlanOptions:
    """How requests are built and checked."""

    mode: str = "gemini"
    model: str = VEO_31_MODEL
    max_refs: int = 3
    max_side: int = MAX_REFERENCE_SIDE
    max_inline_bytes: int = DEFAULT_INLINE_BUDGET_BYTES
    limits: ImageLimits = ImageLimits()  # every image that goes into a request is decoded within these
    tier: str | None = None  # draft | standard | final (refbench.generation.tiers): model, resolution, costs

    def video_tier(self) -> Tier:
        """The named tier, or for no tier one that only prices the video of ``model`` at each scene's resolution."""
        if self.tier is not None:
            return get_tier(self.tier)
        return Tier("none", self.model, "", "", "", 0, "original", "local")


@dataclass
class ScenePlan:
    """One scene's selection, request and pre-flight check results (and their ids once stored)."""

    scene: SceneSpec
    selection: Selection
    request: VeoRequest
    checks: list[CheckResult]
    selection_id: str | None = None
    request_id: str | None = None
    costs: list[CostLine] = field(default_factory=list)  # filled by ``plan_costs``
    tier_note: str = ""  # why the request has its resolution, when a tier chose it

    @property
    def cost_usd(self) -> float | None:
        """Estimated USD of the scene; ``None`` when a price is unknown."""
        return total_usd(self.costs)

    @property
    def valid(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)


def prompt_descriptions(selection: Selection, assets: AssetSet) -> dict[str, str]:
    """Tag → the user's name and the visual description of each chosen reference that has either
    (automatic names alone add nothing for Veo)."""
    return {tag: text for tag in selection.tags if (text := assets[tag].prompt_text)}


def plan_scene(scene: SceneSpec, assets: AssetSet, *, options: PlanOptions) -> ScenePlan:
    """Select references for one scene and build and check its Veo request (with the tier's model and resolution)."""
    scene, model, note = _with_tier(scene, options)
    selection = select_references(scene, assets, max_refs=options.max_refs)
    request = build_veo_request(
        scene,
        selection,
        mode=options.mode,
        model=model,
        max_side=options.max_side,
        descriptions=prompt_descriptions(selection, assets),
        limits=options.limits,
    )
    checks = validate_veo_request(request, max_side=options.max_side, max_inline_bytes=options.max_inline_bytes)
    return ScenePlan(scene, selection, request, checks, tier_note=note)


def _with_tier(scene: SceneSpec, options: PlanOptions) -> tuple[SceneSpec, str, str]:
    """(scene with the tier's resolution, video model, note); without a tier the scene and model as given."""
    if options.tier is None:
        return scene, options.model, ""
    tier = get_tier(options.tier)
    own = scene.resolution if "resolution" in scene.model_fields_set else None
    resolution, note = tier.resolution_for(duration_s=scene.duration_seconds or 8, scene_resolution=own)
    return scene.model_copy(update={"resolution": resolution}), tier.video_model, note


def plan_costs(plans: list[ScenePlan], assets: AssetSet, *, options: PlanOptions) -> list[ScenePlan]:
    """Fill each plan's cost lines: video seconds, storyboard images, clean sheets and descriptions still to make.

    An asset needing a description or a tier-3 clean sheet is counted once, in the first scene that uses it.
    """
    tier, seen = options.video_tier(), set()
    for plan in plans:
        new = [tag for tag in plan.selection.tags if tag not in seen]
        seen.update(new)
        plan.costs = scene_costs(
            tier,
            scene_id=plan.scene.scene_id,
            duration_s=int(plan.request.config.get("duration_seconds") or 8),
            resolution=str(plan.request.config.get("resolution")),
            new_clean_sheets=sum(assets[t].asset_type == "character" and assets[t].clean_tier != 3 for t in new),
            new_descriptions=sum(assets[t].visual_description is None for t in new),
            number_of_videos=int(plan.request.config.get("number_of_videos") or 1),
        )
    return plans

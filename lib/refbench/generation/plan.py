"""One scene's plan: its references (selection), the Veo request built from them, and the pre-flight checks."""

from __future__ import annotations

from dataclasses import dataclass

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
from refbench.types import AssetSet


@dataclass(frozen=True)
class PlanOptions:
    """How requests are built and checked."""

    mode: str = "gemini"
    model: str = VEO_31_MODEL
    max_refs: int = 3
    max_side: int = MAX_REFERENCE_SIDE
    max_inline_bytes: int = DEFAULT_INLINE_BUDGET_BYTES


@dataclass
class ScenePlan:
    """One scene's selection, request and pre-flight check results (and their ids once stored)."""

    scene: SceneSpec
    selection: Selection
    request: VeoRequest
    checks: list[CheckResult]
    selection_id: str | None = None
    request_id: str | None = None

    @property
    def valid(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)


def prompt_descriptions(selection: Selection, assets: AssetSet) -> dict[str, str]:
    """Tag → the user's name and the visual description of each chosen reference that has either
    (automatic names alone add nothing for Veo)."""
    return {tag: text for tag in selection.tags if (text := assets[tag].prompt_text)}


def plan_scene(scene: SceneSpec, assets: AssetSet, *, options: PlanOptions) -> ScenePlan:
    """Select references for one scene and build and check its Veo request."""
    selection = select_references(scene, assets, max_refs=options.max_refs)
    request = build_veo_request(
        scene,
        selection,
        mode=options.mode,
        model=options.model,
        max_side=options.max_side,
        descriptions=prompt_descriptions(selection, assets),
    )
    checks = validate_veo_request(request, max_side=options.max_side, max_inline_bytes=options.max_inline_bytes)
    return ScenePlan(scene, selection, request, checks)

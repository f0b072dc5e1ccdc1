"""Scene planning: scenes file → references per scene → checked Veo request → (optionally) submitted.

The CLI (``refbench plan``) and notebook 03 call these functions; nothing here prints.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from refbench import store
from refbench.errors import ConfigError, RefbenchError
from refbench.generation.submit import make_client, submit_veo
from refbench.generation.veo import (
    DEFAULT_INLINE_BUDGET_BYTES,
    MAX_REFERENCE_SIDE,
    VEO_31_MODEL,
    CheckResult,
    VeoRequest,
    build_veo_request,
    validate_veo_request,
)
from refbench.scenes import SceneSpec, load_scenes
from refbench.selection import Registry, Selection, load_registry, save_selection, select_references
from refbench.settings import Settings


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


def prompt_descriptions(selection: Selection, registry: Registry) -> dict[str, str]:
    """Tag → visual description of chosen references that have one (names alone add nothing for Veo)."""
    return {tag: text for tag in selection.tags if (text := registry[tag].visual_description)}


def plan_scene(scene: SceneSpec, registry: Registry, *, options: PlanOptions) -> ScenePlan:
    """Select references for one scene and build and check its Veo request."""
    selection = select_references(scene, registry, max_refs=options.max_refs)
    request = build_veo_request(
        scene,
        selection,
        mode=options.mode,
        model=options.model,
        max_side=options.max_side,
        descriptions=prompt_descriptions(selection, registry),
    )
    checks = validate_veo_request(request, max_side=options.max_side, max_inline_bytes=options.max_inline_bytes)
    return ScenePlan(scene, selection, request, checks)


def open_registry(settings: Settings, *, read_only: bool) -> tuple[duckdb.DuckDBPyConnection, Registry]:
    """Connect to the workspace and load its registry."""
    con = store.connect(settings.database, read_only=read_only)
    return con, load_registry(con)


def plan_scenes(
    scenes_file: Path,
    *,
    settings: Settings,
    options: PlanOptions,
    store_results: bool = True,
    run_id: str | None = None,
) -> list[ScenePlan]:
    """Plan every scene of a file; with ``store_results`` selections and requests go to DuckDB.

    Raises:
        SceneSpecError: the file is invalid (every problem listed, each naming scene and field).
        SelectionError: a scene's placements cannot satisfy its shot type.
    """
    con, registry = open_registry(settings, read_only=not store_results)
    try:
        scenes = load_scenes(scenes_file, known_tags=registry.tags)
        plans = [plan_scene(scene, registry, options=options) for scene in scenes]
        if store_results:
            for item in plans:
                store_plan(con, item, run_id=run_id)
    finally:
        con.close()
    return plans


def store_plan(con: duckdb.DuckDBPyConnection, plan: ScenePlan, *, run_id: str | None = None) -> None:
    """Store the selection and the request with its check results."""
    plan.selection_id = save_selection(con, plan.selection, run_id=run_id)
    plan.request_id = f"{plan.scene.scene_id}-{uuid.uuid4().hex[:10]}"
    store.insert_rows(
        con,
        "generation_requests",
        [
            {
                "request_id": plan.request_id,
                "scene_id": plan.scene.scene_id,
                "selection_id": plan.selection_id,
                "generator": "veo",
                "model": plan.request.model,
                "mode": plan.request.mode,
                "request": json.dumps(plan.request.to_json()),
                "valid": plan.valid,
                "checks": json.dumps([c.__dict__ for c in plan.checks]),
                "status": "planned" if plan.valid else "refused",
                "run_id": run_id,
            }
        ],
    )


def submit_plans(
    plans: list[ScenePlan],
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
    valid = [p for p in plans if p.valid]
    if any(p.request.mode != "vertex" for p in valid):
        raise ConfigError("google-genai 3.4 sends generate_videos only in Vertex mode: plan with --mode vertex")
    if any(p.request_id is None for p in valid):
        raise ConfigError("plans must be stored before they are submitted (not with --dry-run)")
    client = make_client(mode="vertex", base_url=base_url)
    outcomes = {}
    con = store.connect(settings.database)
    try:
        for item in valid:
            try:
                result = submit_veo(
                    client,
                    item.request,
                    out_dir=settings.workspace_files / "generated",
                    poll_interval_s=poll_interval_s,
                    max_polls=max_polls,
                )
            except RefbenchError as error:
                con.execute(
                    "UPDATE generation_requests SET status = 'failed', error = ? WHERE request_id = ?",
                    [str(error), item.request_id],
                )
                outcomes[item.scene.scene_id] = f"failed: {error}"
                continue
            outputs = [str(p) for p in result.outputs] + result.uris
            con.execute(
                "UPDATE generation_requests SET status = 'done', operation_name = ?, outputs = ? WHERE request_id = ?",
                [result.operation_name, outputs, item.request_id],
            )
            outcomes[item.scene.scene_id] = f"done: {', '.join(outputs)}"
    finally:
        con.close()
    return outcomes

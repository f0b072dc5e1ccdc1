"""Display helpers for notebook 03 (reference selection): thumbnails, reason tables, widgets.

Notebooks hold no functions; everything they show is built here from library results.
"""

from __future__ import annotations

import html
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from refbench.errors import RefbenchError
from refbench.generation.plan import PlanOptions, ScenePlan, plan_scene
from refbench.select.scenes import Role, SceneSpec, ShotType
from refbench.settings import Settings
from refbench.types import AssetSet
from refbench.workbench import WorkspaceReader
from refbench.workbench.live import Explorer, figure_image
from refbench.workbench.tables import html_table, records_table


def load_assets(db_path: str = "") -> AssetSet:
    """The active assets of a workspace (``""``: the settings' default workspace), read briefly."""
    return WorkspaceReader(db_path or Settings().database).read(lambda ws: ws.assets.list())


def parse_placements(text: str) -> list[dict[str, str]]:
    """``"CHAR_13:subject, ENV_02:background"`` → placement dicts (role defaults to subject)."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    return [
        {"asset_tag": tag.strip(), "role": (role.strip() or "subject")}
        for tag, _, role in (item.partition(":") for item in items)
    ]


def make_scene(
    *, scene_id: str, prompt: str, shot_type: str, placements: str, pins: str = "", unpins: str = ""
) -> SceneSpec:
    """A scene spec from notebook parameters (comma-separated text fields)."""
    split = [t.strip() for t in pins.split(",") if t.strip()], [t.strip() for t in unpins.split(",") if t.strip()]
    return SceneSpec(
        scene_id=scene_id,
        prompt=prompt,
        shot_type=shot_type,
        placements=parse_placements(placements),
        pins=split[0],
        unpins=split[1],
    )


def selection_rows(plan: ScenePlan) -> list[dict[str, Any]]:
    """One row per candidate (chosen first): slot, tag, role, variant, quality, reason."""
    return [
        {
            "slot": s.slot,
            "tag": s.tag,
            "role": s.role.value,
            "variant": s.variant,
            "quality": None if s.quality is None else round(s.quality, 3),
            "reason": s.reason,
        }
        for s in plan.selection.chosen + plan.selection.dropped
    ]


def checks_rows(plan: ScenePlan) -> list[dict[str, Any]]:
    """The request's named checks with pass/refuse and message."""
    return [{"check": c.name, "result": "pass" if c.ok else "REFUSED", "message": c.message} for c in plan.checks]


def plot_selection(plan: ScenePlan, *, thumb_size: int = 200) -> Figure:
    """One thumbnail per chosen reference, titled with slot, tag, role, variant and quality (no pyplot state)."""
    chosen = plan.selection.chosen
    figure = Figure(figsize=(3 * max(1, len(chosen)), 3.4), layout="constrained")
    axes = figure.subplots(1, max(1, len(chosen)), squeeze=False)[0]
    for axis in axes:
        axis.set_axis_off()
    for axis, slot in zip(axes, chosen, strict=False):
        with Image.open(slot.image_path) as image:
            thumb = image.convert("RGB")
        thumb.thumbnail((thumb_size, thumb_size))
        axis.imshow(thumb)
        quality = "n/a" if slot.quality is None else f"{slot.quality:.2f}"
        axis.set_title(f"{slot.slot}. {slot.tag} ({slot.role.value})\n{slot.variant}, q={quality}", fontsize=9)
    figure.suptitle(
        f"scene {plan.scene.scene_id}: {plan.scene.shot_type.value}, request {'valid' if plan.valid else 'REFUSED'}"
    )
    return figure


def scene_view(plan: ScenePlan, *, thumb_size: int = 200) -> list[Any]:
    """What notebook 03 shows of one planned scene: thumbnails, candidates with reasons, checks, request JSON."""
    import json

    from IPython.display import HTML

    verdict = "valid" if plan.valid else "REFUSED before sending"
    request = html.escape(json.dumps(plan.request.to_json(), indent=2))
    return [
        figure_image(plot_selection(plan, thumb_size=thumb_size)),
        HTML(html_table(records_table(selection_rows(plan)), caption="candidates, chosen first")),
        HTML(html_table(records_table(checks_rows(plan)), caption=f"pre-flight checks: request {verdict}")),
        HTML(f"<details><summary>request JSON</summary><pre>{request}</pre></details>"),
    ]


def selection_explorer(assets: AssetSet, *, scene: SceneSpec, options: PlanOptions, thumb_size: int = 200) -> Explorer:
    """Shot type, placed tags and roles as controls; the selection, checks and request redraw on each change."""
    import ipywidgets as widgets
    from IPython.display import HTML, display

    roles = ", ".join(f"{p.asset_tag}:{p.role.value}" for p in scene.placements)
    controls = {
        "shot": widgets.Dropdown(options=[s.value for s in ShotType], value=scene.shot_type.value, description="shot"),
        "tags": widgets.SelectMultiple(options=assets.tags, value=tuple(scene.tags), rows=8, description="tags"),
        "roles": widgets.Text(value=roles, description="roles", layout=widgets.Layout(width="60%")),
    }

    def draw(shot: str, tags: tuple[str, ...], roles: str) -> None:
        chosen = {p["asset_tag"]: p["role"] for p in parse_placements(roles)}
        placements = [{"asset_tag": t, "role": chosen.get(t, Role.SUBJECT.value)} for t in tags]
        try:
            overrides = {key: [t for t in getattr(scene, key) if t in tags] for key in ("pins", "unpins")}
            updated = SceneSpec.model_validate(
                {**scene.model_dump(), "shot_type": shot, "placements": placements, **overrides}
            )
            plan = plan_scene(updated, assets, options=options)
        except (RefbenchError, ValueError) as error:  # a refused scene is for the user to read, not a traceback
            display(HTML(f"<b>refused:</b> {html.escape(str(error))}"))
            return
        display(*scene_view(plan, thumb_size=thumb_size))

    return Explorer(controls, draw, rows=[("shot", "roles"), ("tags",)])

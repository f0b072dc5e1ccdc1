"""Display helpers for notebook 03 (reference selection): thumbnails, reason tables, widgets.

Notebooks hold no functions; everything they show is built here from library results.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from refbench.generation.plan import PlanOptions, ScenePlan, plan_scene
from refbench.select.scenes import Role, SceneSpec, ShotType
from refbench.settings import Settings
from refbench.types import AssetSet
from refbench.workbench import WorkspaceReader
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


def plot_selection(plan: ScenePlan, *, thumb_size: int = 200) -> Any:
    """Matplotlib figure: one thumbnail per chosen reference titled with slot, tag, variant and quality."""
    import matplotlib.pyplot as plt

    chosen = plan.selection.chosen
    figure, axes = plt.subplots(1, max(1, len(chosen)), figsize=(3 * max(1, len(chosen)), 3.4), squeeze=False)
    for axis in axes[0]:
        axis.axis("off")
    for axis, slot in zip(axes[0], chosen, strict=False):
        with Image.open(slot.image_path) as image:
            thumb = image.convert("RGB")
        thumb.thumbnail((thumb_size, thumb_size))
        axis.imshow(thumb)
        quality = "n/a" if slot.quality is None else f"{slot.quality:.2f}"
        axis.set_title(f"{slot.slot}. {slot.tag} ({slot.role.value})\n{slot.variant}, q={quality}", fontsize=9)
    figure.suptitle(
        f"scene {plan.scene.scene_id}: {plan.scene.shot_type.value}, request {'valid' if plan.valid else 'REFUSED'}"
    )
    figure.tight_layout()
    return figure


def selection_explorer(assets: AssetSet, *, scene: SceneSpec, options: PlanOptions, thumb_size: int = 200) -> Any:
    """Widgets to change shot type and placements and see selection, thumbnails and checks update."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    shot = widgets.Dropdown(options=[s.value for s in ShotType], value=scene.shot_type.value, description="shot")
    tags = widgets.SelectMultiple(options=assets.tags, value=tuple(scene.tags), rows=10, description="tags")
    roles = {p.asset_tag: p.role.value for p in scene.placements}
    role_text = widgets.Text(
        value=", ".join(f"{t}:{r}" for t, r in roles.items()), description="roles", layout=widgets.Layout(width="70%")
    )
    output = widgets.Output()

    def refresh(_: object = None) -> None:
        chosen_roles = dict((p["asset_tag"], p["role"]) for p in parse_placements(role_text.value))
        placements = [{"asset_tag": t, "role": chosen_roles.get(t, Role.SUBJECT.value)} for t in tags.value]
        output.clear_output(wait=True)
        with output:
            try:
                updated = scene.model_copy(update={"shot_type": ShotType(shot.value), "pins": [], "unpins": []})
                updated = SceneSpec.model_validate({**updated.model_dump(), "placements": placements})
                plan = plan_scene(updated, assets, options=options)
            except Exception as error:  # shown to the user, not swallowed
                display(HTML(f"<b>refused:</b> {error}"))
                return
            display(plot_selection(plan, thumb_size=thumb_size))
            plt.close("all")
            display(
                HTML(html_table(records_table(selection_rows(plan))) + html_table(records_table(checks_rows(plan))))
            )

    for widget in (shot, tags, role_text):
        widget.observe(refresh, names="value")
    refresh()
    return widgets.VBox([shot, tags, role_text, output])

"""The identity pipeline's commands: ``views`` (view sheets), ``identity-image`` (matched portrait) and ``chain``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from refbench.cli.app import DbOption, app, console, settings_for

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

"""Review and refine: ``refbench identities ...`` and ``refbench assets ...`` (corrections as events)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import DbOption, assets_app, console, identities_app, settings_for

if TYPE_CHECKING:
    from refbench.pipelines.curation import CurationResult, FaceChoice

ImageOption = Annotated[list[str] | None, typer.Option("--image", help="A photo (file name) with a face of the tag.")]
FaceOption = Annotated[list[str] | None, typer.Option("--face", help="A face id (see `identities list`).")]


def _command(context: typer.Context) -> str:
    """The command as parsed (``refbench assets rename PROP_01 'red mug' --db ...``), stored with the event."""
    words = ["refbench", *context.command_path.split()[1:]]
    for param in context.command.params:
        value = context.params.get(param.name)
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None or item is False:
                continue
            flag = [] if param.param_type_name == "argument" else [param.opts[0]]
            words += flag if item is True else [*flag, str(item)]
    return shlex.join(words)


def _choice(faces: list[str] | None, images: list[str] | None) -> FaceChoice:
    from refbench.pipelines.curation import FaceChoice

    return FaceChoice(faces=tuple(faces or ()), images=tuple(images or ()))


def _done(result: CurationResult | None) -> None:
    console.print(result.message if result else "nothing to undo", highlight=False)


@identities_app.command("list")
def identities_list(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (tags, names, faces).")] = False,
    face_model: Annotated[str | None, typer.Option(help="Face model (default: the one the characters show).")] = None,
) -> None:
    """Every identity: tag, name, faces (the reference first)."""
    from rich.table import Table

    from refbench.pipelines.curation import list_identities

    cards = list_identities(settings_for(db), face_model=face_model)
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in cards], indent=2))
        return
    table = Table("tag", "name", "faces", "reference face", "photos", title="identities")
    for c in cards:
        files = ", ".join(dict.fromkeys(f.image_file for f in c.faces))
        name = c.name + (" (excluded)" if c.excluded else "")
        table.add_row(c.tag, name, str(len(c.faces)), c.best_face_id, files)
    console.print(table)


@identities_app.command("rename")
def identities_rename(ctx: typer.Context, tag: str, name: str, db: DbOption = None) -> None:
    """Name an identity; the name follows its people through every re-run."""
    from refbench.pipelines.curation import rename_identity

    _done(rename_identity(settings_for(db), tag, name, command=_command(ctx)))


@identities_app.command("merge")
def identities_merge(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The tag that stays.")],
    others: Annotated[list[str], typer.Argument(help="Tags whose faces join TARGET.")],
    db: DbOption = None,
) -> None:
    """The faces of the other identities join TARGET, which keeps its tag."""
    from refbench.pipelines.curation import merge_identities

    _done(merge_identities(settings_for(db), target, others, command=_command(ctx)))


@identities_app.command("split")
def identities_split(
    ctx: typer.Context, tag: str, image: ImageOption = None, face: FaceOption = None, db: DbOption = None
) -> None:
    """The chosen faces leave TAG (together, as a new identity) and never rejoin it."""
    from refbench.pipelines.curation import split_identity

    _done(split_identity(settings_for(db), tag, choice=_choice(face, image), command=_command(ctx)))


@identities_app.command("undo")
def identities_undo(ctx: typer.Context, db: DbOption = None) -> None:
    """Undo the latest correction (identities or assets) that is not undone yet."""
    from refbench.pipelines.curation import undo

    _done(undo(settings_for(db), command=_command(ctx)))


@identities_app.command("log")
def identities_log(db: DbOption = None) -> None:
    """Every correction, oldest first, with the command that made it."""
    from refbench.pipelines.curation import curation_log

    for event in curation_log(settings_for(db)):
        console.print(f"{event.summary}  [dim]{event.created_at:%Y-%m-%d %H:%M:%S}  {event.command}[/dim]")


@assets_app.command("rename")
def assets_rename(ctx: typer.Context, tag: str, name: str, db: DbOption = None) -> None:
    """Name an asset (prompts, selection reasons and reports use the name)."""
    from refbench.pipelines.curation import rename_asset

    _done(rename_asset(settings_for(db), tag, name, command=_command(ctx)))


@assets_app.command("retype")
def assets_retype(
    ctx: typer.Context, tag: str, asset_type: Annotated[str, typer.Argument(metavar="TYPE")], db: DbOption = None
) -> None:
    """Change an asset's type (character, prop, vehicle, animal, environment); its tag stays."""
    from refbench.pipelines.curation import retype_asset

    _done(retype_asset(settings_for(db), tag, asset_type, command=_command(ctx)))


@assets_app.command("set-reference")
def assets_set_reference(
    ctx: typer.Context, tag: str, image: ImageOption = None, face: FaceOption = None, db: DbOption = None
) -> None:
    """Show a character by the chosen face (its crop becomes the reference)."""
    from refbench.pipelines.curation import set_reference

    _done(set_reference(settings_for(db), tag, choice=_choice(face, image), command=_command(ctx)))


@assets_app.command("exclude")
def assets_exclude(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Argument(help="The asset to exclude.")] = None,
    image: Annotated[str | None, typer.Option(help="Exclude a photo: its faces and assets.")] = None,
    db: DbOption = None,
) -> None:
    """Exclude an asset, or a whole photo, from the references (undo brings it back)."""
    from refbench.pipelines.curation import exclude

    _done(exclude(settings_for(db), tag=tag, image=image, command=_command(ctx)))


@assets_app.command("describe")
def assets_describe(
    ctx: typer.Context,
    tag: str,
    backend: Annotated[str | None, typer.Option(help="Describer; default gemini with an API key, else local.")] = None,
    db: DbOption = None,
) -> None:
    """Describe one asset again, ignoring the cache; the other assets are left as they are."""
    from refbench.describe import create_describer, default_backend
    from refbench.pipelines.curation import describe_asset

    result, summary = describe_asset(
        settings_for(db), tag, describer=create_describer(backend or default_backend()), command=_command(ctx)
    )
    status = ", ".join(f"{k} {v}" for k, v in summary.by_status.items() if v)
    console.print(f"{result.message} — {status}", highlight=False)


@identities_app.command("study")
def identities_study(
    truth: Annotated[Path, typer.Option(help="CSV file,x,y,identity: a point inside each labelled face.")],
    photos: Annotated[list[Path], typer.Option(help="Photo folders registered before correcting (repeatable).")],
    threshold: Annotated[list[float], typer.Option(help="Clustering threshold to start from (repeatable).")],
    new_photos: Annotated[Path | None, typer.Option(help="A folder added after the corrections.")] = None,
    db: DbOption = None,
) -> None:
    """Corrections needed to reach the ground truth at each threshold, and whether they hold (temporary
    workspaces; the results are recorded as a run in --db and in reports/curation_study.md)."""
    from refbench.pipelines.curation_study import run_corrections_study

    settings = settings_for(db)
    results = run_corrections_study(
        settings, photos=photos, truth_file=truth, thresholds=threshold, new_photos=new_photos
    )
    console.print((settings.reports / "curation_study.md").read_text(), highlight=False)
    del results

"""Asset library commands: ``assets add``, ``index``, ``search``, ``recommend``, ``duplicates``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import DbOption, app, assets_app, console, settings_for

if TYPE_CHECKING:
    from refbench.library.search import SearchHit

TypeOption = Annotated[
    list[str] | None, typer.Option("--type", "-t", help="Only assets of this type (repeat for several).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")]
KOption = Annotated[int, typer.Option("-k", "--top", help="How many results.")]


@assets_app.command("add")
def assets_add(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    asset_type: Annotated[
        str,
        typer.Option("--type", help="logo|product|person|prop|environment|texture|style, or auto (the type rules)."),
    ] = "auto",
    name: Annotated[str | None, typer.Option(help="Name of the assets (default: the file name).")] = None,
    db: DbOption = None,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Skip reading text in the images.")] = False,
) -> None:
    """Register whole images as assets (transparent PNGs keep their alpha), then index them."""
    from refbench.pipelines.library import LibraryOptions, add_assets

    summary = add_assets(
        paths, settings=settings_for(db), asset_type=asset_type, name=name, options=LibraryOptions(ocr=not no_ocr)
    )
    from rich.table import Table

    table = Table("tag", "type", "file", "why this type", title=f"assets add {summary.run_id}")
    for tag, kind, file, reason in summary.added:
        table.add_row(tag, kind, file, reason)
    console.print(table)
    for file, tag in summary.already.items():
        console.print(f"already registered: {file} as {tag}")
    for file, reason in summary.rejected.items():
        console.print(f"[yellow]refused[/yellow] {file}: {reason}", soft_wrap=True)
    if summary.index and summary.index.near_duplicates:
        console.print(f"{summary.index.near_duplicates} near-duplicate link(s): see `refbench duplicates`")


@app.command()
def index(
    db: DbOption = None,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Skip reading text in the assets.")] = False,
    embedder: Annotated[str, typer.Option(help="Image embedder backend.")] = "efficientnet-lite0",
    embedder_model: Annotated[
        Path | None, typer.Option(help="CLIP/SigLIP model: an ONNX folder (clip-onnx) or a checkpoint (open-clip).")
    ] = None,
) -> None:
    """Index the asset library: embeddings, OCR, colours, perceptual hashes and near-duplicate links (incremental)."""
    from rich.table import Table

    from refbench.pipelines.library import LibraryOptions, run_index

    options = LibraryOptions(image_embedder=embedder, embedder_model=embedder_model, ocr=not no_ocr)
    summary = run_index(settings_for(db), options=options, progress=True)
    table = Table("what", "value", title=f"index {summary.run_id}")
    for metric in summary.metrics():
        if metric.value is not None:
            table.add_row(metric.name, f"{metric.value:.2f}" if isinstance(metric.value, float) else str(metric.value))
    console.print(table)
    for item, reason in summary.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {item}: {reason}", soft_wrap=True)


@app.command("search")
def search_command(
    text: Annotated[str, typer.Argument(help="What to look for, in words.")] = "",
    image: Annotated[Path | None, typer.Option(help="An image to search with (faces match characters).")] = None,
    like: Annotated[str, typer.Option(help="More like this tag.")] = "",
    k: KOption = 10,
    asset_type: TypeOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Search the library by text, image, or "more like" a tag."""
    from refbench.pipelines.library import search

    if image is not None and like:
        raise typer.BadParameter("--image and --like exclude each other")
    hits = search(text, image=image, like=like, k=k, types=asset_type or (), settings=settings_for(db))
    _print_hits(hits, as_json=as_json, title=f"search {text or image or like!s}")


@app.command()
def recommend(
    tags: Annotated[list[str], typer.Argument(help="The selection (tags).")],
    k: KOption = 10,
    asset_type: TypeOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Style-consistent assets for a selection: nearest to its centroid in visual and colour space."""
    from refbench.pipelines.library import recommend as recommend_assets

    hits = recommend_assets(tags, k=k, types=asset_type or (), settings=settings_for(db))
    _print_hits(hits, as_json=as_json, title=f"recommend for {' '.join(tags)}")


@app.command()
def duplicates(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Near-duplicate images (``v_near_duplicates``): registered, but linked to the image they repeat."""
    from refbench.pipelines.library import near_duplicate_pairs

    pairs = near_duplicate_pairs(settings_for(db))
    if as_json:
        rows = [{k: str(v) if isinstance(v, Path) else v for k, v in p.__dict__.items()} for p in pairs]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("image", "duplicate of", "distance", "method", title="near-duplicates")
    for p in pairs:
        table.add_row(p.image_file, p.duplicate_of, f"{p.distance:.3f}", p.method)
    console.print(table)


def _print_hits(hits: list[SearchHit], *, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps([h.to_json() for h in hits], indent=2))
        return
    from rich.table import Table

    table = Table("#", "tag", "type", "name", "score", "source", "why", title=title)
    for rank, h in enumerate(hits, start=1):
        table.add_row(str(rank), h.tag, h.asset_type, h.name, f"{h.score:.3f}", h.source_image_file, h.why)
    console.print(table)


@app.command("evaluate-library")
def evaluate_library_command(
    workdir: Annotated[
        Path | None, typer.Option(help="Where to build the dev workspace (default: a temporary folder).")
    ] = None,
    samples: Annotated[Path | None, typer.Option(help="The samples folder (default: data/samples).")] = None,
) -> None:
    """Measure the asset library on the labelled dev sets; write reports/library_eval.md."""
    import tempfile

    from refbench.pipelines.library_eval import evaluate_library, write_library_report
    from refbench.settings import Settings

    base = Settings()
    with tempfile.TemporaryDirectory(prefix="refbench-library-eval-") as tmp:
        folder = workdir or Path(tmp)
        settings = Settings(data_dir=folder, model_dir=base.models, reports_dir=base.reports)
        evaluation = evaluate_library(settings, samples=samples or base.data_dir / "samples", progress=True)
        report = write_library_report(evaluation, base.reports / "library_eval.md")
    for metric in evaluation.metrics():
        label = f" [{metric.label}]" if metric.label else ""
        text = f"{metric.name}{label}: {metric.value:.3f}" if metric.value is not None else metric.name
        console.print(text, markup=False, highlight=False)
    console.print(f"report: {report}")

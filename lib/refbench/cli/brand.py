"""Brand and production commands: ``overlay``, ``logos detect|list|prefer``, ``evaluate-logos``, ``tiers``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from refbench.cli.app import DbOption, app, console, settings_for

logos_app = typer.Typer(help="Which assets are logos (confidence and reasons), and where each logo goes.")
app.add_typer(logos_app, name="logos")


class Corner(StrEnum):
    """Where the logo goes."""

    auto = "auto"
    top_left = "top-left"
    top_right = "top-right"
    bottom_left = "bottom-left"
    bottom_right = "bottom-right"


class Blend(StrEnum):
    """The space the logo is mixed in."""

    srgb = "srgb"
    linear = "linear"


@app.command()
def overlay(
    logo: Annotated[str, typer.Argument(help="Logo: an image or SVG file, or an asset tag (LOGO_01).")],
    target: Annotated[str, typer.Argument(help="Image or video (mp4/mov/webm) file, or a generated output's id.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output file (.png keeps every pixel; videos: .mp4/.mov/.webm).")
    ],
    corner: Annotated[
        Corner | None,
        typer.Option(
            help="Corner, or auto: the calmest that covers no face (default: the logo's preference, else auto)."
        ),
    ] = None,
    width_frac: Annotated[
        float | None, typer.Option(help="Logo width as a fraction of the target's width (default 0.15).")
    ] = None,
    width_px: Annotated[
        int | None, typer.Option(help="Logo width in pixels (its native width: no resampling).")
    ] = None,
    opacity: Annotated[float, typer.Option(min=0.0, max=1.0, help="Logo opacity.")] = 1.0,
    margin_frac: Annotated[
        float, typer.Option(min=0.0, max=0.49, help="Inset from both edges, fraction of the shorter side.")
    ] = 0.04,
    blend: Annotated[Blend, typer.Option(help="Mix in sRGB (as designers' tools do) or linear light.")] = Blend.srgb,
    start: Annotated[float, typer.Option(help="Video: the logo appears at this second.")] = 0.0,
    end: Annotated[float | None, typer.Option(help="Video: the logo is gone from this second.")] = None,
    fade: Annotated[float, typer.Option(help="Video: seconds to fade in and out.")] = 0.0,
    crf: Annotated[
        int, typer.Option(min=0, max=51, help="Video: constant quality (x264 CRF; 18 is visually lossless).")
    ] = 18,
    preset: Annotated[str, typer.Option(help="Video: x264 speed preset (ultrafast ... veryslow).")] = "veryfast",
    no_face_check: Annotated[bool, typer.Option("--no-face-check", help="auto: judge corners on calm alone.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {xywh, corner, reason, ...} as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Composite a logo pixel-exactly onto an image or every frame of a video; the target is never modified."""
    from refbench.brand.overlay import DEFAULT_WIDTH_FRAC, OverlayOptions
    from refbench.brand.video import Timing, VideoEncoding
    from refbench.pipelines.brand import overlay as run_overlay

    if width_frac is not None and width_px is not None:
        raise typer.BadParameter("--width-frac and --width-px exclude each other")
    options = OverlayOptions(
        corner=(corner or Corner.auto).value,
        width_frac=width_frac or DEFAULT_WIDTH_FRAC,
        width_px=width_px,
        opacity=opacity,
        margin_frac=margin_frac,
        blend=blend.value,
    )
    with _frame_progress(enabled=not as_json) as progress:
        outcome = run_overlay(
            logo,
            target,
            out,
            settings=settings_for(db),
            options=options,
            corner_given=corner is not None,
            check_faces=not no_face_check,
            timing=Timing(start_s=start, end_s=end, fade_s=fade),
            encoding=VideoEncoding(crf=crf, preset=preset),
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(outcome.to_json()))
        return
    x, y, w, h = outcome.plan.placement.xywh
    console.print(
        f"{outcome.out}: logo {w}x{h} at ({x}, {y}), {outcome.plan.placement.corner} ({outcome.corner_source})"
    )
    console.print(f"why: {outcome.plan.placement.reason}", soft_wrap=True, markup=False)
    if outcome.kind == "video":
        console.print(
            f"{outcome.frames} frames, logo on {outcome.frames_with_logo}, {outcome.audio_packets} audio packets copied"
        )
    elif not outcome.pixel_exact:
        console.print("[yellow]note:[/yellow] a lossy format; write .png for a pixel-exact result")


class _frame_progress:  # noqa: N801 - used like a function
    """A rich progress bar fed by ``progress(done, total)``; silent for images (never called) and with --json."""

    def __init__(self, *, enabled: bool, label: str = "frames") -> None:
        self.enabled, self.label, self._bar, self._task = enabled, label, None, None

    def __enter__(self):  # noqa: ANN204
        return self.update if self.enabled else None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(self.label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console)
            self._bar.start()
            self._task = self._bar.add_task("overlay", total=total or None)
        self._bar.update(self._task, completed=done, total=max(total, done))

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@logos_app.command("detect")
def logos_detect(
    tags: Annotated[list[str] | None, typer.Argument(help="Tags to judge (default: every asset).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Judge again even when the crop did not change.")] = False,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Judge without reading text.")] = False,
    db: DbOption = None,
) -> None:
    """Judge which assets are logos: a confidence and the evidence (alpha, palette, edges, compression, text)."""
    from refbench.pipelines.brand import judge_logos

    run = judge_logos(settings_for(db), tags=tags or None, ocr=not no_ocr, force=force)
    from rich.table import Table

    table = Table("tag", "logo", "P(logo)", "why", title=f"logos {run.run_id}")
    for tag, verdict in sorted(run.verdicts.items(), key=lambda kv: -kv[1].confidence):
        table.add_row(tag, "yes" if verdict.is_logo else "no", f"{verdict.confidence:.2f}", "; ".join(verdict.reasons))
    console.print(table)
    if run.unchanged:
        console.print(f"{len(run.unchanged)} asset(s) unchanged since judged (--force to judge again)")
    for tag, reason in run.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {tag}: {reason}", soft_wrap=True)


@logos_app.command("list")
def logos_list(
    all_assets: Annotated[bool, typer.Option("--all", help="Every judged asset, not only logos.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    db: DbOption = None,
) -> None:
    """Judged assets (``v_logos``) with confidence, reasons and position preference."""
    from refbench.pipelines.brand import list_logos

    logos = list_logos(settings_for(db), only_logos=not all_assets)
    if as_json:
        typer.echo(json.dumps([{**e.__dict__, "crop_path": str(e.crop_path)} for e in logos], indent=2))
        return
    from rich.table import Table

    table = Table("tag", "name", "logo", "P(logo)", "position", "why", title="logos")
    for e in logos:
        table.add_row(
            e.tag,
            e.name,
            "yes" if e.is_logo else "no",
            f"{e.confidence:.2f}",
            e.position_preference,
            "; ".join(e.reasons),
        )
    console.print(table)


@logos_app.command("prefer")
def logos_prefer(
    tag: Annotated[str, typer.Argument(help="The logo's tag.")],
    corner: Annotated[Corner, typer.Argument(help="Where it goes by default.")],
    db: DbOption = None,
) -> None:
    """Keep a logo's position preference: `overlay` uses it when no --corner is given."""
    from refbench.pipelines.brand import set_logo_position

    set_logo_position(tag, corner.value, settings=settings_for(db))
    console.print(f"{tag} goes {corner.value} by default")


@app.command("evaluate-logos")
def evaluate_logos_command(
    samples: Annotated[Path | None, typer.Option(help="The samples folder (default: data/samples).")] = None,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Measure without reading text.")] = False,
    fit: Annotated[bool, typer.Option("--fit", help="Print the model refitted on the whole dev set.")] = False,
) -> None:
    """Logo-detection precision/recall on data/samples/logos.csv; writes reports/logo_eval.md."""
    from refbench.pipelines.brand_eval import evaluate_logos, write_logo_report
    from refbench.settings import Settings

    settings = Settings()
    with _frame_progress(enabled=True, label="images") as progress:
        evaluation = evaluate_logos(samples or settings.data_dir / "samples", ocr=not no_ocr, progress=progress)
    report = write_logo_report(evaluation, settings.reports / "logo_eval.md")
    for metric in evaluation.metrics():
        label = f" [{metric.label}]" if metric.label else ""
        console.print(f"{metric.name}{label}: {metric.value:.3f}", markup=False, highlight=False)
    if fit and evaluation.refit is not None:
        console.print(repr(evaluation.refit), markup=False, highlight=False)
    console.print(f"report: {report}")


@app.command()
def tiers(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The quality tiers with their models and what one 8-second scene costs at each (dated price table)."""
    from refbench.generation.costs import PRICE_TABLE_DATE
    from refbench.generation.tiers import TIERS, scene_costs

    rows = []
    for tier in TIERS.values():
        lines = scene_costs(
            tier, scene_id="scene", duration_s=8, resolution=tier.resolution, new_clean_sheets=0, new_descriptions=0
        )
        by_item = {line.item: line for line in lines}
        rows.append(
            {
                **tier.__dict__,
                "storyboard_image_usd": by_item["storyboard_images"].unit_usd,
                "video_usd_8s": by_item["video"].usd,
                "scene_usd": sum(line.usd or 0.0 for line in lines),
            }
        )
    if as_json:
        typer.echo(json.dumps({"price_table_date": PRICE_TABLE_DATE, "tiers": rows}, indent=2))
        return
    from rich.table import Table

    table = Table(
        "tier",
        "video",
        "res",
        "image model",
        "candidates",
        "clean",
        "describer",
        "$/image",
        "$/8 s video",
        "$/scene",
        title=f"quality tiers (prices as of {PRICE_TABLE_DATE})",
    )
    for r in rows:
        table.add_row(
            r["name"],
            r["video_model"],
            r["resolution"],
            f"{r['image_model']} {r['image_size']}",
            str(r["storyboard_candidates"]),
            r["clean_tier"],
            r["describer"],
            f"{r['storyboard_image_usd']:.3f}",
            f"{r['video_usd_8s']:.2f}",
            f"{r['scene_usd']:.2f}",
        )
    console.print(table)

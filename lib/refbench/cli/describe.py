"""Commands of the describe stage: describe, fake-gemini."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refbench.cli.app import DbOption, Describer, app, console, settings_for
from refbench.errors import OptionError

if TYPE_CHECKING:
    from rich.table import Table

    from refbench.pipelines.describe import DescribeSummary


@app.command()
def describe(
    backend: Annotated[
        Describer | None, typer.Option(help="Describer; default gemini when an API key is set, else local.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Describe again even assets whose description is cached.")] = False,
    db: DbOption = None,
    model: Annotated[str | None, typer.Option(help="Model of the gemini backend (default gemini-2.5-flash).")] = None,
) -> None:
    """Write a reverse prompt, visual description, suitability and suggested name for every active asset."""
    from refbench.describe import create_describer, default_backend
    from refbench.pipelines.describe import describe_assets

    describer = create_describer(backend or default_backend(), model=model)
    console.print(summary_table(describe_assets(settings_for(db), describer, force=force, progress=True)))


def summary_table(summary: DescribeSummary) -> Table:
    """The describe run as a rich table."""
    from rich.table import Table

    table = Table("what", "value", title=f"describe {summary.run_id}")
    cost = f"${summary.cost_usd:.6f}" if summary.backend != "local" else "-"
    rows = [
        ("backend / model", f"{summary.backend} / {summary.model}"),
        ("prompt version", summary.prompt_version),
        ("active assets", summary.assets),
        ("from cache", summary.cached),
        ("described now", summary.calls),
        *[(f"  {status}", n) for status, n in summary.by_status.items()],
        ("tokens in / out", f"{summary.tokens_in} / {summary.tokens_out}"),
        ("estimated cost", cost),
        ("seconds", f"{summary.seconds:.2f}"),
        ("database", str(summary.database)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


@app.command("fake-gemini")
def fake_gemini(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    fail: Annotated[
        list[str] | None,
        typer.Option(
            help="Failure rule KIND[:TIMES[:MATCH]] (KIND: 429, 500, 503, safety, prompt_blocked, malformed; image "
            "models also mirror, shrink); "
            "repeatable."
        ),
    ] = None,
    text_image: Annotated[
        Path | None, typer.Option(help="Image the fake image model answers to prompts without an image.")
    ] = None,
) -> None:
    """Serve a fake Gemini generateContent API on loopback, for demos and tests without a key."""
    from refbench.fakes.gemini import FakeGemini

    fake = FakeGemini(port=port, text_image=text_image.read_bytes() if text_image else None)
    for rule in fail or []:
        kind, times, match = (rule.split(":", 2) + ["", ""])[:3]
        try:
            fake.add_rule(kind, times=int(times) if times else None, match=match or None)
        except ValueError as error:
            raise OptionError(f"bad --fail rule {rule!r}: {error}") from error
    console.print(
        f"fake Gemini on http://127.0.0.1:{port} — use it with:\n"
        f"  REFBENCH_GEMINI_BASE_URL=http://127.0.0.1:{port} GEMINI_API_KEY=any-value "
        f"refbench describe --backend gemini\nCtrl-C stops it."
    )
    with contextlib.suppress(KeyboardInterrupt):
        fake.serve_forever()

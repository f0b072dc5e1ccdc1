"""What a Prefect flow run shows in the UI: a markdown summary (with the contact sheet), its metrics as a table,
and a one-line failure instead of a traceback when the user's input is at fault.

Call these inside a flow run; keys are stable per flow so the UI lists the history of each artifact.
"""

from __future__ import annotations

import base64
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State
from refbench.errors import RefbenchError
from refbench.types import Metric

SHEET_PREVIEW_PX = 900  # the contact sheet is embedded as a JPEG this wide: enough to read, small in the database


def markdown_table(rows: list[tuple[str, object]], *, header: tuple[str, str] = ("what", "value")) -> str:
    """A two-column markdown table."""
    lines = [f"| {header[0]} | {header[1]} |", "|---|---:|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


def image_markdown(path: Path | None, *, alt: str, width_px: int = SHEET_PREVIEW_PX) -> str:
    """An image file as an inline markdown image (a data URI: the UI needs no access to this machine's disk)."""
    if path is None or not Path(path).is_file():
        return f"*({alt}: none)*"
    import io

    from PIL import Image

    with Image.open(path) as image:
        preview = image.convert("RGB")
    preview.thumbnail((width_px, width_px * 4))
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=80)
    return f"![{alt}](data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def publish(*, key: str, title: str, rows: list[tuple[str, object]], metrics: list[Metric], image: Path | None) -> None:
    """A markdown summary artifact (``key``) and a table artifact of ``metrics`` (``key-metrics``)."""
    sections = [f"# {title}", markdown_table(rows)]
    if image is not None:
        sections.append(image_markdown(image, alt=Path(image).stem))
    create_markdown_artifact(markdown="\n\n".join(sections), key=key, description=title)
    if metrics:
        table = [{"metric": m.name, "value": m.value, "unit": m.unit or ""} for m in metrics]
        create_table_artifact(table=table, key=f"{key}-metrics", description=f"{title}: metrics")


def failed(error: RefbenchError) -> State:
    """The flow run's end when the input is at fault: one log line and a Failed state saying why, no traceback."""
    message = f"{type(error).__name__}: {error}"
    get_run_logger().error(message)
    return Failed(message=message, data=error)  # a Python caller still gets the typed error raised

"""Explorers: widgets in JupyterLab, a still of their current state in a report.

An explorer is a set of named controls and one ``draw`` function that displays the view for their
values. In JupyterLab it shows the controls over an output that ``draw`` refills on every change. In a
report there is no front-end to render widgets (``refbench report`` sets ``REFBENCH_REPORT_MODE=1`` in the
kernel's environment): the explorer then prints one line with each control's value and calls ``draw``
once, so the HTML embeds real figures and tables instead of ``VBox(children=...)`` text, and no cell
waits on a front-end that will never answer.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from refbench.settings import REPORT_MODE_ENV


def report_mode() -> bool:
    """Whether this kernel renders a report (widgets become static output)."""
    return os.environ.get(REPORT_MODE_ENV, "") == "1"


def figure_image(figure: Any) -> Any:
    """A matplotlib figure as a PNG display object: shown the same with or without ``%matplotlib inline``."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return Image(data=buffer.getvalue(), format="png")


def control_text(control: Any) -> str:
    """What a control is set to, as a reader of a report would say it: labels, not internal ids."""
    label = getattr(control, "label", None)  # selection widgets: the shown label of the chosen option(s)
    if isinstance(label, tuple):
        return ", ".join(map(str, label)) or "(all)"
    if label is not None:
        return str(label)
    value = control.value
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def state_html(controls: dict[str, Any]) -> str:
    """One line naming every control and its value (how a report says which state it shows)."""
    parts = [
        f"<b>{html.escape(getattr(c, 'description', '') or name)}</b>: {html.escape(control_text(c))}"
        for name, c in controls.items()
    ]
    return f"<p class='refbench-state'>{' · '.join(parts)}</p>"


@dataclass(eq=False)
class Explorer:
    """Named controls and the function that displays the view for their values.

    Args:
        controls: widgets whose ``value`` is passed to ``draw`` under their name.
        draw: displays the view (figures, tables) for one set of values.
        rows: control names per row of the layout (default: all on one row).
    """

    controls: dict[str, Any]
    draw: Callable[..., None]
    rows: Sequence[Sequence[str]] = field(default_factory=tuple)

    def values(self) -> dict[str, Any]:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    @cached_property
    def widget(self) -> Any:
        """The live view: control rows over an output that redraws on every change (built once)."""
        import ipywidgets as widgets

        view = widgets.interactive_output(self.draw, self.controls)
        rows = self.rows or [list(self.controls)]
        return widgets.VBox([*(widgets.HBox([self.controls[name] for name in row]) for row in rows), view])

    def show_still(self) -> None:
        """Display the current state as static output: the controls' values, then the view."""
        from IPython.display import HTML, display

        display(HTML(state_html(self.controls)))
        self.draw(**self.values())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if report_mode():
            self.show_still()
        else:
            display(self.widget)

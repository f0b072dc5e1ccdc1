"""Progress of long commands on stderr: a live bar in a terminal, one line per step in a log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int, int, str], None]  # (done, total, what is running now)


@contextmanager
def progress(title: str) -> Iterator[Advance]:
    """Yield ``advance(done, total, step)`` that shows how far ``title`` has come.

    A terminal gets a rich bar with the elapsed time; a pipe or a CI log gets one line per step, so a
    command that stalls still says where.
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:

        def log_line(done: int, total: int, step: str) -> None:
            console.print(f"{title}: {done}/{total} {step}", highlight=False, markup=False, soft_wrap=True)

        yield log_line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[step]}"), console=console) as bar:
        task = bar.add_task(title, total=None, step="")

        def advance(done: int, total: int, step: str) -> None:
            bar.update(task, completed=done, total=total, step=step[:60])

        yield advance
        total = bar.tasks[0].total
        bar.update(task, completed=total, step="done")  # the last step's end is never announced

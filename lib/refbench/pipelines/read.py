"""Reading a workspace without holding it: read-only connections opened per read and closed at once.

Notebooks, reports and the ``runs`` commands read this way, so that an open kernel never holds DuckDB's
lock between two queries and a command can write to the same workspace meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from refbench.errors import UnknownNameError, WorkspaceMissing
from refbench.registry import Workspace
from refbench.registry.runs import RUN_KINDS, Run, RunComparison
from refbench.settings import Settings

T = TypeVar("T")


class WorkspaceReader:
    """A workspace read-only and briefly: each read opens the database and closes it again.

    Raises:
        WorkspaceMissing: no database at ``db_path``.
    """

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path).resolve()
        if not self.path.is_file():
            raise WorkspaceMissing(f"no workspace database at {self.path}: run `refbench manifest` first")

    @classmethod
    def of(cls, settings: Settings) -> WorkspaceReader:
        """The reader of the settings' workspace."""
        return cls(settings.database)

    @contextmanager
    def open(self) -> Iterator[Workspace]:
        """The workspace, read-only, for one block of reads."""
        with Workspace.open(self.path, read_only=True) as ws:
            yield ws

    def read(self, query: Callable[[Workspace], T]) -> T:
        """``query(ws)`` on a briefly opened read-only workspace."""
        with self.open() as ws:
            return query(ws)


def list_runs(settings: Settings, *, kind: str | None = None, limit: int = 50) -> list[Run]:
    """Runs of the settings' workspace, newest first (read-only).

    Raises:
        UnknownNameError: ``kind`` is no kind of run (with the closest ones: ``manifst`` → ``manifest``).
    """

    def query(ws: Workspace) -> list[Run]:
        known = {*RUN_KINDS, *ws.runs.kinds()}
        if kind is not None and kind not in known:
            raise UnknownNameError("run kind", kind, known)
        return ws.runs.list(kind=kind, limit=limit)

    return WorkspaceReader.of(settings).read(query)


def compare_runs(settings: Settings, a: str, b: str) -> RunComparison:
    """Two runs of the settings' workspace side by side (ids or unique prefixes; read-only)."""
    return WorkspaceReader.of(settings).read(lambda ws: ws.runs.compare(a, b))

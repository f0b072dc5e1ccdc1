"""Run tracking: list runs, compare two side by side, record a run around any piece of work.

Every flow, notebook report and CLI run writes one ``runs`` row and its ``metrics``; the
``v_runs`` view (migration 0005) gives one row per run with its duration and run-level metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from refbench.errors import ConfigError
from refbench.store import tracked_run  # noqa: F401 - part of this module's API

RUN_COLUMNS = (
    "run_id, kind, status, started_at, finished_at, duration_s, git_commit, execution_provider,"
    " parameters, versions, error, metrics"
)


@dataclass(frozen=True)
class RunRow:
    """One run as ``v_runs`` shows it; ``parameters``/``versions`` decoded, ``metrics`` name -> value."""

    run_id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    git_commit: str | None
    execution_provider: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonRow:
    """One line of a side-by-side comparison; ``section`` is run, parameter, metric or version."""

    section: str
    name: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        """Whether the two runs disagree on this line."""
        return self.a != self.b


@dataclass(frozen=True)
class RunComparison:
    """Two runs side by side, line by line."""

    a: RunRow
    b: RunRow
    rows: list[ComparisonRow]

    def differences(self) -> list[ComparisonRow]:
        """Only the lines where the runs disagree."""
        return [row for row in self.rows if row.differs]

    def value(self, section: str, name: str) -> tuple[Any, Any]:
        """The (a, b) pair of one line; ``(None, None)`` when neither run has it."""
        for row in self.rows:
            if (row.section, row.name) == (section, name):
                return row.a, row.b
        return None, None


def _row(values: tuple) -> RunRow:
    (run_id, kind, status, started, finished, duration, commit, provider, parameters, versions, error, metrics) = values
    return RunRow(
        run_id,
        kind,
        status,
        started,
        finished,
        None if duration is None else float(duration),
        commit,
        provider,
        json.loads(parameters or "{}"),
        json.loads(versions or "{}"),
        error,
        dict(metrics or {}),
    )


def list_runs(con: duckdb.DuckDBPyConnection, *, kind: str | None = None, limit: int = 50) -> list[RunRow]:
    """Runs, newest first, optionally of one ``kind`` (manifest, report, calibrate, ...)."""
    rows = con.execute(
        f"SELECT {RUN_COLUMNS} FROM v_runs WHERE ? IS NULL OR kind = ? ORDER BY started_at DESC, run_id DESC LIMIT ?",
        [kind, kind, limit],
    ).fetchall()
    return [_row(r) for r in rows]


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRow:
    """A run by id or by a unique prefix of its id.

    Raises:
        ConfigError: no run, or several runs, match.
    """
    rows = con.execute(
        f"SELECT {RUN_COLUMNS} FROM v_runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 3", [run_id]
    ).fetchall()
    exact = [r for r in rows if r[0] == run_id]
    if exact:
        return _row(exact[0])
    if not rows:
        raise ConfigError(f"no run matches {run_id!r}: see `refbench runs list`")
    if len(rows) > 1:
        matches = ", ".join(r[0] for r in rows)
        raise ConfigError(f"{run_id!r} matches several runs ({matches}, ...): give more of the id")
    return _row(rows[0])


def previous_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRow | None:
    """The completed run of the same kind that started just before ``run_id``; ``None`` for the first."""
    current = get_run(con, run_id)
    row = con.execute(
        f"SELECT {RUN_COLUMNS} FROM v_runs WHERE kind = ? AND status = 'completed' AND started_at < ?"
        " ORDER BY started_at DESC LIMIT 1",
        [current.kind, current.started_at],
    ).fetchone()
    return None if row is None else _row(row)


def latest_run(con: duckdb.DuckDBPyConnection, *, kind: str) -> RunRow:
    """The newest completed run of ``kind``.

    Raises:
        ConfigError: the workspace has no completed run of that kind.
    """
    row = con.execute(
        f"SELECT {RUN_COLUMNS} FROM v_runs WHERE kind = ? AND status = 'completed' ORDER BY started_at DESC LIMIT 1",
        [kind],
    ).fetchone()
    if row is None:
        raise ConfigError(f"no completed {kind} run in this workspace")
    return _row(row)


def compare_runs(con: duckdb.DuckDBPyConnection, a: str, b: str) -> RunComparison:
    """Two runs side by side: status and duration, then every parameter, metric and version of either."""
    run_a, run_b = get_run(con, a), get_run(con, b)
    rows = [
        ComparisonRow("run", name, getattr(run_a, name), getattr(run_b, name))
        for name in ("run_id", "kind", "status", "started_at", "duration_s", "git_commit", "execution_provider")
    ]
    for section, left, right in (
        ("parameter", run_a.parameters, run_b.parameters),
        ("metric", run_a.metrics, run_b.metrics),
        ("version", run_a.versions, run_b.versions),
    ):
        rows += [ComparisonRow(section, name, left.get(name), right.get(name)) for name in sorted(left | right)]
    return RunComparison(run_a, run_b, rows)

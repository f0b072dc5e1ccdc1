"""Runs and their metrics, in the MLflow tracking-store manner: typed ``Run``, ``Metric``, ``RunComparison``.

Every manifest, calibration, describe, clean, plan, report and bench run writes one ``runs`` row and its
``metrics``; the ``v_runs`` view (migration 0005) gives one row per run with its duration and run-level
metrics. ``Runs.track`` records a block of work as a run: started on entry, completed or failed on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import psutil

from refbench.credentials import redact
from refbench.errors import OptionError, UnknownNameError
from refbench.registry.connection import new_id, now
from refbench.types import Metric
from refbench.versions import git_commit, package_versions

STALE_AFTER = timedelta(hours=1)  # a run of another host that has not shown it is alive for this long is gone
_RUN_COLUMNS = (
    "run_id, kind, status, started_at, finished_at, duration_s, git_commit, execution_provider,"
    " parameters, versions, error, metrics"
)


@dataclass(frozen=True)
class Run:
    """One run as ``v_runs`` shows it; ``metrics`` holds the run-level ones (no step, no label)."""

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


# Every kind of run refbench records; a workspace may hold others (from newer code).
RUN_KINDS = ("manifest", "calibrate", "describe", "clean", "plan", "report", "evaluate-identity", "bench")


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

    a: Run
    b: Run
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


class TrackedRun:
    """A run in progress: log metrics to it; ``Runs.track`` closes it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, kind: str) -> None:
        self._con, self.run_id, self.kind = con, run_id, kind

    def log(self, *metrics: Metric) -> None:
        """Append metrics rows."""
        self.log_many(metrics)

    def log_many(self, metrics: Iterable[Metric]) -> None:
        """Append metrics rows from any iterable."""
        rows = [[self.run_id, m.name, m.value, m.unit, m.step, m.label] for m in metrics]
        if rows:
            self._con.executemany(
                "INSERT INTO metrics (run_id, name, value, unit, step, label) VALUES (?, ?, ?, ?, ?, ?)", rows
            )

    def finish(self, *, status: str, error: str | None = None) -> None:
        """Mark the run completed or failed."""
        self._con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?",
            [now(), status, redact(error), self.run_id],
        )

    def heartbeat(self) -> None:
        """Say the run is alive (long runs call this now and then; see ``Runs.mark_stale``)."""
        self._con.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", [now(), self.run_id])


class Runs:
    """The ``runs`` and ``metrics`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def start(
        self,
        kind: str,
        parameters: dict[str, Any],
        *,
        execution_provider: str | None = None,
        run_id: str | None = None,
    ) -> TrackedRun:
        """Record a run as started, with the git commit and the versions of the packages that shape results."""
        self.mark_stale()
        run_id = run_id or new_id(kind)
        started = now()
        self._con.execute(
            "INSERT INTO runs (run_id, kind, started_at, status, git_commit, parameters, versions, execution_provider,"
            " pid, host, heartbeat_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                kind,
                started,
                git_commit(),
                json.dumps(parameters, default=str),
                json.dumps(package_versions()),
                execution_provider,
                os.getpid(),
                socket.gethostname(),
                started,
            ],
        )
        return TrackedRun(self._con, run_id, kind)

    def mark_stale(self, *, lease: timedelta = STALE_AFTER) -> list[str]:
        """Mark ``running`` runs whose process is gone ``interrupted``; returns their ids.

        On this host a run is alive while its process exists and started before the run did (a recycled
        pid is another process); a run of another host is alive while its heartbeat is younger than ``lease``.
        """
        rows = self._con.execute(
            "SELECT run_id, pid, host, started_at, coalesce(heartbeat_at, started_at) FROM runs"
            " WHERE status = 'running'"
        ).fetchall()
        here, cutoff = socket.gethostname(), now() - lease
        stale = [
            (run_id, pid)
            for run_id, pid, host, started, beat in rows
            if not (_alive(pid, started) if host == here else beat > cutoff)
        ]
        for run_id, pid in stale:
            self._con.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE run_id = ?",
                [now(), f"interrupted: process {pid} of this run is gone (killed, or the machine stopped)", run_id],
            )
        return [run_id for run_id, _ in stale]

    @contextmanager
    def track(
        self,
        kind: str,
        parameters: dict[str, Any],
        *,
        execution_provider: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[TrackedRun]:
        """Record a block of work as a run; when the block raises, the run is marked failed with the error."""
        run = self.start(kind, parameters, execution_provider=execution_provider, run_id=run_id)
        try:
            yield run
        except BaseException as error:
            _rollback(self._con)  # a failed write may have left a transaction open, or aborted
            run.finish(status="failed", error=f"{type(error).__name__}: {error}")
            raise
        run.finish(status="completed")

    def tracked(self, run_id: str) -> TrackedRun:
        """A handle on an existing run (to log to it or finish it from another connection)."""
        return TrackedRun(self._con, run_id, self.get(run_id).kind)

    def list(self, *, kind: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first, optionally of one ``kind`` (manifest, report, calibrate, ...)."""
        rows = self._con.execute(
            f"SELECT {_RUN_COLUMNS} FROM v_runs WHERE ? IS NULL OR kind = ?"
            " ORDER BY started_at DESC, run_id DESC LIMIT ?",
            [kind, kind, limit],
        ).fetchall()
        return [_run(r) for r in rows]

    def kinds(self) -> list[str]:
        """The kinds of run this workspace holds (``RUN_KINDS`` lists those refbench writes)."""
        return [r[0] for r in self._con.execute("SELECT DISTINCT kind FROM runs ORDER BY 1").fetchall()]

    def get(self, run_id: str) -> Run:
        """A run by id or by a unique prefix of its id.

        Raises:
            UnknownNameError: no run, or several runs, match.
        """
        rows = self._con.execute(
            f"SELECT {_RUN_COLUMNS} FROM v_runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 3", [run_id]
        ).fetchall()
        runs = [_run(r) for r in rows]
        exact = [r for r in runs if r.run_id == run_id]
        if exact:
            return exact[0]
        if not runs:
            recent = [r.run_id for r in self.list(limit=200)]
            raise UnknownNameError("run", run_id, recent, hint="; see `refbench runs list`")
        if len(runs) > 1:
            matches = ", ".join(r.run_id for r in runs)
            raise OptionError(
                f"run id {run_id!r} is ambiguous: it matches several runs ({matches}, ...); give more of it"
            )
        return runs[0]

    def previous(self, run: Run) -> Run | None:
        """The completed run of the same kind that started just before ``run``; ``None`` for the first."""
        row = self._con.execute(
            f"SELECT {_RUN_COLUMNS} FROM v_runs WHERE kind = ? AND status = 'completed' AND started_at < ?"
            " ORDER BY started_at DESC LIMIT 1",
            [run.kind, run.started_at],
        ).fetchone()
        return None if row is None else _run(row)

    def latest(self, *, kind: str) -> Run:
        """The newest completed run of ``kind``.

        Raises:
            UnknownNameError: the workspace has no completed run of that kind.
        """
        row = self._con.execute(
            f"SELECT {_RUN_COLUMNS} FROM v_runs WHERE kind = ? AND status = 'completed'"
            " ORDER BY started_at DESC LIMIT 1",
            [kind],
        ).fetchone()
        if row is None:
            completed = [
                r[0] for r in self._con.execute("SELECT DISTINCT kind FROM runs WHERE status = 'completed'").fetchall()
            ]
            raise UnknownNameError("completed run kind", kind, completed, hint=" (no such run in this workspace)")
        return _run(row)

    def compare(self, a: str, b: str) -> RunComparison:
        """Two runs side by side: status and duration, then every parameter, metric and version of either."""
        return compare(self.get(a), self.get(b))

    def series(self, run_id: str, name: str) -> list[Metric]:
        """Every value of one metric of a run, with its step and label, in step order."""
        rows = self._con.execute(
            "SELECT name, value, unit, step, label FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, label",
            [run_id, name],
        ).fetchall()
        return [Metric(*r) for r in rows]

    def metrics(self, run_id: str) -> list[Metric]:
        """Every metric row of a run, in the order logged."""
        rows = self._con.execute(
            "SELECT name, value, unit, step, label FROM metrics WHERE run_id = ?", [run_id]
        ).fetchall()
        return [Metric(*r) for r in rows]


def _alive(pid: int | None, started: datetime) -> bool:
    """Whether process ``pid`` of this host exists and is the one that started a run at ``started`` (UTC)."""
    if pid is None:
        return True  # a run recorded before pids were: leave it to a human
    try:
        created = datetime.fromtimestamp(psutil.Process(pid).create_time(), UTC).replace(tzinfo=None)
    except psutil.Error:
        return False
    return created <= started + timedelta(seconds=2)  # clocks: create_time is rounded to the tick


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction was open
        con.rollback()


def compare(run_a: Run, run_b: Run) -> RunComparison:
    """Two runs side by side, line by line."""
    rows = [
        ComparisonRow("run", name, getattr(run_a, name), getattr(run_b, name))
        for name in (
            "run_id",
            "kind",
            "status",
            "started_at",
            "duration_s",
            "git_commit",
            "execution_provider",
            "error",
        )
    ]
    for section, left, right in (
        ("parameter", run_a.parameters, run_b.parameters),
        ("metric", run_a.metrics, run_b.metrics),
        ("version", run_a.versions, run_b.versions),
    ):
        rows += [ComparisonRow(section, name, left.get(name), right.get(name)) for name in sorted(left | right)]
    return RunComparison(run_a, run_b, rows)


def _run(values: tuple) -> Run:
    (run_id, kind, status, started, finished, duration, commit, provider, parameters, versions, error, metrics) = values
    return Run(
        run_id=run_id,
        kind=kind,
        status=status,
        started_at=started,
        finished_at=finished,
        duration_s=None if duration is None else float(duration),
        git_commit=commit,
        execution_provider=provider,
        parameters=json.loads(parameters or "{}"),
        versions=json.loads(versions or "{}"),
        error=error,
        metrics=dict(metrics or {}),
    )

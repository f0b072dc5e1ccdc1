"""The DuckDB workspace: schema migrations and every read/write of the registry.

All SQL binds its values with ``?`` (CONVENTIONS.md 11); the schema lives in
``refbench/migrations/NNNN_name.sql``, applied once each, in order.
"""

from __future__ import annotations

import importlib.resources
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from refbench.errors import StoreError
from refbench.versions import git_commit, package_versions

MIGRATIONS_PACKAGE = "refbench.migrations"


def migration_scripts() -> list[tuple[int, str, str]]:
    """All bundled migrations as (version, name, sql), in version order."""
    scripts = []
    for entry in importlib.resources.files(MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            scripts.append((int(version), name, entry.read_text()))
    return sorted(scripts)


def connect(path: Path | str, *, read_only: bool = False, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a workspace database and bring its schema up to date.

    A missing file is created, unless ``create`` is false or the connection is read-only: commands that
    only read or extend a registry must not leave an empty workspace behind.
    """
    path = Path(path)
    if (read_only or not create) and not path.is_file():
        raise StoreError(f"no workspace database at {path}: run `refbench manifest` first")
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    migrate(con)
    return con


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration newer than the database's version; returns those applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    known = migration_scripts()
    newest = max((v for v, _, _ in known), default=0)
    if done and max(done) > newest:
        raise StoreError(f"database schema version {max(done)} is newer than this code's ({newest}): upgrade refbench")
    applied = []
    for version, name, sql in known:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, now()])
            con.execute("COMMIT")
        except duckdb.Error as error:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {version:04d}_{name} failed: {error}") from error
        applied.append(version)
    return applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together or not at all (and pay for one WAL flush, not one each)."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


class Batch:
    """Buffers rows and writes them in one transaction per ``size`` items.

    A commit on a DuckDB file costs milliseconds of WAL flushing and every statement a few more;
    per-image commits and inserts were a third of the manifest's time. Rows of a batch go in as
    one multi-row statement per table. A failure rolls back only the open batch, whose images are
    not marked processed, so the next run redoes exactly them.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, size: int = 16) -> None:
        self.con, self.size, self.pending = con, size, 0
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def __enter__(self) -> Batch:
        self.con.begin()
        return self

    def add(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Queue rows (same keys each) for ``table``; they are written when the batch is."""
        if rows:
            self.rows.setdefault(table, []).extend(rows)

    def tick(self) -> None:
        """Count one finished item; write and commit when the batch is full."""
        self.pending += 1
        if self.pending >= self.size:
            self._flush()
            self.con.commit()
            self.con.begin()
            self.pending = 0

    def _flush(self) -> None:
        for table, rows in self.rows.items():
            insert_rows(self.con, table, rows)
        self.rows = {}

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        if exc_type is None:
            self._flush()
            self.con.commit()
        else:
            self.con.rollback()


def new_run_id(kind: str) -> str:
    """A sortable, unique run id: ``<kind>-<UTC time>-<random>``."""
    return f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def now() -> datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert dict rows (same keys each) into ``table``, ignoring rows whose key already exists.

    Returns:
        The number of rows the table gained.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    # One multi-row statement: DuckDB's executemany costs a statement per row.
    sql = (
        f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))}"
        " RETURNING 1"
    )
    return len(con.execute(sql, [_bindable(row[c]) for row in rows for c in columns]).fetchall())


def _bindable(value: Any) -> Any:
    """Arrays travel as their text form: DuckDB 1.5 binds a 512-float list ~8x slower than it casts text."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(float(v)) for v in value) + "]"
    return value


def count(con: duckdb.DuckDBPyConnection, table: str, where: str = "TRUE", params: Iterable[Any] = ()) -> int:
    """Row count of ``table`` (a name from our own schema, never user input)."""
    return int(con.execute(f"SELECT count(*) FROM {table} WHERE {where}", list(params)).fetchone()[0])


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per registry table: what tests and summaries compare between runs."""
    tables = ["images", "rejections", "detections", "faces", "identities", "face_identity", "assets", "processed"]
    return {table: count(con, table) for table in tables}


def start_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    kind: str,
    parameters: dict[str, Any],
    execution_provider: str | None = None,
) -> None:
    """Record a run as started, with the git commit and the versions of the packages that shape results."""
    con.execute(
        "INSERT INTO runs (run_id, kind, started_at, status, git_commit, parameters, versions, execution_provider)"
        " VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
        [
            run_id,
            kind,
            now(),
            git_commit(),
            json.dumps(parameters, default=str),
            json.dumps(package_versions()),
            execution_provider,
        ],
    )


@contextmanager
def tracked_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    kind: str,
    parameters: dict[str, Any],
    execution_provider: str | None = None,
) -> Iterator[str]:
    """Record ``runs`` start and end around a block; when the block raises, the run is marked failed.

    Yields:
        The run id, for ``log_metrics``.
    """
    start_run(con, run_id=run_id, kind=kind, parameters=parameters, execution_provider=execution_provider)
    try:
        yield run_id
    except BaseException as error:
        finish_run(con, run_id, status="failed", error=f"{type(error).__name__}: {error}")
        raise
    finish_run(con, run_id, status="completed")


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, *, status: str, error: str | None = None) -> None:
    """Mark a run completed or failed."""
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?", [now(), status, error, run_id]
    )


def log_metrics(con: duckdb.DuckDBPyConnection, run_id: str, metrics: Iterable[tuple]) -> None:
    """Append metrics rows: tuples (name, value, unit[, step[, label]])."""
    rows = [(run_id, *m, *([None] * (5 - len(m)))) for m in metrics]
    if rows:
        con.executemany("INSERT INTO metrics (run_id, name, value, unit, step, label) VALUES (?, ?, ?, ?, ?, ?)", rows)

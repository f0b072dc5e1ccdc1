"""DuckDB connections, schema migrations, transactions and batched inserts: the registry's plumbing.

All SQL binds its values with ``?`` (CONVENTIONS.md 11); the schema lives in
``refbench/registry/migrations/NNNN_name.sql``, applied once each, in order. DuckDB's own errors
(a lock held by another process, a file that is no database) become one-line ``StoreError``s.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from refbench.errors import (
    SchemaMismatch,
    StoreError,
    WorkspaceCorrupt,
    WorkspaceLocked,
    WorkspaceMissing,
    WorkspaceReadOnly,
)
from refbench.types import Detections

MIGRATIONS_PACKAGE = "refbench.registry.migrations"
_LOCK = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def migration_scripts() -> list[tuple[int, str, str]]:
    """All bundled migrations as (version, name, sql), in version order."""
    scripts = []
    for entry in importlib.resources.files(MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            scripts.append((int(version), name, entry.read_text()))
    return sorted(scripts)


def newest_schema() -> int:
    """The schema version this code writes."""
    return max((v for v, _, _ in migration_scripts()), default=0)


def connect(path: Path | str, *, read_only: bool = False, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a workspace database; a writable one is brought up to date first.

    A missing file is created, unless ``create`` is false or the connection is read-only: commands that
    only read or extend a registry must not leave an empty workspace behind.

    Raises:
        WorkspaceMissing, WorkspaceLocked, WorkspaceCorrupt, WorkspaceReadOnly, SchemaMismatch: one line
            each, saying what to do.
    """
    path = Path(path)
    if (read_only or not create) and not path.is_file():
        raise WorkspaceMissing(f"no workspace database at {path}: run `refbench manifest` first")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WorkspaceReadOnly(f"cannot create the workspace folder {path.parent}: {error.strerror}") from error
    con = _open(path, read_only=read_only)
    try:
        if read_only:
            _check_schema(con, path)
        else:
            migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as error:
        raise translate_error(error, path) from error


def translate_error(error: duckdb.Error, path: Path) -> StoreError:
    """DuckDB's account of a failed open, as the one-line error a user can act on."""
    text = str(error)
    if found := _LOCK.search(text):
        pid = int(found["pid"])
        holder = "this process" if pid == os.getpid() else f"process {pid} ({found['program']})"
        return WorkspaceLocked(
            f"workspace {path} is locked by {holder}: DuckDB allows one writer at a time. Close that notebook "
            "kernel or wait for that command to finish, then try again"
        )
    if "not a valid DuckDB database" in text or "Corrupt" in text or "checksum" in text.lower():
        return WorkspaceCorrupt(
            f"{path} is not a usable DuckDB workspace ({text.split(':', 1)[-1].strip()}); move it aside and run "
            "`refbench manifest` to build a new one"
        )
    if "Permission denied" in text or "Read-only file system" in text or "read-only" in text.lower():
        return WorkspaceReadOnly(f"workspace {path} cannot be written ({text}); open it read-only or fix permissions")
    return StoreError(f"cannot open workspace {path}: {text}")


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A read-only connection cannot migrate: refuse a schema other than this code's."""
    has_table = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'").fetchone()[0]
    version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] if has_table else 0
    newest = newest_schema()
    if (version or 0) < newest:
        raise SchemaMismatch(
            f"workspace {path} has schema {version or 0}, this code reads {newest}: run any refbench command that "
            "writes (e.g. `refbench manifest`) on it once to migrate"
        )
    if version > newest:
        raise SchemaMismatch(
            f"workspace {path} has schema {version}, newer than this code's ({newest}): upgrade refbench"
        )


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration newer than the database's version; returns those applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    known = migration_scripts()
    newest = max((v for v, _, _ in known), default=0)
    if done and max(done) > newest:
        raise SchemaMismatch(
            f"database schema version {max(done)} is newer than this code's ({newest}): upgrade refbench"
        )
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
    if applied:
        # DuckDB 1.5.5 cannot replay a WAL that holds DDL with DEFAULT expressions (nextval() included:
        # "GetDefaultDatabase with no default database set"): a process killed before the next checkpoint
        # would leave an unopenable workspace. Checkpointing right after the schema changes keeps DDL out of the WAL.
        con.execute("CHECKPOINT")
    return applied


_open_transactions: dict[int, int] = {}  # id(connection) -> nesting depth of `transaction` blocks


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together or not at all (and pay for one WAL flush, not one each).

    Nested blocks join the outermost one: a table group that writes atomically can be called inside a
    pipeline's larger transaction.
    """
    key = id(con)
    depth = _open_transactions.get(key, 0)
    _open_transactions[key] = depth + 1
    try:
        if depth:
            yield con
            return
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()
    finally:
        if depth:
            _open_transactions[key] = depth
        else:
            del _open_transactions[key]


class Batch:
    """Buffers rows and writes them in one transaction per ``size`` items.

    A commit on a DuckDB file costs milliseconds of WAL flushing and every statement a few more;
    per-image commits and inserts were a third of the manifest's time. Rows of a batch go in as
    one multi-row statement per table. A failure rolls back only the open batch, whose images are
    not marked processed, so the next run redoes exactly them.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, *, size: int = 16, replace: frozenset[str] = frozenset()
    ) -> None:
        self.con, self.size, self.pending, self.replace = con, size, 0, replace
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
            self.flush()

    def flush(self) -> None:
        """Write and commit what is queued, and open the next transaction."""
        self._write()
        self.con.commit()
        self.con.begin()
        self.pending = 0

    def _write(self) -> None:
        for table, rows in self.rows.items():
            insert_rows(self.con, table, rows, replace=table in self.replace)
        self.rows = {}

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        if exc_type is None:
            self._write()
            self.con.commit()
        else:
            self.con.rollback()


def new_id(kind: str) -> str:
    """A sortable, unique id: ``<kind>-<UTC time>-<random>``."""
    return f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def now() -> datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]], *, replace: bool = False
) -> int:
    """Insert dict rows (same keys each) into ``table``, ignoring rows whose key already exists (``replace``:
    overwriting them).

    Returns:
        The number of rows written.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    # One multi-row statement: DuckDB's executemany costs a statement per row.
    sql = (
        f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO {table} ({', '.join(columns)})"
        f" VALUES {', '.join([placeholders] * len(rows))}"
        " RETURNING 1"
    )
    return len(con.execute(sql, [row[c] for row in rows for c in columns]).fetchall())


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, Sequence[Any]]) -> int:
    """Insert column arrays (one per column, equal lengths) into ``table`` in one statement, through a DataFrame:
    for the tens of thousands of rows a re-cluster writes, binding one parameter per value is the slow part."""
    import pandas as pd

    frame = pd.DataFrame(columns)
    if frame.empty:
        return 0
    con.register("_refbench_rows", frame)
    try:
        names = ", ".join(columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _refbench_rows")
    finally:
        con.unregister("_refbench_rows")
    return len(frame)


def float_array(values: Sequence[float] | Any) -> str:
    """A float vector as the text DuckDB casts to ``FLOAT[n]``: binding a 512-float list is ~8x slower."""
    return "[" + ", ".join(str(float(v)) for v in values) + "]"


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Row count of ``table`` (a name from our own schema, never user input)."""
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@dataclass(frozen=True)
class TextScan:
    """Where a text occurs in the stored values: what an audit for a leaked secret asks."""

    columns: int  # columns of base tables scanned
    hits: frozenset[tuple[str, str]]  # (table, column) pairs holding the text


def find_text(con: duckdb.DuckDBPyConnection, text: str) -> TextScan:
    """Every column of every base table whose values, cast to text, contain ``text``.

    DuckDB compresses strings on disk (FSST), so the database file's bytes alone could hide a stored value.
    """
    columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns c JOIN"
        " information_schema.tables t USING (table_schema, table_name) WHERE t.table_type = 'BASE TABLE'"
    ).fetchall()
    hits = frozenset(
        (table, column)
        for table, column in columns
        if con.execute(
            f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?)', [text]
        ).fetchone()[0]
    )
    return TextScan(len(columns), hits)


def detections_from_columns(
    columns: dict[str, Any], *, score: str, objects: Sequence[str] = (), floats: Sequence[str] = (), class_id: str = ""
) -> Detections:
    """``Detections`` from ``fetchnumpy`` columns: ``bbox`` boxes, ``score`` confidences, the ``objects`` columns as
    object arrays and the ``floats`` as float32 (NULL → 0). An empty result keeps every key, with zero rows."""
    n = len(columns[score])
    boxes = np.stack(columns["bbox"]).astype(np.float32) if n else np.zeros((0, 4), np.float32)
    data: dict[str, np.ndarray] = {k: np.asarray(columns[k], dtype=object) for k in objects}
    data |= {k: np.nan_to_num(np.asarray(columns[k], dtype=np.float32)) for k in floats}
    ids = np.asarray(columns[class_id]) if class_id else np.zeros(n)
    return Detections(boxes, np.asarray(columns[score], dtype=np.float32), ids, data)

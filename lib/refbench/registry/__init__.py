"""The registry: one DuckDB workspace behind typed table groups. The only place refbench runs SQL.

``Workspace.open(settings)`` yields a workspace whose attributes are the table groups
(``ws.images``, ``ws.faces``, ``ws.assets``, ``ws.runs``, ...); each reads and writes typed
objects (``Detections``, ``ImageRecord``, ``Asset``, ``Run``, ...), never rows. Pipelines open a
workspace for writing; notebooks and reports open it read-only and briefly, so that a kernel
never holds DuckDB's single writer lock between two queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from refbench.registry.artifacts import Artifacts
from refbench.registry.assets import Assets
from refbench.registry.brand import Brand
from refbench.registry.calibrations import Calibrations, Evaluations
from refbench.registry.clean import CleanReferences
from refbench.registry.connection import TextScan, connect, count, find_text, transaction
from refbench.registry.curation import CurationLog
from refbench.registry.descriptions import Descriptions
from refbench.registry.faces import Faces, Identities, Thresholds
from refbench.registry.generations import ImageJobs
from refbench.registry.images import Images, Objects, Rejections, Sources
from refbench.registry.library import Library
from refbench.registry.plans import Plans
from refbench.registry.runs import Metric, Run, Runs, TrackedRun
from refbench.registry.views import ViewSheets
from refbench.settings import Settings, files_of

__all__ = ["Metric", "Run", "TrackedRun", "Workspace"]

# What two equivalent manifest runs must agree on, table by table.
REGISTRY_TABLES = ("images", "rejections", "detections", "faces", "identities", "face_identity", "assets", "processed")


class Workspace:
    """An open workspace: its database and the folder of its files.

    Attributes:
        path: the DuckDB file.
        files_dir: originals (by hash) and every derived image, beside the database.
        read_only: whether this connection may write.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, path: Path, files_dir: Path, read_only: bool) -> None:
        self._con, self.path, self.files_dir, self.read_only = con, path, files_dir, read_only
        self.images = Images(con)
        self.rejections = Rejections(con)
        self.sources = Sources(con)
        self.objects = Objects(con)
        self.faces = Faces(con)
        self.identities = Identities(con)
        self.thresholds = Thresholds(con)
        self.assets = Assets(con)
        self.runs = Runs(con)
        self.artifacts = Artifacts(con)
        self.calibrations = Calibrations(con)
        self.evaluations = Evaluations(con)
        self.plans = Plans(con)
        self.clean = CleanReferences(con)
        self.descriptions = Descriptions(con)
        self.library = Library(con)
        self.brand = Brand(con)
        self.views = ViewSheets(con)
        self.image_jobs = ImageJobs(con)
        self.curation = CurationLog(con)

    @classmethod
    @contextmanager
    def open(cls, where: Settings | Path | str, *, read_only: bool = False, create: bool = True) -> Iterator[Workspace]:
        """Open the workspace of ``where`` (settings, or the database path) and close it afterwards.

        Args:
            where: ``Settings`` (its ``database``), or the path of the DuckDB file.
            read_only: open without DuckDB's writer lock (readers in other processes may share it).
            create: create a missing workspace (commands that only read or extend one pass ``False``).

        Raises:
            StoreError: a one-line reason (missing, locked by another process, corrupt, read-only, schema).
        """
        path = where.database if isinstance(where, Settings) else Path(where)
        con = connect(path, read_only=read_only, create=create)
        try:
            yield cls(con, path=path, files_dir=files_of(path), read_only=read_only)
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[Workspace]:
        """Every write inside commits together or not at all."""
        with transaction(self._con):
            yield self

    def view_columns(self, view: str) -> dict[str, str]:
        """Column name → DuckDB type of one of the documented views (``v_faces``, ``v_assets``, ...), in order."""
        rows = self._con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            [view],
        ).fetchall()
        return dict(rows)

    def find_text(self, text: str) -> TextScan:
        """Every stored column whose values contain ``text`` (an audit for a leaked secret)."""
        return find_text(self._con, text)

    def counts(self) -> dict[str, int]:
        """Rows per registry table: what tests and summaries compare between runs."""
        return {table: count(self._con, table) for table in REGISTRY_TABLES}

    def close(self) -> None:
        """Close the connection (``open`` does this on exit)."""
        self._con.close()

"""Notebook helpers: what the notebooks show, built from library results (notebooks hold no logic).

Notebooks read a workspace through a ``WorkspaceReader``: every read opens the database read-only and
closes it at once, so an open kernel never holds DuckDB's lock between two queries.
"""

from refbench.pipelines.read import WorkspaceReader

__all__ = ["WorkspaceReader"]

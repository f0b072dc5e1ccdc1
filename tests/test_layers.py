"""The package's layers, checked on the source: SQL only in the registry, workspaces opened only by pipelines,
stages that compute without a database, notebooks and flows without SQL.

types/errors/settings ← stages ← registry ← pipelines ← cli, flows, workbench ← notebooks (DESIGN.md).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from refbench.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "lib" / "refbench"
STAGES = (
    "ingest",
    "detect",
    "faces",
    "identity",
    "assets",
    "select",
    "clean",
    "generation",
    "describe",
    "provision",
    "library",
    "brand",
    "curation",  # corrections as events (issue 15)
    "vectors",  # vector search (issue 16)
)
BASE = ("types", "errors", "settings", "runtime", "versions", "credentials", "google_api")
# What each layer must not import (module prefixes under refbench.).
FORBIDDEN = {
    **dict.fromkeys(BASE, ("registry", "pipelines", "workbench", "cli", *STAGES)),
    **dict.fromkeys(STAGES, ("registry", "pipelines", "workbench", "cli")),
    "registry": ("pipelines", "workbench", "cli"),
    "pipelines": ("workbench", "cli"),
    "workbench": ("cli",),
}
SQL_CALLS = {"execute", "executemany", "sql", "fetchall", "fetchone", "fetchnumpy", "fetchdf"}
POSITIONAL_ROW = re.compile(r"\b(?:row|rows|r)\[\d\]|fetchone\(\)\[\d\]")
SQL_TEXT = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer(path: Path) -> str:
    """The first part of a module's path under refbench/ (``registry``, ``faces``, ``types`` ...)."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def calls(tree: ast.AST) -> set[str]:
    """Attribute names called anywhere (``con.execute(...)`` gives ``execute``)."""
    return {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def test_the_tree_has_the_documented_layers() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    expected = {*STAGES, "registry", "pipelines", "workbench", "cli", "fakes"}
    assert expected <= folders, expected - folders


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_from_layers_below(path: Path) -> None:
    tree = ast.parse(path.read_text())
    forbidden = tuple(f"refbench.{name}" for name in FORBIDDEN.get(layer(path), ()))
    wrong = sorted(m for m in imported(tree) if m.startswith(forbidden) and not m.startswith(f"refbench.{layer(path)}"))
    assert not wrong, f"{path.name} ({layer(path)}) imports {wrong}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sql_lives_only_in_the_registry(path: Path) -> None:
    if layer(path) in ("registry", "fakes"):
        return
    source = path.read_text()
    tree = ast.parse(source)
    assert "duckdb" not in {m.split(".")[0] for m in imported(tree)}, f"{path.name} imports duckdb"
    assert not calls(tree) & SQL_CALLS, f"{path.name} calls {calls(tree) & SQL_CALLS}"
    assert not POSITIONAL_ROW.search(source), f"{path.name} reads rows by position: {POSITIONAL_ROW.search(source)[0]}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_pipelines_open_a_workspace(path: Path) -> None:
    if layer(path) in ("registry", "pipelines"):
        return
    assert "Workspace.open" not in path.read_text(), f"{path.name} opens a workspace: go through refbench.pipelines"


def notebook_code(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize(
    "path",
    [*sorted((PROJECT_ROOT / "flows").glob("*.py")), *sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))],
    ids=lambda p: p.name,
)
def test_flows_and_notebooks_hold_no_sql(path: Path) -> None:
    source = notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    assert not re.search(r"^\s*(import|from)\s+(duckdb|refbench\.registry)\b", source, re.MULTILINE), path.name
    assert not SQL_TEXT.search(source), f"{path.name}: {SQL_TEXT.search(source)[0]}"


def test_a_mutant_with_sql_in_a_stage_is_caught(tmp_path: Path) -> None:
    """The checks above fail on the code they exist to catch."""
    tree = ast.parse("import duckdb\ndef f(con):\n    return con.execute('SELECT 1').fetchone()[0]\n")
    assert "duckdb" in imported(tree) and {"execute", "fetchone"} <= calls(tree)
    assert POSITIONAL_ROW.search("x = con.execute(q).fetchone()[0]")
    assert SQL_TEXT.search('con.sql("SELECT tag FROM v_assets")')

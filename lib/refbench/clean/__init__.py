"""Clean reference sheets, one tier per module, stored beside (never instead of) the originals.

Tier 1 ``original`` uses the registered crop as-is; tier 2 ``rembg-gray`` removes the background
and composites on neutral gray #808080; tier 3 ``generative`` asks an image generator for a clean
sheet and accepts it only when ArcFace similarity to the identity reaches the calibrated threshold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from refbench import store
from refbench.errors import UnknownBackendError
from refbench.selection import RegistryAsset

NEUTRAL_GRAY = (128, 128, 128)


@dataclass(frozen=True)
class CleanResult:
    """One clean reference made for an asset (``status`` ok, or failed with a ``message``)."""

    tag: str
    asset_id: str
    tier: int
    method: str
    path: Path
    status: str = "ok"
    prompt: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    attempts: int | None = None
    cost: float | None = None
    cost_unit: str | None = None
    message: str | None = None


class Cleaner(Protocol):
    """Makes clean references of one asset; returns the rows to store (the usable one last)."""

    name: str
    tier: int

    def clean(self, asset: RegistryAsset, *, out_dir: Path) -> list[CleanResult]:
        """Write derived files under ``out_dir`` and describe them; never touch ``asset.crop_path``."""
        ...


def _original(**options: Any) -> Cleaner:
    from refbench.clean.original import OriginalCleaner

    return OriginalCleaner(**options)


def _rembg_gray(**options: Any) -> Cleaner:
    from refbench.clean.rembg_gray import RembgGrayCleaner

    return RembgGrayCleaner(**options)


def _generative(**options: Any) -> Cleaner:
    from refbench.clean.generative import GenerativeCleaner

    return GenerativeCleaner(**options)


CLEANERS: dict[str, Callable[..., Cleaner]] = {
    "original": _original,
    "rembg-gray": _rembg_gray,
    "generative": _generative,
}


def create_cleaner(name: str, **options: Any) -> Cleaner:
    """Build the cleaner registered as ``name`` with its constructor options (see each module)."""
    if name not in CLEANERS:
        raise UnknownBackendError("clean tier", name, list(CLEANERS))
    return CLEANERS[name](**options)


def store_clean_results(
    con: duckdb.DuckDBPyConnection, results: Sequence[CleanResult], *, run_id: str | None = None
) -> None:
    """Insert result rows; the last ``ok`` result of each tag becomes its primary clean reference."""
    rows = [
        {
            "clean_id": uuid.uuid4().hex,
            "asset_id": r.asset_id,
            "tag": r.tag,
            "tier": r.tier,
            "method": r.method,
            "path": str(r.path),
            "prompt": r.prompt,
            "similarity": r.similarity,
            "threshold": r.threshold,
            "attempts": r.attempts,
            "cost": r.cost,
            "cost_unit": r.cost_unit,
            "is_primary": False,
            "status": r.status,
            "message": r.message,
            "run_id": run_id,
        }
        for r in results
    ]
    store.insert_rows(con, "clean_references", rows)
    primary = {}
    for row in rows:
        if row["status"] == "ok":
            primary[row["tag"]] = row["clean_id"]
    for tag, clean_id in primary.items():
        con.execute("UPDATE clean_references SET is_primary = (clean_id = ?) WHERE tag = ?", [clean_id, tag])


def make_clean_references(
    con: duckdb.DuckDBPyConnection,
    assets: Sequence[RegistryAsset],
    cleaner: Cleaner,
    *,
    out_dir: Path,
    run_id: str | None = None,
) -> list[CleanResult]:
    """Clean each asset with ``cleaner``, store the rows and return them."""
    results = [result for asset in assets for result in cleaner.clean(asset, out_dir=out_dir)]
    store_clean_results(con, results, run_id=run_id)
    return results

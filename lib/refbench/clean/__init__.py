"""Clean reference sheets, one tier per module, stored beside (never instead of) the originals.

Tier 1 ``original`` uses the registered crop as-is; tier 2 ``rembg-gray`` removes the background
and composites on neutral gray #808080; tier 3 ``generative`` asks an image generator for a clean
sheet and accepts it only when ArcFace similarity to the identity reaches the calibrated threshold;
tier 4 ``multi-angle`` (``refbench.clean.multi_angle``) generates the views a character's photos lack,
each checked for identity, head angle and face size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from refbench.errors import UnknownBackendError
from refbench.types import Asset, Progress

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
    view: str | None = None  # tier 4: the view this sheet shows (never the asset's primary sheet)


class Cleaner(Protocol):
    """Makes clean references of one asset; returns the rows to store (the usable one last)."""

    name: str
    tier: int

    def clean(self, asset: Asset, *, out_dir: Path) -> list[CleanResult]:
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


MULTI_ANGLE = "multi-angle"  # tier 4: generated views (refbench.pipelines.multi_angle), not a per-asset Cleaner
TIERS = (*CLEANERS, MULTI_ANGLE)
GENERATED_TIERS = ("generative", MULTI_ANGLE)  # tiers that need an image generator


def create_cleaner(name: str, **options: Any) -> Cleaner:
    """Build the cleaner registered as ``name`` with its constructor options (see each module)."""
    if name not in CLEANERS:
        raise UnknownBackendError("clean tier", name, list(CLEANERS))
    return CLEANERS[name](**options)


def make_clean_references(
    assets: Sequence[Asset], cleaner: Cleaner, *, out_dir: Path, progress: Progress | None = None
) -> list[CleanResult]:
    """Clean each asset with ``cleaner``; the rows to store, in order (each asset's usable one last)."""
    results = []
    for done, asset in enumerate(assets):
        if progress:
            progress(done, len(assets), asset.tag)
        results += cleaner.clean(asset, out_dir=out_dir)
    return results

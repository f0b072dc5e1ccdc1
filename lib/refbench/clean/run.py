"""A tracked clean-sheet run over a workspace's assets: what ``refbench clean`` calls.

Tier 1 (``original``) and tier 2 (``rembg-gray``) run offline; tier 3 (``generative``) needs an image
generator and validates every sheet with the workspace's face model and calibrated threshold,
falling back to tier 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from refbench import store
from refbench.clean import Cleaner, CleanResult, create_cleaner, make_clean_references
from refbench.clean.generative import ImageGenerator, identity_embeddings
from refbench.errors import ConfigError
from refbench.faces import create_face_analyzer
from refbench.manifest import resolve_threshold
from refbench.selection import RegistryAsset, load_registry
from refbench.settings import Settings

# A background swap or a studio re-shoot means nothing for a scene photo.
CLEANABLE_TYPES = ("character", "prop", "vehicle", "animal")


@dataclass(frozen=True)
class CleanRun:
    """One clean-sheet run: its id, the tier asked for, and every stored result row."""

    run_id: str
    tier: str
    results: list[CleanResult]
    seconds: float


def select_assets(registry_assets: dict[str, RegistryAsset], tags: Sequence[str]) -> list[RegistryAsset]:
    """The named assets, or every cleanable one when ``tags`` is empty."""
    if not tags:
        return [a for a in registry_assets.values() if a.asset_type in CLEANABLE_TYPES]
    unknown = [t for t in tags if t not in registry_assets]
    if unknown:
        raise ConfigError(f"no active asset {', '.join(unknown)} in this workspace; known: {len(registry_assets)} tags")
    return [registry_assets[t] for t in tags]


def build_cleaner(
    settings: Settings,
    tier: str,
    *,
    con: duckdb.DuckDBPyConnection,
    generator: ImageGenerator | None,
    face_model: str,
) -> Cleaner:
    """The cleaner for ``tier`` with this workspace's models (tier 3: face model, identities, threshold)."""
    if tier == "original":
        return create_cleaner("original")
    if tier == "rembg-gray":
        return create_cleaner("rembg-gray", model_dir=settings.models, providers=settings.providers)
    if tier != "generative":
        return create_cleaner(tier)  # raises UnknownBackendError with the known names
    if generator is None:
        raise ConfigError("tier generative needs an image generator (e.g. GeminiImageGenerator)")
    return create_cleaner(
        "generative",
        generator=generator,
        face_analyzer=create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers),
        identities=identity_embeddings(con, face_model=face_model),
        threshold=resolve_threshold(settings, face_model),
        fallback=create_cleaner("rembg-gray", model_dir=settings.models, providers=settings.providers),
    )


def run_clean_sheets(
    settings: Settings,
    *,
    tier: str,
    tags: Sequence[str] = (),
    generator: ImageGenerator | None = None,
    face_model: str = "insightface",
) -> CleanRun:
    """Make clean references of ``tags`` (default: every cleanable asset) and store them as a ``clean`` run."""
    run_id = store.new_run_id("clean")
    con = store.connect(settings.database, create=False)
    try:
        assets = select_assets(load_registry(con).assets, tags)
        cleaner = build_cleaner(settings, tier, con=con, generator=generator, face_model=face_model)
        parameters = {"tier": tier, "tags": [a.tag for a in assets], "face_model": face_model}
        start = time.perf_counter()
        with store.tracked_run(
            con,
            run_id=run_id,
            kind="clean",
            parameters=parameters,
            execution_provider=getattr(cleaner, "execution_provider", None),
        ):
            results = make_clean_references(
                con, assets, cleaner, out_dir=settings.workspace_files / "clean", run_id=run_id
            )
            seconds = time.perf_counter() - start
            store.log_metrics(
                con,
                run_id,
                [
                    ("assets", len(assets), "assets"),
                    ("clean_ok", sum(r.status == "ok" for r in results), "sheets"),
                    ("clean_failed", sum(r.status != "ok" for r in results), "sheets"),
                    ("seconds_per_asset", seconds / max(len(assets), 1), "s"),
                ],
            )
    finally:
        con.close()
    return CleanRun(run_id, tier, results, seconds)

"""A tracked clean-sheet run over a workspace's assets: what ``refbench clean`` calls.

Tier 1 (``original``) and tier 2 (``rembg-gray``) run offline; tier 3 (``generative``) needs an image
generator and validates every sheet with the workspace's face model and calibrated threshold,
falling back to tier 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from refbench.clean import Cleaner, CleanResult, create_cleaner, make_clean_references
from refbench.clean.generative import ImageGenerator
from refbench.errors import OptionError, UnknownTagError
from refbench.faces import create_face_analyzer
from refbench.pipelines.common import face_threshold
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Asset, AssetSet, Metric, Progress

# A background swap or a studio re-shoot means nothing for a scene photo.
CLEANABLE_TYPES = ("character", "prop", "vehicle", "animal")


@dataclass(frozen=True)
class CleanRun:
    """One clean-sheet run: its id, the tier asked for, and every stored result row."""

    run_id: str
    tier: str
    results: list[CleanResult]
    seconds: float


def select_assets(assets: AssetSet, tags: Sequence[str]) -> list[Asset]:
    """The named assets, or every cleanable one when ``tags`` is empty."""
    if not tags:
        return assets.of_type(*CLEANABLE_TYPES)
    unknown = [t for t in tags if t not in assets]
    if unknown:
        raise UnknownTagError(unknown[0], assets.tags)
    return [assets[t] for t in tags]


def build_cleaner(
    settings: Settings, tier: str, *, ws: Workspace, generator: ImageGenerator | None, face_model: str
) -> Cleaner:
    """The cleaner for ``tier`` with this workspace's models (tier 3: face model, identities, threshold)."""
    if tier == "original":
        return create_cleaner("original")
    if tier == "rembg-gray":
        return create_cleaner("rembg-gray", model_dir=settings.models, providers=settings.providers)
    if tier != "generative":
        return create_cleaner(tier)  # raises UnknownBackendError with the known names
    if generator is None:
        raise OptionError("tier generative needs an image generator (e.g. GeminiImageGenerator)")
    return create_cleaner(
        "generative",
        generator=generator,
        face_analyzer=create_face_analyzer(face_model, model_dir=settings.models, providers=settings.providers),
        identities=ws.identities.centroids(face_model),
        threshold=face_threshold(ws, face_model).value,
        fallback=create_cleaner("rembg-gray", model_dir=settings.models, providers=settings.providers),
    )


def run_clean_sheets(
    settings: Settings,
    *,
    tier: str,
    tags: Sequence[str] = (),
    generator: ImageGenerator | None = None,
    face_model: str | None = None,
    progress: Progress | None = None,
) -> CleanRun:
    """Make clean references of ``tags`` (default: every cleanable asset) and store them as a ``clean`` run."""
    face_model = face_model or settings.face_model
    with Workspace.open(settings, create=False) as ws:
        assets = select_assets(ws.assets.list(), tags)
        cleaner = build_cleaner(settings, tier, ws=ws, generator=generator, face_model=face_model)
        parameters = {"tier": tier, "tags": [a.tag for a in assets], "face_model": face_model}
        start = time.perf_counter()
        provider = getattr(cleaner, "execution_provider", None)
        with ws.runs.track("clean", parameters, execution_provider=provider) as run:
            results = make_clean_references(assets, cleaner, out_dir=ws.files_dir / "clean", progress=progress)
            ws.clean.save(results, run_id=run.run_id)
            seconds = time.perf_counter() - start
            run.log(
                Metric("assets", len(assets), "assets"),
                Metric("clean_ok", sum(r.status == "ok" for r in results), "sheets"),
                Metric("clean_failed", sum(r.status != "ok" for r in results), "sheets"),
                Metric("seconds_per_asset", seconds / max(len(assets), 1), "s"),
            )
    return CleanRun(run.run_id, tier, results, seconds)

"""A tracked clean-sheet run over a workspace's assets: what ``refbench clean`` calls.

Tier 1 (``original``) and tier 2 (``rembg-gray``) run offline; tier 3 (``generative``) needs an image
generator and validates every sheet with the workspace's face model and calibrated threshold,
falling back to tier 2; tier 4 (``multi-angle``) generates the views a character's photos lack, each
checked for identity, head angle and face size (``refbench.pipelines.multi_angle``). ``auto`` picks a tier
per asset from its quality, its view sheet and what generation would cost (``choose_tier``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from refbench.clean import MULTI_ANGLE, TIERS, Cleaner, CleanResult, create_cleaner, make_clean_references
from refbench.clean.generative import ImageGenerator
from refbench.errors import OptionError, UnknownBackendError, UnknownTagError
from refbench.faces import FaceAnalyzer, create_face_analyzer
from refbench.generation.attempts import MAX_ATTEMPTS
from refbench.generation.images import IMAGE_MODEL, attempt_cost_usd
from refbench.pipelines.common import face_threshold
from refbench.pipelines.multi_angle import current_sheet, multi_angle_sheets
from refbench.registry import Workspace
from refbench.settings import Settings
from refbench.types import Asset, AssetSet, Metric, Progress

# A background swap or a studio re-shoot means nothing for a scene photo.
CLEANABLE_TYPES = ("character", "prop", "vehicle", "animal")
AUTO = "auto"
POOR_FACE_QUALITY = 0.6  # below this a character's best photo is worth a generated (tier 3) sheet
MIN_CROP_SIDE_PX = 64  # background removal on smaller crops removes more subject than background


@dataclass(frozen=True)
class TierChoice:
    """The tier ``auto`` picked for one asset, why, and the most it may cost (every attempt failing)."""

    tag: str
    tier: str
    reason: str
    max_cost_usd: float = 0.0


@dataclass(frozen=True)
class CleanRun:
    """One clean-sheet run: its id, the tier asked for, and every stored result row."""

    run_id: str
    tier: str
    results: list[CleanResult]
    seconds: float
    choices: list[TierChoice] = field(default_factory=list)  # auto: the tier of each asset and why

    @property
    def cost_usd(self) -> float:
        """USD spent on generation (rows that record a USD cost)."""
        return float(sum(r.cost or 0.0 for r in self.results if r.cost_unit == "USD"))


def select_assets(assets: AssetSet, tags: Sequence[str]) -> list[Asset]:
    """The named assets, or every cleanable one when ``tags`` is empty."""
    if not tags:
        return assets.of_type(*CLEANABLE_TYPES)
    unknown = [t for t in tags if t not in assets]
    if unknown:
        raise UnknownTagError(unknown[0], assets.tags)
    return [assets[t] for t in tags]


def choose_tier(asset: Asset, *, missing_views: int, generator_model: str | None, budget_left_usd: float) -> TierChoice:
    """The clean tier for one asset: generation where it adds what photos lack and the budget allows, else local.

    Characters missing views get tier 4 (each view up to 3 attempts); characters whose best face is poor
    (quality < 0.6) get tier 3; everything else, and everything without a generator or budget, the free local
    tiers: tier 2, or tier 1 for crops too small for background removal.
    """
    per_attempt = attempt_cost_usd(generator_model or IMAGE_MODEL)
    if asset.asset_type == "character" and generator_model is not None:
        views_cost = missing_views * MAX_ATTEMPTS * per_attempt
        if missing_views and views_cost <= budget_left_usd:
            return TierChoice(asset.tag, MULTI_ANGLE, f"{missing_views} view(s) missing from its photos", views_cost)
        quality = asset.face.quality_score if asset.face else (asset.quality or 0.0)
        if quality < POOR_FACE_QUALITY and MAX_ATTEMPTS * per_attempt <= budget_left_usd:
            return TierChoice(
                asset.tag,
                "generative",
                f"best face quality {quality:.2f} < {POOR_FACE_QUALITY}",
                MAX_ATTEMPTS * per_attempt,
            )
        if missing_views:
            return TierChoice(asset.tag, "rembg-gray", f"{missing_views} view(s) missing but over the budget")
    side = min(asset.image_wh or (0, 0)) if asset.asset_type == "environment" else _crop_side(asset)
    if side < MIN_CROP_SIDE_PX:
        return TierChoice(asset.tag, "original", f"crop {side} px: too small for background removal")
    local = "no image generator (no API key or --base-url)" if generator_model is None else "its photos suffice"
    return TierChoice(asset.tag, "rembg-gray", f"background removal is free and local; {local}")


def _crop_side(asset: Asset) -> int:
    if asset.bbox_xyxy is None:
        return MIN_CROP_SIDE_PX
    x1, y1, x2, y2 = asset.bbox_xyxy
    return int(min(x2 - x1, y2 - y1))


class CleanModels:
    """The models a clean run's tiers share, each loaded once, when a tier first needs it (``--auto`` may choose
    rembg-gray, generative, whose fallback is rembg-gray, and multi-angle in one run)."""

    def __init__(self, settings: Settings, *, face_model: str) -> None:
        self.settings, self.face_model = settings, face_model

    @cached_property
    def rembg(self) -> Cleaner:
        return create_cleaner("rembg-gray", model_dir=self.settings.models, providers=self.settings.providers)

    @cached_property
    def faces(self) -> FaceAnalyzer:
        return create_face_analyzer(self.face_model, model_dir=self.settings.models, providers=self.settings.providers)


def build_cleaner(tier: str, *, ws: Workspace, generator: ImageGenerator | None, models: CleanModels) -> Cleaner:
    """The cleaner for ``tier`` with this workspace's models (tier 3: face model, identities, threshold)."""
    if tier == "original":
        return create_cleaner("original")
    if tier == "rembg-gray":
        return models.rembg
    if tier != "generative":
        raise UnknownBackendError("clean tier", tier, [*TIERS, AUTO])
    if generator is None:
        raise OptionError("tier generative needs an image generator (e.g. GeminiImageGenerator)")
    return create_cleaner(
        "generative",
        generator=generator,
        face_analyzer=models.faces,
        identities=ws.identities.centroids(models.face_model),
        threshold=face_threshold(ws, models.face_model).value,
        fallback=models.rembg,
    )


def run_clean_sheets(
    settings: Settings,
    *,
    tier: str,
    tags: Sequence[str] = (),
    generator: ImageGenerator | None = None,
    face_model: str | None = None,
    max_cost_usd: float = 1.0,
    progress: Progress | None = None,
) -> CleanRun:
    """Make clean references of ``tags`` (default: every cleanable asset) and store them as a ``clean`` run.

    ``tier`` is a tier name, or ``auto`` (a tier per asset, spending at most ``max_cost_usd`` on generation in
    the worst case: every attempt failing).
    """
    if tier not in (*TIERS, AUTO):
        raise UnknownBackendError("clean tier", tier, [*TIERS, AUTO])
    if tier == MULTI_ANGLE and generator is None:
        raise OptionError("tier multi-angle needs an image generator (an API key, or --base-url of a fake)")
    face_model = face_model or settings.face_model
    with Workspace.open(settings, create=False) as ws:
        assets = select_assets(ws.assets.list(), tags)
        choices = _choices(ws, assets, tier=tier, generator=generator, face_model=face_model, budget=max_cost_usd)
        parameters = {"tier": tier, "tags": [a.tag for a in assets], "face_model": face_model}
        if tier == AUTO:
            parameters |= {"chosen": {c.tag: c.tier for c in choices}, "max_cost_usd": max_cost_usd}
        tiers = list(dict.fromkeys(c.tier for c in choices))
        models = CleanModels(settings, face_model=face_model)
        cleaners = {t: build_cleaner(t, ws=ws, generator=generator, models=models) for t in tiers if t != MULTI_ANGLE}
        analyzer = models.faces if MULTI_ANGLE in tiers else None
        loaded = [*cleaners.values(), analyzer]
        provider = next((p for m in loaded if (p := getattr(m, "execution_provider", None))), None)
        start = time.perf_counter()
        with ws.runs.track("clean", parameters, execution_provider=provider) as run:
            results: list[CleanResult] = []
            for chosen in tiers:
                group = [a for a, c in zip(assets, choices, strict=True) if c.tier == chosen]
                if chosen != MULTI_ANGLE:
                    results += make_clean_references(
                        group,
                        cleaners[chosen],
                        out_dir=ws.files_dir / "clean",
                        progress=_shifted(progress, done=len(results), total=len(assets)),
                    )
                    continue
                results += multi_angle_sheets(
                    ws,
                    group,
                    generator=generator,
                    analyzer=analyzer,
                    threshold=face_threshold(ws, face_model).value,
                    run_id=run.run_id,
                    limits=settings.image_limits,
                )
            ws.clean.save(results, run_id=run.run_id)
            seconds = time.perf_counter() - start
            run.log(
                Metric("assets", len(assets), "assets"),
                Metric("clean_ok", sum(r.status == "ok" for r in results), "sheets"),
                Metric("clean_failed", sum(r.status != "ok" for r in results), "sheets"),
                Metric("seconds_per_asset", seconds / max(len(assets), 1), "s"),
                Metric("cost_usd", sum(r.cost or 0.0 for r in results if r.cost_unit == "USD"), "USD"),
            )
    return CleanRun(run.run_id, tier, results, seconds, choices if tier == AUTO else [])


def _choices(
    ws: Workspace,
    assets: Sequence[Asset],
    *,
    tier: str,
    generator: ImageGenerator | None,
    face_model: str,
    budget: float,
) -> list[TierChoice]:
    """The tier of each asset: the one asked for, or ``auto``'s pick within the budget."""
    if tier != AUTO:
        return [TierChoice(a.tag, tier, "asked for") for a in assets]
    model = None if generator is None else getattr(generator, "model", IMAGE_MODEL)
    choices, left = [], budget
    for asset in assets:
        missing = len(current_sheet(ws, asset.tag, face_model=face_model)[0].missing) if asset.face else 0
        choice = choose_tier(asset, missing_views=missing, generator_model=model, budget_left_usd=left)
        left -= choice.max_cost_usd
        choices.append(choice)
    return choices


def _shifted(progress: Progress | None, *, done: int, total: int) -> Progress | None:
    """``progress`` of one tier's group counted within the whole run (groups run one after another)."""
    if progress is None:
        return None
    return lambda step, _group_total, label: progress(done + step, total, label)

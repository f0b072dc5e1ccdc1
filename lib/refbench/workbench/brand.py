"""Notebook 06, brand controls: a logo overlay with every corner's figures and the one chosen, the logo verdict,
and the quality tiers with their costs. Figures are built without pyplot so an exported report reads offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from refbench.brand.logos import LogoDetector
from refbench.generation.costs import PRICE_TABLE_DATE
from refbench.generation.tiers import TIERS, scene_costs
from refbench.library.images import load_rgba
from refbench.pipelines.brand import OverlayOutcome


def overlay_figure(outcome: OverlayOutcome, *, title: str = "") -> Figure:
    """The output image with each corner's box: the chosen one green, faces-covered ones red, with their figures."""
    image = np.asarray(Image.open(outcome.out).convert("RGB"))
    figure = Figure(figsize=(9, 9 * image.shape[0] / image.shape[1] + 0.8))
    axis = figure.add_subplot(1, 1, 1)
    axis.imshow(image)
    axis.axis("off")
    for score in outcome.plan.placement.scores:
        x, y, w, h = score.xywh
        chosen = score.corner == outcome.plan.placement.corner
        colour = "lime" if chosen else ("red" if score.face_overlap > 0 else "yellow")
        axis.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=2.5 if chosen else 1.2))
        label = f"{score.corner}\nedges {score.edge_density:.1%}, sd {score.luma_sd:.0f}"
        label += f"\nface {score.face_overlap:.0%}" if score.face_overlap > 0 else ""
        axis.text(
            x,
            y + h + 4 if y < image.shape[0] / 2 else y - 4,
            label,
            color=colour,
            fontsize=7,
            va="top" if y < image.shape[0] / 2 else "bottom",
            bbox={"facecolor": "black", "alpha": 0.5, "pad": 1},
        )
    figure.suptitle(title or f"{outcome.plan.placement.corner} ({outcome.corner_source})", fontsize=10)
    return figure


def corner_rows(outcome: OverlayOutcome) -> list[tuple[Any, ...]]:
    """Every corner's figures as table rows (header first)."""
    rows: list[tuple[Any, ...]] = [("corner", "chosen", "busyness", "edge density", "luma sd", "face overlap")]
    for s in outcome.plan.placement.scores:
        chosen = "yes" if s.corner == outcome.plan.placement.corner else ""
        rows.append((s.corner, chosen, s.busyness, s.edge_density, s.luma_sd, s.face_overlap))
    return rows


def logo_verdict_rows(logo_file: str) -> list[tuple[Any, ...]]:
    """The logo detector's verdict on a file (text not read): confidence and each reason."""
    verdict = LogoDetector(max_reasons=7).judge(load_rgba(Path(logo_file)))
    rows: list[tuple[Any, ...]] = [("logo?", "P(logo)", "evidence")]
    rows += [("yes" if verdict.is_logo else "no", verdict.confidence, reason) for reason in verdict.reasons]
    return rows


def tier_rows(*, duration_s: int = 8) -> list[tuple[Any, ...]]:
    """The quality tiers and what one scene of ``duration_s`` costs at each (prices as of the table's date)."""
    rows: list[tuple[Any, ...]] = [
        (
            "tier",
            "video model",
            "resolution",
            "image model",
            "candidates",
            "clean sheets",
            "describer",
            "$ per storyboard image",
            f"$ per {duration_s} s video",
            f"$ per scene (prices of {PRICE_TABLE_DATE})",
        ),
    ]
    for tier in TIERS.values():
        lines = scene_costs(
            tier,
            scene_id="scene",
            duration_s=duration_s,
            resolution=tier.resolution,
            new_clean_sheets=0,
            new_descriptions=0,
        )
        by_item = {line.item: line for line in lines}
        rows.append(
            (
                tier.name,
                tier.video_model,
                tier.resolution,
                tier.image_model,
                tier.storyboard_candidates,
                tier.clean_tier,
                tier.describer,
                by_item["storyboard_images"].unit_usd,
                by_item["video"].usd,
                sum(line.usd or 0.0 for line in lines),
            )
        )
    return rows

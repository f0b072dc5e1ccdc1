"""Quality tiers: ``draft``, ``standard`` and ``final`` presets for a plan, and what each costs per scene.

A tier names the video model and resolution of the Veo request, the image model and size of storyboard images
and how many candidates a scene gets, the clean-sheet tier and the describer. Tiers only choose among values
the pre-flight checks accept (``check_tier`` proves it for each, and the tests for every tier and API mode); a
scene's own resolution, when its file sets one, wins over the tier's. 1080p and 4k take 8 s only: a shorter
scene keeps its duration at 720p, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from refbench.clean import CLEANERS
from refbench.errors import UnknownNameError
from refbench.generation.attempts import MAX_ATTEMPTS
from refbench.generation.costs import CostLine, description_usd, unit_price
from refbench.generation.veo import HIGH_RESOLUTIONS, RESOLUTIONS

# Image models and the sizes each takes (google-genai ImageConfig.image_size; 2.5 Flash Image has one size).
IMAGE_SIZES = {
    "gemini-2.5-flash-image": ("1K",),
    "gemini-3.1-flash-image-preview": ("512", "1K", "2K", "4K"),
    "gemini-3-pro-image-preview": ("1K", "2K", "4K"),
}
CLEAN_TIERS = tuple(CLEANERS)
DESCRIBERS = ("local", "gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro")


@dataclass(frozen=True)
class Tier:
    """One quality preset."""

    name: str
    video_model: str
    resolution: str
    image_model: str
    image_size: str
    storyboard_candidates: int  # images generated per scene to choose the storyboard frame from
    clean_tier: str  # original (tier 1) | rembg-gray (tier 2, local) | generative (tier 3, an image model)
    describer: str  # local, or the Gemini text model that describes assets not described yet

    def resolution_for(self, *, duration_s: int, scene_resolution: str | None) -> tuple[str, str]:
        """(resolution, note) for a scene: its own when set, else the tier's, 720p when 1080p/4k would need 8 s."""
        if scene_resolution is not None:
            return scene_resolution, "the scene's own resolution"
        if self.resolution in HIGH_RESOLUTIONS and duration_s != 8:
            return "720p", f"{self.resolution} takes 8 s only: the scene's {duration_s} s stays, at 720p"
        return self.resolution, f"tier {self.name}"


TIERS: dict[str, Tier] = {
    "draft": Tier(
        "draft", "veo-3.1-fast-generate-preview", "720p", "gemini-2.5-flash-image", "1K", 1, "original", "local"
    ),
    "standard": Tier(
        "standard",
        "veo-3.1-generate-preview",
        "720p",
        "gemini-2.5-flash-image",
        "1K",
        2,
        "rembg-gray",
        "gemini-2.5-flash-lite",
    ),
    "final": Tier(
        "final",
        "veo-3.1-generate-preview",
        "1080p",
        "gemini-3-pro-image-preview",
        "1K",
        4,
        "generative",
        "gemini-2.5-flash",
    ),
}


def get_tier(name: str) -> Tier:
    """The tier called ``name``.

    Raises:
        UnknownNameError: no such tier (with the closest names).
    """
    if name not in TIERS:
        raise UnknownNameError("quality tier", name, TIERS)
    return TIERS[name]


def check_tier(tier: Tier) -> list[str]:
    """What is wrong with a tier's image and clean-sheet settings (empty: nothing). The Veo side is checked on
    every request by ``refbench.generation.veo``."""
    problems = []
    if tier.resolution not in RESOLUTIONS:
        problems.append(f"resolution {tier.resolution!r} is not one of {', '.join(RESOLUTIONS)}")
    if tier.image_size not in IMAGE_SIZES.get(tier.image_model, ()):
        sizes = ", ".join(IMAGE_SIZES.get(tier.image_model, ())) or "none known"
        problems.append(f"image model {tier.image_model!r} takes sizes {sizes}, not {tier.image_size!r}")
    if tier.clean_tier not in CLEAN_TIERS:
        problems.append(f"clean tier {tier.clean_tier!r} is not one of {', '.join(CLEAN_TIERS)}")
    if tier.describer not in DESCRIBERS:
        problems.append(f"describer {tier.describer!r} is not one of {', '.join(DESCRIBERS)}")
    if tier.storyboard_candidates < 1:
        problems.append("a scene needs at least one storyboard candidate")
    return problems


def scene_costs(
    tier: Tier,
    *,
    scene_id: str,
    duration_s: int,
    resolution: str,
    new_clean_sheets: int,
    new_descriptions: int,
    number_of_videos: int = 1,
) -> list[CostLine]:
    """The cost lines of one scene at ``tier``.

    Args:
        duration_s, resolution: of the scene's Veo request as built.
        new_clean_sheets: chosen references that still need a tier-3 sheet (counted at the worst case, every
            attempt used); ignored below the generative tier, whose sheets are made locally.
        new_descriptions: chosen references not described yet (each asset is counted once per plan).
    """
    image_usd = unit_price(tier.image_model, tier.image_size, "image")
    lines = [
        CostLine(
            scene_id,
            "video",
            tier.video_model,
            resolution,
            duration_s * number_of_videos,
            "second",
            unit_price(tier.video_model, resolution, "second"),
        ),
    ]
    if tier.storyboard_candidates:
        candidates = tier.storyboard_candidates
        lines.append(
            CostLine(scene_id, "storyboard_images", tier.image_model, tier.image_size, candidates, "image", image_usd)
        )
    if tier.clean_tier == "generative" and new_clean_sheets:
        attempts = new_clean_sheets * MAX_ATTEMPTS  # tier-3 clean sheets try at most this often
        lines.append(
            CostLine(scene_id, "clean_sheets", tier.image_model, tier.image_size, attempts, "image", image_usd)
        )
    if new_descriptions and tier.describer != "local":
        lines.append(
            CostLine(
                scene_id,
                "descriptions",
                tier.describer,
                "*",
                new_descriptions,
                "asset",
                description_usd(tier.describer),
            )
        )
    return lines

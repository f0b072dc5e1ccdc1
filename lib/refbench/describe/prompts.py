"""Prompts and response schemas of the Gemini describer, one per asset type.

Changing any text or schema here changes what a model returns: bump ``PROMPT_VERSION`` so
cached descriptions made with the old prompts are not reused (the cache key holds it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

PROMPT_VERSION = "describe-v1"

SYSTEM_INSTRUCTION = (
    "You describe reference images for image and video generators (Veo, Imagen, Gemini image models). "
    "Describe only what is visible in the image; never guess names or identities of real people. "
    "Write prompts in English, concrete and visual, without camera brand names or artist names. "
    "Answer with JSON that follows the response schema exactly."
)


class _Common(BaseModel):
    reverse_prompt: str = Field(
        description=(
            "One paragraph (40-90 words) that would make an image generator recreate this exact subject: "
            "subject first, then the details that make it recognisable, then framing, lighting and background."
        )
    )
    visual_description: str = Field(
        description=(
            "The visual facts that must stay the same in every shot that uses this reference, as a short list "
            "in one paragraph (colours, shapes, materials, marks)."
        )
    )
    suggested_name: str = Field(description="A 2-4 word human-friendly name for the asset, e.g. 'Red Vintage Bicycle'.")
    suitability: int = Field(
        ge=1,
        le=10,
        description=(
            "How useful this crop is as a generator reference, 1 (useless: blurred, tiny, occluded) to 10 (sharp, "
            "well lit, subject fully visible and large)."
        ),
    )
    suitability_reason: str = Field(description="One sentence: what raises or lowers the suitability.")


class CharacterDescription(_Common):
    apparent_age_range: str = Field(description="Apparent age range, e.g. '30-40'.")
    hair: str = Field(description="Hair colour, length, style; facial hair if any.")
    face: str = Field(description="Face shape and distinctive features: eyebrows, glasses, moles, makeup.")
    expression: str
    clothing: str = Field(description="Visible clothing and accessories with colours.")
    pose_and_view: str = Field(
        description=(
            "Head pose in CAMERA terms ('facing camera-left'); say 'subject's left' only when you mean the person's "
            "own side."
        )
    )
    lighting: str


class PropDescription(_Common):
    object_kind: str
    materials: str
    colours: str = Field(description="Main colours with where they are on the object.")
    shape_and_proportions: str
    markings: str = Field(description="Visible text, logos, patterns or damage; 'none' when there are none.")
    scale_cues: str = Field(description="How big the object is, judged from its context.")


class AnimalDescription(_Common):
    species: str
    breed_guess: str = Field(description="Most likely breed or 'unknown'.")
    coat: str = Field(description="Coat or plumage colours, pattern and texture.")
    markings: str
    pose: str


class VehicleDescription(_Common):
    vehicle_kind: str
    make_model_guess: str = Field(description="Make/model/era if recognisable from the body, else 'unknown'.")
    body_colour: str
    distinctive_features: str = Field(description="Wheels, lights, decals, roof racks, damage, number of doors.")
    viewpoint: str = Field(description="Which side of the vehicle faces the camera.")


class EnvironmentDescription(_Common):
    setting: str = Field(description="Indoor/outdoor and the kind of place.")
    time_of_day: str
    weather: str = Field(description="Weather or 'indoor'.")
    lighting: str
    key_elements: list[str] = Field(description="3-8 elements that define the place, most important first.")
    camera: str = Field(description="Apparent lens (wide/normal/tele), camera height and angle.")
    palette: str


class StyleDescription(_Common):
    medium: str = Field(description="Photograph, oil painting, 3D render, pixel art, ...")
    palette: str
    lighting: str
    composition: str
    texture_and_grain: str
    era_or_movement: str


@dataclass(frozen=True)
class AssetPrompt:
    """What the model is told about one asset type and the JSON it must answer with."""

    asset_type: str
    instruction: str
    schema: type[_Common]


PROMPTS: dict[str, AssetPrompt] = {
    p.asset_type: p
    for p in (
        AssetPrompt(
            "character",
            (
                "The image is a face crop of one person (a CHARACTER reference). Describe the person so a generator keeps "
                "their identity: apparent age, hair, face shape and distinctive features, expression, clothing, head pose "
                "and lighting. Do not name or guess who the person is."
            ),
            CharacterDescription,
        ),
        AssetPrompt(
            "prop",
            (
                "The image is a crop of one object (a PROP reference). Describe the object so a generator reproduces it "
                "exactly: kind, materials, colours and where they are, shape and proportions, text/logos/patterns, "
                "scale. Ignore the background."
            ),
            PropDescription,
        ),
        AssetPrompt(
            "animal",
            (
                "The image is a crop of one animal (a creature reference). Describe species, likely breed, coat colours "
                "and pattern, distinctive markings and pose, so the same individual animal can be generated again."
            ),
            AnimalDescription,
        ),
        AssetPrompt(
            "vehicle",
            (
                "The image is a crop of one vehicle (a VEHICLE reference). Describe kind, likely make/model/era, body "
                "colour, distinctive features (wheels, lights, decals, damage) and the side facing the camera."
            ),
            VehicleDescription,
        ),
        AssetPrompt(
            "environment",
            (
                "The image is a whole scene (an ENVIRONMENT reference). Describe the place so a generator can put other "
                "subjects into it: setting, time of day, weather, lighting, the elements that define it, camera and "
                "colour palette. Mention people or animals only as part of the scene."
            ),
            EnvironmentDescription,
        ),
        AssetPrompt(
            "style",
            (
                "The image is a STYLE reference. Describe how it looks, not what it shows: medium, palette, lighting, "
                "composition, texture and grain, era or art movement."
            ),
            StyleDescription,
        ),
    )
}


def prompt_for(asset_type: str) -> AssetPrompt:
    """The prompt of an asset type; unknown types fall back to the prop prompt (one object in a crop)."""
    return PROMPTS.get(asset_type, PROMPTS["prop"])


def user_text(asset_type: str, *, label: str) -> str:
    """The text part sent beside the crop: the type marker, the detector's label and the instruction."""
    return f"ASSET TYPE: {asset_type}\nDETECTOR LABEL: {label}\n\n{prompt_for(asset_type).instruction}"

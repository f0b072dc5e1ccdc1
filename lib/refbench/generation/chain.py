"""Sequential image chains: scene i takes image i-1 as its visual reference (scene 1 the user's).

The prompt carries the registry's description of every placed subject so text reinforces the
image, and the content is ordered prompt first, then the image, which keeps characters more
consistent with Gemini image models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from refbench.clean.generative import ImageGenerator
from refbench.errors import InputNotFound, OptionError
from refbench.generation.images import GeminiImageGenerator
from refbench.generation.veo import prompt_with_descriptions
from refbench.select.scenes import SceneSpec
from refbench.types import AssetSet

__all__ = ["ChainStep", "GeminiImageGenerator", "build_image_chain", "run_image_chain", "subject_descriptions"]


@dataclass(frozen=True)
class ChainStep:
    """One image of the chain: its full prompt and where its reference image comes from."""

    scene_id: str
    prompt: str
    reference_path: Path | None  # the user's reference for the first step
    reference_from: str | None  # scene id whose output is the reference (later steps)

    def contents(self, reference_rgb: np.ndarray) -> list[Any]:
        """``generate_content`` contents: the prompt first, then the reference image."""
        return [self.prompt, Image.fromarray(reference_rgb)]


def subject_descriptions(scene: SceneSpec, registry: AssetSet) -> dict[str, str]:
    """Tag → registry description (``visual_description``, else the asset name) of each placed asset."""
    return {tag: registry[tag].description for tag in scene.tags}


def build_image_chain(scenes: Sequence[SceneSpec], registry: AssetSet, *, first_reference: Path) -> list[ChainStep]:
    """The chain plan: step 1 uses ``first_reference``, step i the output of step i-1."""
    if not scenes:
        raise OptionError("an image chain needs at least one scene")
    if not Path(first_reference).is_file():
        raise InputNotFound(f"first reference image {first_reference} does not exist")
    steps = []
    for index, scene in enumerate(scenes):
        prompt = prompt_with_descriptions(scene.prompt, subject_descriptions(scene, registry))
        steps.append(
            ChainStep(
                scene.scene_id,
                prompt,
                Path(first_reference) if index == 0 else None,
                None if index == 0 else scenes[index - 1].scene_id,
            )
        )
    return steps


def run_image_chain(steps: Sequence[ChainStep], generator: ImageGenerator, *, out_dir: Path) -> list[Path]:
    """Generate the chain in order; each output is a new file ``<out_dir>/<scene_id>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[Path] = []
    previous: Path | None = None
    for step in steps:
        reference_path = step.reference_path or previous
        with Image.open(reference_path) as image:
            reference_rgb = np.asarray(image.convert("RGB"))
        path = out_dir / f"{step.scene_id}.png"
        Image.fromarray(generator.generate(step.prompt, reference_rgb)).save(path)
        outputs.append(path)
        previous = path
    return outputs

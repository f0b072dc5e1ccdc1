"""Sequential image chains: each step takes the previous step's output as its visual reference.

The first step takes the user's reference image, or nothing (a text-only first step). The prompt carries
the registry's description of every placed subject so that text reinforces the image, and is sent first,
then the reference (SDK documentation order). Video chains make two frames per scene — a start frame
(referencing the previous scene's start frame) and an end frame (referencing its own start frame) — for
Veo first/last-frame interpolation.

Identity is checked at every step (``refbench.identity.checks.CharacterJudge``): FaceSim-Arc of each placed
character against the output face that matches it best, at the calibrated threshold. A chain that starts
from text cannot hold a registered face, so there the first output's largest face becomes the identity the
later steps are held to (registered characters are still measured, as figures that never fail a step). A step
below the threshold is retried (at most three attempts); then the chain stops, or with ``on_drift="continue"``
carries on from the best attempt and is marked drifted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refbench.errors import InputNotFound, OptionError
from refbench.faces import largest_face
from refbench.generation.attempts import MAX_ATTEMPTS, StepResult, generate_checked
from refbench.generation.images import GeminiImageGenerator, ImageGenerator, ImageInput, ImageRequest
from refbench.generation.veo import prompt_with_descriptions
from refbench.identity.checks import CharacterJudge, Judgement
from refbench.ingest import load_image_rgb
from refbench.select.scenes import SceneSpec
from refbench.types import AssetSet

__all__ = [
    "ChainResult",
    "ChainStep",
    "GeminiImageGenerator",
    "build_image_chain",
    "run_image_chain",
    "subject_descriptions",
]

ON_DRIFT = ("stop", "continue")
FIRST_OUTPUT = "first output"  # the identity a text-only chain carries from its first image
FRAME_PROMPTS = {
    "start": "This image is the first frame of the shot: its opening moment.",
    "end": "This image is the last frame of the shot: its closing moment, with the same place, light, people and "
    "clothing as the reference image (the shot's first frame).",
}


@dataclass(frozen=True)
class ChainStep:
    """One image of the chain: its prompt, where its reference comes from, and whose identity it must keep."""

    scene_id: str
    prompt: str
    reference_path: Path | None  # the user's reference (first step); None: text only, or the previous output
    reference_from: str | None  # name of the step whose output is the reference (later steps)
    frame: str = "image"  # image | start | end
    characters: tuple[str, ...] = ()  # placed character tags

    @property
    def name(self) -> str:
        """``<scene id>``, or ``<scene id>:start`` / ``:end`` in a video chain."""
        return self.scene_id if self.frame == "image" else f"{self.scene_id}:{self.frame}"

    def request(self, reference: ImageInput | None, *, aspect_ratio: str | None = None) -> ImageRequest:
        """The request: the prompt first, then the reference (none for a text-only step)."""
        return ImageRequest(self.prompt, () if reference is None else (reference,), aspect_ratio=aspect_ratio)


@dataclass(frozen=True)
class ChainResult:
    """A chain as run: each step's checked result (steps after a stop are absent) and the images it went on with."""

    steps: tuple[ChainStep, ...]
    results: tuple[StepResult, ...]
    outputs: dict[str, Path]  # step name -> image the chain continued from
    identity: str  # registry (placed characters) | first output (a text-only start)

    @property
    def status(self) -> str:
        """``ok`` (every step kept identity), ``drifted`` (continued past a failed step) or ``stopped``."""
        if len(self.results) < len(self.steps):
            return "stopped"
        return "ok" if all(r.status == "ok" for r in self.results) else "drifted"


def subject_descriptions(scene: SceneSpec, registry: AssetSet) -> dict[str, str]:
    """Tag → registry description (``visual_description``, else the asset name) of each placed asset."""
    return {tag: registry[tag].description for tag in scene.tags}


def build_image_chain(
    scenes: Sequence[SceneSpec], registry: AssetSet, *, first_reference: Path | None = None, frames: bool = False
) -> list[ChainStep]:
    """The chain plan: step 1 uses ``first_reference`` (``None``: text only), every later step the output before.

    With ``frames`` each scene has a start frame (after the previous scene's start frame) and an end frame
    (after its own start frame), for Veo first/last-frame interpolation.
    """
    if not scenes:
        raise OptionError("an image chain needs at least one scene")
    if first_reference is not None and not Path(first_reference).is_file():
        raise InputNotFound(f"first reference image {first_reference} does not exist")
    steps: list[ChainStep] = []
    previous: str | None = None
    for scene in scenes:
        prompt = prompt_with_descriptions(scene.prompt, subject_descriptions(scene, registry))
        characters = tuple(t for t in scene.tags if registry[t].asset_type == "character")
        first = Path(first_reference) if not steps and first_reference is not None else None
        if not frames:
            steps.append(ChainStep(scene.scene_id, prompt, first, previous, "image", characters))
            previous = steps[-1].name
            continue
        start = ChainStep(scene.scene_id, f"{prompt}\n\n{FRAME_PROMPTS['start']}", first, previous, "start", characters)
        end = ChainStep(scene.scene_id, f"{prompt}\n\n{FRAME_PROMPTS['end']}", None, start.name, "end", characters)
        steps += [start, end]
        previous = start.name
    return steps


def run_image_chain(
    steps: Sequence[ChainStep],
    generator: ImageGenerator,
    *,
    out_dir: Path,
    judge: CharacterJudge | None = None,
    identities: Mapping[str, np.ndarray] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    on_drift: str = "stop",
    aspect_ratio: str | None = None,
) -> ChainResult:
    """Generate the chain in order, each step checked for its characters' identity.

    Args:
        steps: From ``build_image_chain``.
        generator: The image generator.
        out_dir: Where outputs go (``<step name>-<attempt>.png``, new files).
        judge: FaceSim-Arc per character; ``None`` runs unchecked (every output kept).
        identities: Character tag → embedding (D,) of the registered characters.
        max_attempts: Per step (1..3).
        on_drift: After a step's last failed attempt: ``stop`` the chain, or ``continue`` from its best attempt.
        aspect_ratio: Of every generated image.
    """
    if on_drift not in ON_DRIFT:
        raise OptionError(f"on_drift must be one of {', '.join(ON_DRIFT)}, got {on_drift!r}")
    text_first = bool(steps) and steps[0].reference_path is None
    carried: dict[str, np.ndarray] = {}
    results: list[StepResult] = []
    outputs: dict[str, Path] = {}
    for step in steps:
        source = step.reference_path or outputs.get(step.reference_from or "")
        reference = None if source is None else ImageInput.fitted(load_image_rgb(source), _role(step), source=source)
        placed = {t: identities[t] for t in step.characters if t in (identities or {})}
        gates, measured = (carried, placed) if text_first else (placed, {})
        result = generate_checked(
            step.request(reference, aspect_ratio=aspect_ratio),
            name=step.name,
            generator=generator,
            judge=_judging(judge, gates, measured, need_face=bool(step.characters)),
            out_dir=out_dir,
            max_attempts=max_attempts,
        )
        results.append(result)
        kept = result.output_path or (result.best.output_path if on_drift == "continue" and result.best else None)
        if kept is None:
            break
        outputs[step.name] = kept
        if text_first and not carried and judge is not None:
            carried = _largest_embedding(judge, kept)
    return ChainResult(tuple(steps), tuple(results), outputs, FIRST_OUTPUT if text_first else "registry")


def _role(step: ChainStep) -> str:
    return "first reference" if step.reference_path is not None else f"output of {step.reference_from}"


def _judging(
    judge: CharacterJudge | None,
    gates: Mapping[str, np.ndarray],
    measured: Mapping[str, np.ndarray],
    *,
    need_face: bool,
) -> Callable[[np.ndarray], Judgement]:
    if judge is None:
        return lambda image_rgb: Judgement(None, (), None)
    return lambda image_rgb: judge(image_rgb, dict(gates), need_face=need_face, measured=dict(measured))


def _largest_embedding(judge: CharacterJudge, path: Path) -> dict[str, np.ndarray]:
    """``{FIRST_OUTPUT: embedding}`` of the largest face of an image, or nothing when it has no face."""
    face = largest_face(judge.analyzer.analyze(load_image_rgb(path)))
    return {FIRST_OUTPUT: np.asarray(face.data["embedding"][0], np.float32)} if len(face) else {}

"""Tier 4: a generated multi-angle sheet — one image request per view a character's photos lack.

Each request sends one face-bearing image, the registered photo whose measured yaw is closest to the view
asked for, framed so the face spans a fifth of the width (the framing asked for), and describes the pose
in image-edge words only. A generated view is kept only when every check passes: ArcFace against the
identity clears the calibrated threshold, the measured yaw lies in the view's range (sign *and* size: a
mirrored head fails), and the face width is in the 15–25% band. At most three attempts per view; then the
view is recorded as failed with each attempt's checks and cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from refbench.clean import CleanResult
from refbench.errors import InputError
from refbench.faces.pose import VIEWS, View
from refbench.generation.attempts import MAX_ATTEMPTS, StepResult, generate_checked
from refbench.generation.images import ImageGenerator, ImageInput, ImageRequest
from refbench.identity.checks import OutputJudge
from refbench.identity.views import ViewImage

TIER = 4
METHOD = "multi-angle"
VIEW_PROMPT = (
    "Studio reference photo of the same person as in the reference image{described}. Pose: {pose}. Head and upper "
    "body, centred, the face about one fifth of the image width; plain light grey background; soft even studio "
    "light; the same face, hair and clothing as in the reference; no text, no other people. Every direction "
    "refers to the edges of the image as it will be seen."
)


@dataclass(frozen=True)
class ViewReference:
    """A registered photo of the character, framed for a request, with the yaw measured on it."""

    yaw: float
    image: ImageInput


@dataclass(frozen=True)
class GeneratedView:
    """One view's checked generation."""

    view: View
    step: StepResult

    @property
    def image(self) -> ViewImage | None:
        """The accepted view as a sheet image (``None`` when every attempt failed)."""
        kept = self.step.accepted
        if kept is None or kept.output_path is None:
            return None
        return ViewImage(
            self.view, kept.output_path, "generated", kept.yaw or 0.0, kept.width_frac, similarity=kept.facesim
        )

    def clean_result(self, *, tag: str, asset_id: str, threshold: float, generator: str) -> CleanResult:
        """The view as a tier-4 clean-sheet row (cost in USD)."""
        best = self.step.best
        return CleanResult(
            tag,
            asset_id,
            TIER,
            f"{METHOD}:{generator}",
            best.output_path if best and best.output_path else Path(),
            status=self.step.status,
            prompt=self.step.prompt,
            similarity=None if best is None else best.facesim,
            threshold=threshold,
            attempts=len(self.step.attempts),
            cost=self.step.cost_usd,
            cost_unit="USD",
            message=self.step.message,
            view=self.view.value,
        )


def nearest_reference(references: Sequence[ViewReference], *, yaw: float, what: str) -> ViewReference:
    """The reference whose yaw is closest to ``yaw`` (the photo that shows most of that side of the face)."""
    if not references:
        raise InputError(f"no photo of the character to generate {what} from")
    return min(references, key=lambda r: abs(r.yaw - yaw))


def view_request(view: View, reference: ViewReference, *, description: str = "") -> ImageRequest:
    """The request for one view: the prompt first, then the one reference photo."""
    described = f" ({description.strip().rstrip('.')})" if description.strip() else ""
    prompt = VIEW_PROMPT.format(described=described, pose=VIEWS[view].prompt)
    return ImageRequest(prompt, (reference.image,), aspect_ratio="3:4")


def generate_views(
    views: Sequence[View],
    *,
    references: Sequence[ViewReference],
    generator: ImageGenerator,
    judge: OutputJudge,
    out_dir: Path,
    description: str = "",
    max_attempts: int = MAX_ATTEMPTS,
) -> list[GeneratedView]:
    """Generate each view from the nearest reference, keeping the first attempt that passes every check."""
    made = []
    for view in views:
        reference = nearest_reference(references, yaw=VIEWS[view].target_yaw, what=f"the {VIEWS[view].label} view")
        request = view_request(view, reference, description=description)
        step = generate_checked(
            request,
            name=f"view-{view.value}",
            generator=generator,
            judge=lambda rgb, view=view: judge(rgb, view=view),
            out_dir=out_dir,
            max_attempts=max_attempts,
        )
        made.append(GeneratedView(view, step))
    return made

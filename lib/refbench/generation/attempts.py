"""One generation step tried up to three times: each output is checked, the first that passes every check is kept.

A step never passes silently: when no attempt passes, it is ``failed`` with every attempt's checks, cost and
error stored, and its best attempt (most checks passed, then highest FaceSim-Arc) named for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from refbench.assets.crops import save_png
from refbench.errors import GenerationError, ImageNotReturned, OptionError
from refbench.generation.images import ImageGenerator, ImageRequest
from refbench.identity.checks import Judgement, OutputCheck

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempt:
    """One generation of a step: the file it made (if any), its checks, and what it cost."""

    number: int
    output_path: Path | None
    checks: tuple[OutputCheck, ...] = ()
    facesim: float | None = None
    yaw: float | None = None
    width_frac: float | None = None
    cost_usd: float | None = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    api_attempts: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """An image came back and passed every check."""
        return self.error is None and self.output_path is not None and all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[str]:
        """Why this attempt was not kept."""
        return [self.error] if self.error else [f"{c.name}: {c.message}" for c in self.checks if not c.ok]


@dataclass(frozen=True)
class StepResult:
    """A checked generation step: its request, every attempt, and the output kept (``None`` when it failed)."""

    name: str
    prompt: str
    references: tuple[dict[str, Any], ...]
    attempts: tuple[Attempt, ...]

    @property
    def accepted(self) -> Attempt | None:
        """The attempt that passed, if one did."""
        return next((a for a in self.attempts if a.ok), None)

    @property
    def status(self) -> str:
        """``ok`` when an attempt passed, else ``failed``."""
        return "ok" if self.accepted else "failed"

    @property
    def output_path(self) -> Path | None:
        """The accepted output."""
        return self.accepted.output_path if self.accepted else None

    @property
    def best(self) -> Attempt | None:
        """The accepted attempt, else the one with the most checks passed (then the highest FaceSim-Arc)."""
        made = [a for a in self.attempts if a.output_path is not None]
        return self.accepted or max(made, key=lambda a: (sum(c.ok for c in a.checks), a.facesim or 0.0), default=None)

    @property
    def cost_usd(self) -> float:
        """USD of every attempt (unknown prices count 0)."""
        return float(sum(a.cost_usd or 0.0 for a in self.attempts))

    @property
    def message(self) -> str:
        """What happened, in one line."""
        if self.accepted:
            return f"accepted attempt {self.accepted.number} of {len(self.attempts)}"
        last = self.attempts[-1].problems if self.attempts else []
        return f"no attempt of {len(self.attempts)} passed; last: {'; '.join(last)}"


def generate_checked(
    request: ImageRequest,
    *,
    name: str,
    generator: ImageGenerator,
    judge: Callable[[np.ndarray], Judgement],
    out_dir: Path,
    max_attempts: int = MAX_ATTEMPTS,
) -> StepResult:
    """Generate ``request`` until ``judge`` passes an output, at most ``max_attempts`` times (1..3).

    Every output is written as ``<out_dir>/<name>-<attempt>.png`` (characters other than letters, digits, ``_.-``
    as ``-``; callers give each run its own folder, so nothing is overwritten). A service
    failure (after the retry policy's own retries) spends one attempt and is recorded with its cost.
    """
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise OptionError(f"max_attempts must be 1..{MAX_ATTEMPTS}, got {max_attempts}")
    attempts: list[Attempt] = []
    for number in range(1, max_attempts + 1):
        attempts.append(_attempt(request, number, name=name, generator=generator, judge=judge, out_dir=out_dir))
        if attempts[-1].ok:
            break
    return StepResult(name, request.prompt, tuple(request.describe()), tuple(attempts))


def _attempt(
    request: ImageRequest,
    number: int,
    *,
    name: str,
    generator: ImageGenerator,
    judge: Callable[[np.ndarray], Judgement],
    out_dir: Path,
) -> Attempt:
    try:
        made = generator.create(request)
    except ImageNotReturned as error:
        return Attempt(number, None, cost_usd=error.cost_usd, tokens_in=error.tokens_in, error=str(error))
    except GenerationError as error:
        return Attempt(number, None, cost_usd=0.0, error=str(error))
    path = save_png(made.image_rgb, out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}-{number}.png")
    judged = judge(made.image_rgb)
    measure = judged.measure
    return Attempt(
        number,
        path,
        judged.checks,
        facesim=judged.facesim,
        yaw=None if measure is None else measure.yaw,
        width_frac=None if measure is None else measure.width_frac,
        cost_usd=made.cost_usd,
        tokens_in=made.tokens_in,
        tokens_out=made.tokens_out,
        api_attempts=made.api_attempts,
        seconds=made.seconds,
    )


@dataclass(frozen=True)
class ImageJob:
    """A checked generation job (generated views, an identity image, a chain): its steps, in order."""

    kind: str  # multi_angle | identity_image | chain
    tag: str | None
    model: str
    steps: tuple[StepResult, ...]
    status: str  # ok | failed | stopped | refused
    parameters: dict[str, Any]
    message: str = ""

    @property
    def cost_usd(self) -> float:
        """USD of every attempt of every step."""
        return float(sum(step.cost_usd for step in self.steps))

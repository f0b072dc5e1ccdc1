"""What generation costs: one dated price table, with its sources, and the estimate of a plan's cost.

Prices are list prices of the paid tier of Google's APIs in USD. They change often: every row carries the date it
was read and where; ``REFBENCH_PRICES_FILE`` (a JSON object ``{"model|variant": usd, ...}``) overrides rows
without a code change, and every stored estimate records the table date it used.

Sources (read on the dates given; this machine cannot reach them, so verify before budgeting):

- Gemini API pricing, https://ai.google.dev/gemini-api/docs/pricing — Veo 3.1 and Veo 3.1 Fast per second of
  video with audio (720p/1080p; 4k since its December 2025 launch), Gemini image models per generated image
  (gemini-2.5-flash-image: 1290 output tokens x $30 per 1M tokens = $0.039 up to 1024 px), text models per 1M
  tokens. Transcriptions dated 2026-03-02 (Veo) and 2026-03-22 (images) agree with the figures below.
- Not in the table, reported by secondary sources only: a Veo 3.1 Fast price cut on 2026-04-07 ($0.12/s at
  1080p), Veo 3.1 Lite (2026-03-31, $0.08/s), the Batch API's 50% discount on images, and the announced
  shutdown of gemini-2.5-flash-image (2026-10-02). Check them, then override with ``REFBENCH_PRICES_FILE``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from refbench.errors import ConfigError

PRICE_TABLE_DATE = "2026-03-22"
GEMINI_PRICING = "https://ai.google.dev/gemini-api/docs/pricing"


@dataclass(frozen=True)
class Price:
    """One row: USD per ``unit`` of ``model`` (for a ``variant``: a resolution or image size, or ``*``)."""

    model: str
    variant: str
    usd: float
    unit: str  # second (of video) | image | mtok_in | mtok_out (1M tokens)
    as_of: str
    source: str = GEMINI_PRICING


PRICES: tuple[Price, ...] = (
    Price("veo-3.1-generate-preview", "720p", 0.40, "second", "2026-03-02"),
    Price("veo-3.1-generate-preview", "1080p", 0.40, "second", "2026-03-02"),
    Price("veo-3.1-generate-preview", "4k", 0.60, "second", "2026-03-02"),
    Price("veo-3.1-fast-generate-preview", "720p", 0.15, "second", "2026-03-02"),
    Price("veo-3.1-fast-generate-preview", "1080p", 0.15, "second", "2026-03-02"),
    Price("veo-3.1-fast-generate-preview", "4k", 0.35, "second", "2026-03-02"),
    Price("gemini-2.5-flash-image", "1K", 0.039, "image", "2026-03-22"),
    Price("gemini-3.1-flash-image-preview", "512", 0.045, "image", "2026-03-22"),
    Price("gemini-3.1-flash-image-preview", "1K", 0.067, "image", "2026-03-22"),
    Price("gemini-3.1-flash-image-preview", "2K", 0.101, "image", "2026-03-22"),
    Price("gemini-3.1-flash-image-preview", "4K", 0.151, "image", "2026-03-22"),
    Price("gemini-3-pro-image-preview", "1K", 0.134, "image", "2026-03-22"),
    Price("gemini-3-pro-image-preview", "2K", 0.134, "image", "2026-03-22"),
    Price("gemini-3-pro-image-preview", "4K", 0.24, "image", "2026-03-22"),
    # Text (descriptions), prompts <= 200k tokens; thinking tokens bill as output. GA prices of mid-2025.
    Price("gemini-2.5-flash", "*", 0.30, "mtok_in", "2025-06-17"),
    Price("gemini-2.5-flash", "*", 2.50, "mtok_out", "2025-06-17"),
    Price("gemini-2.5-flash-lite", "*", 0.10, "mtok_in", "2025-07-22"),
    Price("gemini-2.5-flash-lite", "*", 0.40, "mtok_out", "2025-07-22"),
    Price("gemini-2.5-pro", "*", 1.25, "mtok_in", "2025-06-17"),
    Price("gemini-2.5-pro", "*", 10.00, "mtok_out", "2025-06-17"),
    Price("gemini-2.0-flash", "*", 0.10, "mtok_in", "2025-02-05"),
    Price("gemini-2.0-flash", "*", 0.40, "mtok_out", "2025-02-05"),
    Price("gemini-2.0-flash-lite", "*", 0.075, "mtok_in", "2025-02-25"),
    Price("gemini-2.0-flash-lite", "*", 0.30, "mtok_out", "2025-02-25"),
)
# What one description call uses (measured on gemini-2.5-flash answers: a crop of up to 768 px is 258 tokens,
# the system and user prompt ~850, the JSON answer ~350).
DESCRIPTION_TOKENS_IN, DESCRIPTION_TOKENS_OUT = 1100, 350


def token_prices() -> dict[str, tuple[float, float]]:
    """Model → (USD per 1M input tokens, per 1M output tokens) of the text models."""
    table = price_table()
    models = {p.model for p in PRICES if p.unit == "mtok_in"}
    return {m: (table[(m, "*", "mtok_in")], table[(m, "*", "mtok_out")]) for m in sorted(models)}


def price_table() -> dict[tuple[str, str, str], float]:
    """(model, variant, unit) → USD: the shipped rows, overridden by ``REFBENCH_PRICES_FILE`` when set.

    Raises:
        ConfigError: the override file is unreadable or not ``{"model|variant|unit": number}``.
    """
    table = {(p.model, p.variant, p.unit): p.usd for p in PRICES}
    path = os.environ.get("REFBENCH_PRICES_FILE")
    if not path:
        return table
    try:
        overrides = json.loads(Path(path).read_text())
        parsed = {tuple(key.split("|")): float(value) for key, value in overrides.items()}
    except (OSError, ValueError, AttributeError) as error:
        raise ConfigError(f"REFBENCH_PRICES_FILE {path}: {error}") from error
    if bad := [k for k in parsed if len(k) != 3]:
        raise ConfigError(f"REFBENCH_PRICES_FILE {path}: keys must be 'model|variant|unit', got {bad[:3]}")
    return table | parsed


def unit_price(model: str, variant: str, unit: str) -> float | None:
    """USD per unit, or ``None`` when the table has no row for it (an estimate then says 'price unknown')."""
    table = price_table()
    return table.get((model, variant, unit), table.get((model, "*", unit)))


@dataclass(frozen=True)
class CostLine:
    """One item of an estimate: ``quantity`` units of ``item`` at ``unit_usd`` each (``None``: price unknown)."""

    scene_id: str | None  # None: a plan-level item
    item: str  # video | storyboard_images | clean_sheets | descriptions
    model: str
    variant: str
    quantity: float
    unit: str
    unit_usd: float | None

    @property
    def usd(self) -> float | None:
        """The line's cost."""
        return None if self.unit_usd is None else self.quantity * self.unit_usd


def description_usd(model: str) -> float | None:
    """Estimated USD of describing one asset with ``model`` (``local``: 0)."""
    if model == "local":
        return 0.0
    price_in, price_out = unit_price(model, "*", "mtok_in"), unit_price(model, "*", "mtok_out")
    if price_in is None or price_out is None:
        return None
    return (DESCRIPTION_TOKENS_IN * price_in + DESCRIPTION_TOKENS_OUT * price_out) / 1e6


def total_usd(lines: list[CostLine]) -> float | None:
    """Sum of the lines; ``None`` when any line's price is unknown."""
    costs = [line.usd for line in lines]
    return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]

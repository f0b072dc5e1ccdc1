"""Is this image a logo? A confidence and the reasons, from measured evidence (no model download, no API).

Logos are drawn, not photographed, and the evidence says so in six ways, each measured on the image shrunk to
at most ``EVIDENCE_SIDE`` px (nearest neighbour: no new colours):

- **alpha**: real use of transparency (pixels with alpha < 128), the way logo files are shipped;
- **palette**: the share of opaque pixels in the 8 most common colours (quantised to 4 bits a channel, so JPEG
  noise does not split a flat colour into hundreds);
- **flat areas**: the share of pixels whose 3x3 neighbourhood is constant to within 2 levels (camera noise and
  texture make that rare in photos);
- **edges**: crispness, the share of edge pixels that are strong steps rather than soft gradients;
- **compression**: bits per pixel of the image re-encoded as PNG (drawn graphics compress ~10x better than photos;
  measured on our own re-encoding, so the file's format does not matter);
- **aspect** and **text** (OCR, from the library): wide wordmarks, and short text covering much of the image.

The evidence is combined by a logistic model over standardised features (``FEATURES``); the weights were fitted
on the dev set ``data/samples/logos.csv`` (``refbench evaluate-logos`` reports leave-one-brand-out figures) and
each reason names the evidence that moved the decision most.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
from PIL import Image

from refbench.library.asset_types import composite_on_white, shrink_nearest
from refbench.types import Detections

EVIDENCE_SIDE = 512
PNG_SIDE = 256  # compression is measured on this size: enough for the statistics, 4x cheaper
FLAT_RANGE = 2  # a 3x3 neighbourhood within this many levels on every channel is flat
EDGE_SOFT, EDGE_STRONG = 24.0, 96.0  # Sobel |gx| + |gy| of 8-bit luma: an edge, and a crisp step


@dataclass(frozen=True)
class LogoEvidence:
    """What the detector measures on one image (fractions in [0, 1] unless said)."""

    transparent_frac: float  # pixels with alpha < 128
    palette_top8: float  # opaque pixels in the 8 most common 4-bit colours
    flat_frac: float  # opaque pixels with a flat 3x3 neighbourhood
    crisp_edges: float  # strong steps among edge pixels
    png_bits_per_pixel: float  # PNG re-encoding at PNG_SIDE, bits per pixel
    aspect: float  # width / height
    text_area_frac: float | None = None  # OCR boxes / image area; None: text was not read
    text: str = ""  # the OCR text, for the reason

    def features(self) -> dict[str, float]:
        """The model's inputs (``FEATURES`` order); text features are NaN when text was not read."""
        read = self.text_area_frac is not None
        return {
            "transparent": self.transparent_frac,
            "palette_top8": self.palette_top8,
            "flat": self.flat_frac,
            "crisp_edges": self.crisp_edges,
            "log_png_bpp": math.log(max(self.png_bits_per_pixel, 1e-3)),
            "log_aspect": abs(math.log(max(self.aspect, 1e-6))),
            "text_area": self.text_area_frac if read else math.nan,
        }


@dataclass(frozen=True)
class LogoVerdict:
    """Whether an image is a logo, how sure, and why (strongest evidence first)."""

    is_logo: bool
    confidence: float  # P(logo) in [0, 1]
    reasons: tuple[str, ...]
    evidence: LogoEvidence
    contributions: dict[str, float] = field(default_factory=dict)  # log-odds per feature

    def to_json(self) -> dict:
        """JSON-safe form (what the registry stores and ``--json`` prints)."""
        return {
            "is_logo": self.is_logo,
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "evidence": asdict(self.evidence),
        }


def measure(image_rgba: np.ndarray, *, text: Detections | None = None) -> LogoEvidence:
    """``LogoEvidence`` of an RGBA (H, W, 4) or RGB (H, W, 3) uint8 image.

    ``text`` holds its OCR lines (``None``: text not read), boxes in the pixels of ``image_rgba`` as given.
    """
    height, width = image_rgba.shape[:2]
    small = shrink_nearest(image_rgba, EVIDENCE_SIDE)
    alpha = small[:, :, 3] if small.shape[2] == 4 else np.full(small.shape[:2], 255, np.uint8)
    rgb = composite_on_white(small)
    opaque = alpha >= 128
    text_area = None if text is None else float(min(1.0, text.area.sum() / (width * height))) if len(text) else 0.0
    return LogoEvidence(
        transparent_frac=float((~opaque).mean()),
        palette_top8=_palette_top8(rgb[opaque]),
        flat_frac=_flat_frac(rgb, opaque),
        crisp_edges=_crisp_edges(rgb),
        png_bits_per_pixel=_png_bits_per_pixel(rgb),
        aspect=width / height,
        text_area_frac=text_area,
        text=" ".join(str(t) for t in text.data.get("text", [])) if text is not None and len(text) else "",
    )


def _palette_top8(pixels: np.ndarray) -> float:
    if not len(pixels):
        return 1.0
    codes = (pixels[:, 0] >> 4).astype(np.int32) << 8 | (pixels[:, 1] >> 4).astype(np.int32) << 4 | pixels[:, 2] >> 4
    counts = np.sort(np.bincount(codes, minlength=4096))[::-1]
    return float(counts[:8].sum() / len(pixels))


def _flat_frac(rgb: np.ndarray, opaque: np.ndarray) -> float:
    kernel = np.ones((3, 3), np.uint8)
    spread = np.max(cv2.dilate(rgb, kernel).astype(np.int16) - cv2.erode(rgb, kernel), axis=2)
    mask = opaque if opaque.any() else np.ones_like(opaque)
    return float((spread[mask] <= FLAT_RANGE).mean())


def _crisp_edges(rgb: np.ndarray) -> float:
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.abs(cv2.Sobel(luma, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    edges = grad > EDGE_SOFT
    return float((grad[edges] > EDGE_STRONG).mean()) if edges.any() else 0.0


def _png_bits_per_pixel(rgb: np.ndarray) -> float:
    small = shrink_nearest(rgb, PNG_SIDE)
    buffer = io.BytesIO()
    Image.fromarray(small).save(buffer, format="PNG", compress_level=6)
    return 8.0 * len(buffer.getvalue()) / (small.shape[0] * small.shape[1])


# --- the model --------------------------------------------------------------------------------------------------

FEATURES = ("transparent", "palette_top8", "flat", "crisp_edges", "log_png_bpp", "log_aspect", "text_area")


@dataclass(frozen=True)
class LogoModel:
    """Logistic regression over standardised ``FEATURES``: log-odds = bias + sum(weight * (x - mean) / scale).

    A feature that was not measured (text without OCR) adds nothing: it counts as the dev set's mean.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5

    def contributions(self, evidence: LogoEvidence) -> dict[str, float]:
        """Log-odds each feature adds."""
        values = evidence.features()
        return {
            name: 0.0 if math.isnan(values[name]) else w * (values[name] - m) / s
            for name, m, s, w in zip(FEATURES, self.mean, self.scale, self.weights, strict=True)
        }

    def probability(self, evidence: LogoEvidence) -> float:
        """P(logo) of the evidence."""
        return 1.0 / (1.0 + math.exp(-(self.bias + sum(self.contributions(evidence).values()))))


# Fitted on data/samples/logos.csv (37 logos, 40 photos and products; graphics left out) with scikit-learn
# LogisticRegression(C=0.3) on standardised features: `refbench evaluate-logos --fit` prints these again.
SHIPPED_MODEL = LogoModel(
    mean=(0.1172, 0.706, 0.3764, 0.5793, 1.756, 0.269, 0.0705),
    scale=(0.2499, 0.2801, 0.3614, 0.2207, 1.1536, 0.3507, 0.1902),
    weights=(0.202, 0.661, 1.082, 0.697, -0.648, -0.169, 0.552),
    bias=0.0536,
)


def fit_logo_model(evidence: list[LogoEvidence], labels: list[bool], *, c: float = 0.3) -> LogoModel:
    """A ``LogoModel`` fitted to labelled evidence (missing text counts as no text while fitting)."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0 if math.isnan(v) else v for v in e.features().values()] for e in evidence])
    mean, scale = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    fitted = LogisticRegression(C=c).fit((x - mean) / scale, np.asarray(labels))
    return LogoModel(
        mean=tuple(round(float(v), 4) for v in mean),
        scale=tuple(round(float(v), 4) for v in scale),
        weights=tuple(round(float(v), 3) for v in fitted.coef_[0]),
        bias=round(float(fitted.intercept_[0]), 4),
    )


class LogoDetector:
    """Judges images: ``LogoDetector().judge(image_rgba, text=ocr_lines)`` → ``LogoVerdict``.

    Args:
        model: the weights (default: ``SHIPPED_MODEL``).
        max_reasons: how many pieces of evidence a verdict names (strongest first).
    """

    def __init__(self, *, model: LogoModel = SHIPPED_MODEL, max_reasons: int = 3) -> None:
        self.model, self.max_reasons = model, max_reasons

    def judge(self, image_rgba: np.ndarray, *, text: Detections | None = None) -> LogoVerdict:
        """The verdict on one RGBA or RGB uint8 image; ``text``: its OCR lines (``None``: text not read)."""
        return self.judge_evidence(measure(image_rgba, text=text))

    def judge_evidence(self, evidence: LogoEvidence) -> LogoVerdict:
        """The verdict on already measured evidence."""
        contributions = self.model.contributions(evidence)
        confidence = self.model.probability(evidence)
        is_logo = confidence >= self.model.threshold
        ranked = sorted(contributions, key=lambda name: -abs(contributions[name]))
        reasons = tuple(
            f"{'+' if contributions[name] > 0 else '-'} {describe(name, evidence)}"
            for name in ranked[: self.max_reasons]
            if abs(contributions[name]) >= 0.25
        )
        return LogoVerdict(is_logo, confidence, reasons, evidence, contributions)


def describe(feature: str, e: LogoEvidence) -> str:
    """The evidence behind one feature, in words."""
    match feature:
        case "transparent":
            return (
                f"transparency: {e.transparent_frac:.0%} of pixels clear" if e.transparent_frac else "no transparency"
            )
        case "palette_top8":
            return f"palette: {e.palette_top8:.0%} of pixels in 8 colours"
        case "flat":
            return f"flat colour areas: {e.flat_frac:.0%} of pixels"
        case "crisp_edges":
            return f"edges: {e.crisp_edges:.0%} are crisp steps"
        case "log_png_bpp":
            return f"compression: {e.png_bits_per_pixel:.1f} bits/pixel as PNG (drawings ~1-7, photos ~10-20)"
        case "log_aspect":
            return f"aspect {e.aspect:.2f}:1"
        case _:
            if e.text_area_frac is None:
                return "text not read"
            if e.text_area_frac:
                return f"text {e.text[:40]!r} covers {e.text_area_frac:.0%} of the image"
            return "no text found"

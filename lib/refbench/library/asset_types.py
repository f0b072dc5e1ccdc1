"""Asset types of whole images (declared assets without ``--type``): logo, product, person, prop, environment, texture.

Rules over measured evidence, in this order, each with the reason it fired:

1. person: a face at least ``PERSON_FACE_FRAC`` of the image wide (portraits, not crowds).
2. logo: graphics, not a photo: few exact colours for its size (a camera's noise makes every pixel differ;
   grayscale images are left out, 256 levels say nothing), or most pixels in 8 exact colours.
3. texture: the four quadrants look alike (mean EfficientNet cosine ≥ ``TEXTURE_TILE_COSINE``): a repeating
   surface has no single subject.
4. product: an object cut out (transparent background) or shot on a plain background (uniform border).
5. environment: ImageNet's top classes name a place (seashore, valley, palace, ...), or nothing dominates.
6. prop: everything else.

``style`` (a look rather than a thing) is never guessed: declare it with ``--type style``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from refbench.library.efficientnet import ImageClass

ASSET_TYPES = ("logo", "product", "person", "prop", "environment", "texture", "style")
PERSON_FACE_FRAC = 0.10
TEXTURE_TILE_COSINE = 0.86
GRAPHICS_COLOURS_PER_PIXEL = 0.05  # unique colours / opaque pixels below this: drawn, not photographed
GRAPHICS_TOP8 = 0.80  # or this share of pixels in the 8 most common exact colours
MIN_CHROMA = 8.0  # mean (max - min) channel spread: below it an image counts as grayscale
PLAIN_BORDER = 0.60
EVIDENCE_MAX_SIDE = 1024  # larger images are measured shrunk (a 25 MP logo took 9 s, the rules read the same)
PLACE_PROBABILITY = 0.15
# ImageNet classes that are places, not things (landscapes, buildings, rooms, shops).
PLACE_LABELS = frozenset(
    {
        "alp",
        "cliff",
        "coral reef",
        "geyser",
        "lakeside",
        "promontory",
        "sandbar",
        "seashore",
        "valley",
        "volcano",
        "palace",
        "monastery",
        "church",
        "mosque",
        "castle",
        "boathouse",
        "bell cote",
        "beacon",
        "dock",
        "pier",
        "suspension bridge",
        "viaduct",
        "steel arch bridge",
        "library",
        "restaurant",
        "cinema",
        "shoe shop",
        "toyshop",
        "bakery",
        "grocery store",
        "barbershop",
        "bookshop",
        "butcher shop",
        "confectionery",
        "tobacco shop",
        "prison",
        "planetarium",
        "greenhouse",
        "patio",
        "fountain",
        "water tower",
        "dam",
        "breakwater",
        "barn",
        "yurt",
        "cliff dwelling",
        "stupa",
        "triumphal arch",
        "megalith",
        "thatch",
        "home theater",
        "dome",
        "mountain tent",
        "lumbermill",
        "maze",
        "obelisk",
        "ski",
        "parachute",
    }
)


@dataclass(frozen=True)
class TypeEvidence:
    """What the rules read about one image (all fractions in [0, 1])."""

    transparent_frac: float  # pixels with alpha < 128
    colours_per_pixel: float  # unique exact colours / opaque pixels
    top8_share: float  # opaque pixels in the 8 most common exact colours
    chroma: float  # mean (max - min) of the RGB channels over opaque pixels
    plain_border: float  # border pixels within ΔE 12 of the border's median colour
    largest_face_frac: float  # widest face / image width, 0 without a face
    text_area_frac: float  # OCR boxes / image area
    tile_cosine: float  # mean cosine between the quadrants' visual embeddings
    classes: tuple[ImageClass, ...] = ()  # ImageNet top-5


@dataclass(frozen=True)
class TypeGuess:
    """An asset type with the rule that gave it."""

    asset_type: str
    confidence: float
    reason: str


def image_measures(image_rgba: np.ndarray) -> dict[str, float]:
    """Colour measures of an RGBA (H, W, 4) or RGB (H, W, 3) uint8 image: the ``TypeEvidence`` fields
    ``transparent_frac``, ``colours_per_pixel``, ``top8_share``, ``chroma`` and ``plain_border``."""
    alpha = image_rgba[:, :, 3] if image_rgba.shape[2] == 4 else np.full(image_rgba.shape[:2], 255, np.uint8)
    rgb = image_rgba[:, :, :3]
    opaque = rgb[alpha >= 128].astype(np.int64)
    measures = {"transparent_frac": float((alpha < 128).mean()), "plain_border": _plain_border(rgb, alpha)}
    if not len(opaque):
        return measures | {"colours_per_pixel": 0.0, "top8_share": 1.0, "chroma": 0.0}
    _, counts = np.unique(opaque[:, 0] * 65536 + opaque[:, 1] * 256 + opaque[:, 2], return_counts=True)
    counts = np.sort(counts)[::-1]
    return measures | {
        "colours_per_pixel": float(len(counts) / len(opaque)),
        "top8_share": float(counts[:8].sum() / len(opaque)),
        "chroma": float((opaque.max(axis=1) - opaque.min(axis=1)).mean()),
    }


def _plain_border(rgb: np.ndarray, alpha: np.ndarray, *, width: int = 4) -> float:
    height, wide = rgb.shape[:2]
    band = np.zeros((height, wide), bool)
    band[:width], band[-width:], band[:, :width], band[:, -width:] = True, True, True, True
    border = rgb[band & (alpha >= 128)]
    if len(border) == 0:
        return 1.0  # a fully transparent border is the plainest there is
    lab = cv2.cvtColor(border.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    distance = np.linalg.norm(lab - np.median(lab, axis=0), axis=1)
    return float((distance < 12.0).mean())


def quadrants(image_rgb: np.ndarray) -> list[np.ndarray]:
    """The four quadrants of an image, for ``tile_cosine``."""
    height, width = image_rgb.shape[:2]
    h, w = max(1, height // 2), max(1, width // 2)
    return [image_rgb[:h, :w], image_rgb[:h, w:], image_rgb[h:, :w], image_rgb[h:, w:]]


def tile_cosine(embeddings: np.ndarray) -> float:
    """Mean pairwise cosine of (4, D) L2-normalised quadrant embeddings."""
    gram = embeddings @ embeddings.T
    n = len(embeddings)
    return float((gram.sum() - np.trace(gram)) / max(n * (n - 1), 1))


def guess_type(evidence: TypeEvidence) -> TypeGuess:
    """The asset type the rules give (module docstring), with its reason."""
    e = evidence
    if e.largest_face_frac >= PERSON_FACE_FRAC:
        return TypeGuess("person", 0.9, f"a face {e.largest_face_frac:.0%} of the image wide")
    if e.top8_share >= GRAPHICS_TOP8:
        return TypeGuess("logo", 0.8, f"graphics: {e.top8_share:.0%} of the pixels in 8 exact colours")
    if e.chroma >= MIN_CHROMA and e.colours_per_pixel <= GRAPHICS_COLOURS_PER_PIXEL:
        return TypeGuess("logo", 0.7, f"graphics: {e.colours_per_pixel:.3f} distinct colours per pixel")
    if e.tile_cosine >= TEXTURE_TILE_COSINE:
        return TypeGuess("texture", 0.75, f"quadrants alike (visual cosine {e.tile_cosine:.2f})")
    if e.transparent_frac > 0.05:
        return TypeGuess("product", 0.7, f"cut out: {e.transparent_frac:.0%} transparent")
    if e.plain_border >= PLAIN_BORDER:
        return TypeGuess("product", 0.6, f"plain background ({e.plain_border:.0%} of the border one colour)")
    place = next((c for c in e.classes[:3] if c.label in PLACE_LABELS and c.probability >= PLACE_PROBABILITY), None)
    if place is not None:
        return TypeGuess("environment", 0.6, f"ImageNet says {place.label} ({place.probability:.2f})")
    return TypeGuess("prop", 0.4, "an object: no face, text, cut-out, plain background or place")


def gather_evidence(
    image_rgba: np.ndarray, *, embedder, faces, ocr, classes: tuple[ImageClass, ...] = ()
) -> TypeEvidence:  # noqa: ANN001
    """Measure ``TypeEvidence`` of one RGBA or RGB image with the library's models.

    Args:
        image_rgba: (H, W, 4) or (H, W, 3) uint8; transparency, when present, is measured then composited on white.
        embedder: an ``ImageEmbedder`` (quadrant similarity). faces: a ``FaceAnalyzer`` or ``None``.
        ocr: an OCR reader or ``None``. classes: ImageNet top classes already computed for the image.
    """
    image_rgba = shrink_nearest(image_rgba, EVIDENCE_MAX_SIDE)
    measures = image_measures(image_rgba)
    rgb = composite_on_white(image_rgba)
    found = faces.analyze(rgb) if faces is not None else None
    widest = (
        float((found.xyxy[:, 2] - found.xyxy[:, 0]).max() / rgb.shape[1]) if found is not None and len(found) else 0.0
    )
    lines = ocr.read(rgb) if ocr is not None else None
    text_area = float(lines.area.sum() / (rgb.shape[0] * rgb.shape[1])) if lines is not None and len(lines) else 0.0
    tiles = tile_cosine(embedder.embed_images(quadrants(rgb)))
    return TypeEvidence(
        **measures,
        largest_face_frac=widest,
        text_area_frac=min(text_area, 1.0),
        tile_cosine=tiles,
        classes=tuple(classes),
    )


def shrink_nearest(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` shrunk (nearest neighbour: no new colours) so that its long side is at most ``side``."""
    scale = side / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)


def composite_on_white(image_rgba: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) uint8 of an RGBA image composited on white (RGB images pass through)."""
    if image_rgba.shape[2] == 3:
        return image_rgba
    alpha = image_rgba[:, :, 3:4].astype(np.float32) / 255.0
    return (image_rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)

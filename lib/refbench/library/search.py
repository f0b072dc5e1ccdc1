"""Search over an indexed library: text (sentence embeddings fused with BM25), image (faces → identities, the
rest → visual embedding), "more like this", and style-consistent recommendations.

``LibraryIndex`` holds what the registry stored for every active asset; ``LibrarySearcher`` holds the
models a query needs (settings in the constructor, the query in the call). Every hit says why it matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from refbench.errors import OptionError, UnknownTagError
from refbench.faces import FaceAnalyzer, l2_normalize
from refbench.library import ImageEmbedder, TextEmbedder
from refbench.library.index import DEFAULT_CROSSOVER, ExactIndex, VectorIndex, build_index
from refbench.library.keywords import KeywordIndex

RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
FUSE_DEPTH = 100  # ranks taken from each list before fusing
STYLE_VISUAL_WEIGHT = 0.6  # recommendations: visual cosine vs colour-histogram cosine


@dataclass(frozen=True)
class LibraryEntry:
    """One indexed asset as search sees it. Results hide an asset whose source image nearly repeats an image
    that already gave a better result (the duplicate stays registered, linked in ``v_near_duplicates``)."""

    tag: str
    asset_type: str
    name: str
    source_image_file: str
    crop_path: str
    document: str  # the text that text search matches (name, type, class, description, OCR, colours, classes)
    ocr_text: str = ""
    image_id: str = ""  # the source image
    duplicate_of: str = ""  # the earlier image the source image nearly repeats ("" when none)


@dataclass
class LibraryIndex:
    """Vectors of every indexed asset, row i = ``entries[i]``; ``identities`` maps CHAR tags to face centroids."""

    entries: list[LibraryEntry]
    visual: np.ndarray  # (N, Dv) L2-normalised
    text: np.ndarray  # (N, Dt) L2-normalised
    colour: np.ndarray  # (N, 144) L2-normalised
    identities: dict[str, np.ndarray] = field(default_factory=dict)
    face_threshold: float = 0.3
    crossover: int = DEFAULT_CROSSOVER

    def __post_init__(self) -> None:
        self.rows = {e.tag: i for i, e in enumerate(self.entries)}
        self.types = np.array([e.asset_type for e in self.entries], dtype=object)
        self.visual_index: VectorIndex = build_index(self.visual, crossover=self.crossover)
        self.text_index: VectorIndex = build_index(self.text, crossover=self.crossover)
        self.keywords = KeywordIndex([e.document for e in self.entries])

    def __len__(self) -> int:
        return len(self.entries)

    def row(self, tag: str) -> int:
        """Row of an indexed tag."""
        if tag not in self.rows:
            raise UnknownTagError(tag, self.rows)
        return self.rows[tag]

    def collapse(self, rows: Sequence[int], *, shown: Sequence[int] = ()) -> list[int]:
        """Rows in order, without those whose source image nearly repeats an image that also gave a row (or one
        of the ``shown`` rows: the query's own assets): the original is preferred to its re-encode."""
        present = {self.entries[r].image_id for r in [*rows, *shown]}
        return [r for r in rows if not (self.entries[r].duplicate_of and self.entries[r].duplicate_of in present)]

    def allowed(self, types: Sequence[str]) -> np.ndarray | None:
        """(N,) mask of the asset types asked for; ``None`` for all."""
        return np.isin(self.types, list(types)) if types else None


@dataclass(frozen=True)
class SearchHit:
    """One result: the asset, its score (higher is better) and what matched."""

    tag: str
    asset_type: str
    name: str
    score: float
    source_image_file: str
    crop_path: str
    why: str
    text_cosine: float | None = None  # the dense text match behind "text cosine" in ``why`` (text queries only)

    def to_json(self) -> dict:
        """The ``--json`` object."""
        return {
            "tag": self.tag,
            "asset_type": self.asset_type,
            "name": self.name,
            "score": round(self.score, 4),
            "source_image_file": self.source_image_file,
            "crop_path": self.crop_path,
            "why": self.why,
        }


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> dict[int, float]:
    """Row → Σ 1 / (k + rank) over the rankings it appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


class LibrarySearcher:
    """Answers queries over one ``LibraryIndex``.

    Args:
        index: the indexed library.
        text_embedder: embeds text queries like the assets' documents were (MiniLM).
        image_embedder: embeds image queries like the assets' crops were.
        face_analyzer: finds and embeds faces in image queries (``None``: no identity matching).
        clip_text: a CLIP/SigLIP text tower whose space is ``image_embedder``'s (adds text→image search).
    """

    def __init__(
        self,
        index: LibraryIndex,
        *,
        text_embedder: TextEmbedder,
        image_embedder: ImageEmbedder,
        face_analyzer: FaceAnalyzer | None = None,
        clip_text: TextEmbedder | None = None,
    ) -> None:
        self.index, self.text_embedder, self.image_embedder = index, text_embedder, image_embedder
        self.face_analyzer, self.clip_text = face_analyzer, clip_text

    def search(
        self,
        *,
        text: str = "",
        image_rgb: np.ndarray | None = None,
        like: str = "",
        k: int = 10,
        types: Sequence[str] = (),
    ) -> list[SearchHit]:
        """Best ``k`` assets for a text, an image or a tag ("more like this"); several parts are fused by rank.

        Raises:
            OptionError: no query part, or ``k`` < 1. UnknownTagError: ``like`` is not indexed.
        """
        if k < 1:
            raise OptionError(f"k must be at least 1, got {k}")
        if not (text.strip() or image_rgb is not None or like):
            raise OptionError("give a text, an image or a tag to search for")
        if not len(self.index):
            return []
        parts = []
        if text.strip():
            parts.append(self.text_hits(text, k=k, types=types))
        if image_rgb is not None:
            parts.append(self.image_hits(image_rgb, k=k, types=types))
        if like:
            parts.append(self.like_hits(like, k=k, types=types))
        return parts[0] if len(parts) == 1 else _fuse_hits(parts, k=k)

    def text_hits(self, text: str, *, k: int, types: Sequence[str] = ()) -> list[SearchHit]:
        """Sentence-embedding cosine and BM25 over each asset's text, fused by reciprocal rank (+ CLIP text→image)."""
        allowed = self.index.allowed(types)
        query = self.text_embedder.embed_texts([text])[0]
        dense_scores, dense = self.index.text_index.search(query, k=FUSE_DEPTH, allowed=allowed)
        bm25 = self.index.keywords.scores(text)
        if allowed is not None:
            bm25 = np.where(allowed, bm25, 0.0)
        keyword = [int(i) for i in np.argsort(-bm25, kind="stable")[:FUSE_DEPTH] if bm25[i] > 0]
        rankings = [list(map(int, dense)), keyword]
        clip_scores: dict[int, float] = {}
        if self.clip_text is not None:
            scores, rows = self.index.visual_index.search(
                self.clip_text.embed_texts([text])[0], k=FUSE_DEPTH, allowed=allowed
            )
            rankings.append(list(map(int, rows)))
            clip_scores = dict(zip(map(int, rows), map(float, scores), strict=True))
        fused = reciprocal_rank_fusion(rankings)
        cosine = dict(zip(map(int, dense), map(float, dense_scores), strict=True))
        hits = []
        for row in self.index.collapse(sorted(fused, key=lambda r: (-fused[r], r)))[:k]:
            entry = self.index.entries[row]
            why = [f"text cosine {cosine[row]:.2f}" if row in cosine else ""]
            if bm25[row] > 0:
                matched = self.index.keywords.matched(text, entry.document)
                where = (
                    " (in OCR text)" if entry.ocr_text and set(matched) & set(entry.ocr_text.lower().split()) else ""
                )
                why.append(f"keywords {', '.join(matched)}{where} (BM25 {bm25[row]:.2f})")
            if row in clip_scores:
                why.append(f"CLIP text-image {clip_scores[row]:.2f}")
            hit = _hit(entry, fused[row], "; ".join(w for w in why if w))
            hits.append(replace(hit, text_cosine=cosine.get(row)))
        return hits

    def image_hits(self, image_rgb: np.ndarray, *, k: int, types: Sequence[str] = ()) -> list[SearchHit]:
        """Faces in the query matched to identities (CHAR tags, best first), then visual neighbours."""
        hits = self.identity_hits(image_rgb) if (not types or "character" in types) else []
        seen = {h.tag for h in hits}
        query = self.image_embedder.embed_images([image_rgb])[0]
        scores, rows = self.index.visual_index.search(query, k=2 * k + len(seen), allowed=self.index.allowed(types))
        score_of = dict(zip(map(int, rows), map(float, scores), strict=True))
        for row in self.index.collapse(list(score_of)):
            entry = self.index.entries[row]
            if entry.tag not in seen:
                hits.append(
                    _hit(entry, score_of[row], f"visual cosine {score_of[row]:.2f} ({self.image_embedder.name})")
                )
        return hits[:k]

    def identity_hits(self, image_rgb: np.ndarray) -> list[SearchHit]:
        """CHAR assets whose face centroid clears the same-person threshold for a face of the query."""
        if self.face_analyzer is None or not self.index.identities:
            return []
        faces = self.face_analyzer.analyze(image_rgb)
        if not len(faces):
            return []
        tags = [t for t in self.index.identities if t in self.index.rows]
        if not tags:
            return []
        centroids = np.stack([self.index.identities[t] for t in tags])
        best: dict[str, float] = {}
        for embedding in faces.data["embedding"]:
            cosines = centroids[:, : len(embedding)] @ embedding
            for tag, cosine in zip(tags, cosines, strict=True):
                if cosine >= self.index.face_threshold and cosine > best.get(tag, -1.0):
                    best[tag] = float(cosine)
        threshold = self.index.face_threshold
        return [
            _hit(
                self.index.entries[self.index.rows[tag]],
                cosine,
                f"face matches {tag} (ArcFace cosine {cosine:.2f} ≥ threshold {threshold:.2f})",
            )
            for tag, cosine in sorted(best.items(), key=lambda item: -item[1])
        ]

    def like_hits(self, tag: str, *, k: int, types: Sequence[str] = ()) -> list[SearchHit]:
        """ "More like this": visual neighbours of an indexed asset, itself excluded."""
        row = self.index.row(tag)
        allowed = self.index.allowed(types)
        allowed = np.ones(len(self.index), bool) if allowed is None else allowed.copy()
        allowed[row] = False
        scores, rows = self.index.visual_index.search(self.index.visual[row], k=2 * k, allowed=allowed)
        score_of = dict(zip(map(int, rows), map(float, scores), strict=True))
        kept = self.index.collapse(list(score_of), shown=[row])[:k]  # the asset hides its own near-duplicates
        return [_hit(self.index.entries[r], score_of[r], f"visual cosine {score_of[r]:.2f} to {tag}") for r in kept]

    def recommend(self, tags: Sequence[str], *, k: int = 10, types: Sequence[str] = ()) -> list[SearchHit]:
        """Style-consistent assets for a selection: nearest to its centroid in visual and colour space."""
        if not tags:
            raise OptionError("recommendations need at least one selected tag")
        rows = [self.index.row(t) for t in tags]
        visual = l2_normalize(self.index.visual[rows].mean(axis=0, keepdims=True))[0]
        colour = l2_normalize(self.index.colour[rows].mean(axis=0, keepdims=True))[0]
        visual_scores = ExactIndex(self.index.visual).scores(visual)
        colour_scores = ExactIndex(self.index.colour).scores(colour)
        scores = STYLE_VISUAL_WEIGHT * visual_scores + (1 - STYLE_VISUAL_WEIGHT) * colour_scores
        allowed = self.index.allowed(types)
        scores[rows] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        ranked = [int(r) for r in np.argsort(-scores, kind="stable")[: 2 * k + len(rows)] if np.isfinite(scores[r])]
        order = self.index.collapse(ranked, shown=rows)[:k]
        label = ", ".join(tags)
        return [
            _hit(
                self.index.entries[r],
                float(scores[r]),
                f"style of {label}: visual {visual_scores[r]:.2f}, colour {colour_scores[r]:.2f}",
            )
            for r in order
        ]


def _hit(entry: LibraryEntry, score: float, why: str) -> SearchHit:
    return SearchHit(entry.tag, entry.asset_type, entry.name, score, entry.source_image_file, entry.crop_path, why)


def _fuse_hits(parts: list[list[SearchHit]], *, k: int) -> list[SearchHit]:
    """Several result lists as one, by reciprocal rank; each hit keeps every reason it matched for."""
    by_tag: dict[str, list[SearchHit]] = {}
    for hits in parts:
        for hit in hits:
            by_tag.setdefault(hit.tag, []).append(hit)
    order = {tag: i for i, tag in enumerate(by_tag)}
    fused = reciprocal_rank_fusion([[order[h.tag] for h in hits] for hits in parts])
    ranked = sorted(by_tag, key=lambda tag: -fused[order[tag]])[:k]
    return [replace(by_tag[t][0], score=fused[order[t]], why="; ".join(h.why for h in by_tag[t])) for t in ranked]

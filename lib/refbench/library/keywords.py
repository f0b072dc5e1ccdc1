"""Keyword ranking with BM25 (bm25s) over each asset's text, with one tokenizer for documents and queries."""

from __future__ import annotations

import logging
import re

import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG through its own handler

# Small on purpose: words like "red" or "top" carry meaning in asset search.
_STOPWORDS_TEXT = (
    "a an and are as at be by for from has he in is it its of on or that the their this to was were will with"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split() + ["photo", "image", "picture", "shot"])
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case word tokens without stop words; a plural ``s`` is dropped ("dogs", not "bus", "glass", "iris")."""
    tokens = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return [w[:-1] if len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")) else w for w in tokens]


class KeywordIndex:
    """BM25 scores of a query against every document (bm25s: sparse matrices, no Python loop per document)."""

    def __init__(self, documents: list[str]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s resets it on import
        self.n = len(documents)
        self.retriever = bm25s.BM25()
        tokenized = [words(d) or ["_"] for d in documents]
        if self.n:
            self.retriever.index(tokenized, show_progress=False)
        self.vocabulary = {w for doc in tokenized for w in doc}

    def scores(self, query: str) -> np.ndarray:
        """(N,) BM25 scores; zeros when no query word occurs in any document."""
        known = [w for w in words(query) if w in self.vocabulary]
        if not known or not self.n:
            return np.zeros(self.n, np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def matched(self, query: str, document: str) -> list[str]:
        """Query words that occur in ``document`` (what a keyword hit is explained by)."""
        present = set(words(document))
        return [w for w in dict.fromkeys(words(query)) if w in present]

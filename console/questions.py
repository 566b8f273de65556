"""FAQ suggestions for a viewer's question, from the product on air. Pure.

Scores each FAQ question by the overlap of character bigrams with the viewer's
question (after the same normalisation as moderation), which works for Chinese
without a word segmenter and for English alike.
"""

from __future__ import annotations

from typing import Final

from .moderation import squeeze
from .show import Faq

__all__ = ["MIN_SCORE", "suggest"]

MIN_SCORE: Final = 0.2


def _bigrams(text: str) -> set[str]:
    squeezed = squeeze(text).rstrip("?？吗呢")
    if len(squeezed) < 2:
        return {squeezed} if squeezed else set()
    return {squeezed[index : index + 2] for index in range(len(squeezed) - 1)}


def _score(asked: set[str], candidate: set[str]) -> float:
    if not asked or not candidate:
        return 0.0
    return len(asked & candidate) / len(asked | candidate)


def suggest(question: str, faq: tuple[Faq, ...], limit: int = 2) -> list[tuple[Faq, float]]:
    """The FAQ entries closest to ``question``, best first, above :data:`MIN_SCORE`."""
    asked = _bigrams(question)
    scored = [(entry, _score(asked, _bigrams(entry.question))) for entry in faq]
    ranked = sorted((pair for pair in scored if pair[1] >= MIN_SCORE), key=lambda pair: -pair[1])
    return [(entry, round(score, 3)) for entry, score in ranked[:limit]]

"""Advertising compliance: extreme words (极限词) and medical claims.

One multi-pattern automaton (Aho-Corasick, ``pyahocorasick``) finds every
banned term in a text in one pass; an allowlist of ordinary phrases that merely
contain a banned term (最后 "last", 第一次 "first time") suppresses those hits.
Matching is on normalised text (NFKC, lower case), so full-width and
half-width forms match alike. Pure.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import ahocorasick

__all__ = ["Category", "Hit", "Lexicon", "default_lexicon", "normalise"]


class Category(enum.StrEnum):
    EXTREME = "extreme"
    MEDICAL = "medical"


EXTREME_WORDS: Final = (
    "最",
    "第一",
    "顶级",
    "国家级",
    "绝对",
    "100%",
    "百分百",
    "万能",
    "极致",
    "首选",
    "唯一",
    "独一无二",
    "全网最低",
    "史上",
    "王牌",
    "销量冠军",
    "世界级",
    "永久",
    "best",
    "number one",
    "no.1",
    "#1",
    "the most",
    "top-level",
    "world-class",
    "guaranteed",
    "absolutely",
    "perfect",
)
MEDICAL_WORDS: Final = (
    "治疗",
    "治愈",
    "根治",
    "疗效",
    "药效",
    "消炎",
    "杀菌",
    "抗癌",
    "防癌",
    "降血压",
    "降血糖",
    "降血脂",
    "医用",
    "处方",
    "增强免疫力",
    "包治",
    "药到病除",
    "祛痘印",
    "cure",
    "cures",
    "heals",
    "treats acne",
    "medical-grade",
    "prescription",
)
ALLOWED_PHRASES: Final = (
    "最后",
    "最近",
    "最终",
    "最初",
    "最多",
    "最少",
    "最晚",
    "最早",
    "第一次",
    "第一步",
    "第一个",
    "第一天",
    "第一波",
    "第一款",
    "第一件",
    "第一位",
)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width) and lower case; keeps positions one-to-one per char."""
    return "".join(unicodedata.normalize("NFKC", ch).lower()[:1] or ch for ch in text)


@dataclass(frozen=True, slots=True)
class Hit:
    word: str
    category: Category
    start: int
    end: int


class Lexicon:
    """Banned words by category plus allowed phrases, compiled once."""

    def __init__(
        self,
        extreme: Iterable[str] = EXTREME_WORDS,
        medical: Iterable[str] = MEDICAL_WORDS,
        allowed: Iterable[str] = ALLOWED_PHRASES,
    ) -> None:
        self._extreme = tuple(extreme)
        self._medical = tuple(medical)
        self._allowed_words = tuple(allowed)
        self._banned = ahocorasick.Automaton()
        for category, words in (
            (Category.EXTREME, self._extreme),
            (Category.MEDICAL, self._medical),
        ):
            for word in words:
                key = normalise(word.strip())
                if key:
                    self._banned.add_word(key, (key, category))
        self._banned.make_automaton()
        self._allowed = ahocorasick.Automaton()
        for phrase in self._allowed_words:
            key = normalise(phrase.strip())
            if key:
                self._allowed.add_word(key, key)
        if len(self._allowed):
            self._allowed.make_automaton()

    def with_extra(self, extreme: Iterable[str]) -> Lexicon:
        """This lexicon plus more extreme words (a show's or a room's own list)."""
        return Lexicon((*self._extreme, *extreme), self._medical, self._allowed_words)

    def find(self, text: str) -> list[Hit]:
        """Every banned term in ``text`` not inside an allowed phrase, in order."""
        if not len(self._banned):
            return []
        folded = normalise(text)
        covered = self._allowed_spans(folded)
        hits = []
        for end, (word, category) in self._banned.iter(folded):
            start = end - len(word) + 1
            if word.isascii() and not _stands_alone(word, folded, start, end):
                continue
            if any(lo <= start and end <= hi for lo, hi in covered):
                continue
            hits.append(Hit(word, category, start, end + 1))
        hits.sort(key=lambda hit: (hit.start, -hit.end))
        return [hit for hit in hits if not _inside_longer(hit, hits)]

    def _allowed_spans(self, folded: str) -> list[tuple[int, int]]:
        if not len(self._allowed):
            return []
        return [(end - len(phrase) + 1, end) for end, phrase in self._allowed.iter(folded)]


def _inside_longer(hit: Hit, hits: list[Hit]) -> bool:
    return any(
        other is not hit
        and other.start <= hit.start
        and hit.end <= other.end
        and (other.end - other.start) > (hit.end - hit.start)
        for other in hits
    )


def _stands_alone(word: str, text: str, start: int, end: int) -> bool:
    """An ASCII term must not run into a longer word or number ("bestow", "#12")."""
    before = text[start - 1] if start > 0 else " "
    after = text[end + 1] if end + 1 < len(text) else " "
    joined_before = word[0].isalnum() and before.isascii() and before.isalnum()
    joined_after = word[-1].isalnum() and after.isascii() and after.isalnum()
    return not (joined_before or joined_after)


_DEFAULT: Lexicon | None = None


def default_lexicon() -> Lexicon:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Lexicon()
    return _DEFAULT

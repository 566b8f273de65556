"""The comment pipeline's rules, as a pure core: what happens to one comment.

``Moderator.judge`` takes the comment, what this room knows of its author and
``now``, and returns a :class:`Verdict`: publish, hide, hold for review, or hide
and mute the author; plus what the comment is (a question, a compliance hit, a
short repeat that folds with others). No I/O, no clock.

Matching runs on a normalised form of the text: NFKC (full-width to half-width),
lower case, and with spaces, punctuation and zero-width characters between
letters removed, so "最 低 价" and "最.低.价" match "最低价". Banned words use one
Aho-Corasick automaton (``pyahocorasick``); patterns are regular expressions.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from typing import Final

import ahocorasick

from .compliance import Hit, Lexicon, default_lexicon

__all__ = [
    "Author",
    "Moderator",
    "Policy",
    "Treatment",
    "Verdict",
    "contains_keyword",
    "fold_key",
    "is_question",
    "squeeze",
]

QUESTION_MARKERS: Final = (
    "?",
    "？",
    "吗",
    "呢",
    "怎么",
    "多少",
    "能不能",
    "有没有",
    "什么",
    "哪里",
    "哪个",
    "几号",
    "是不是",
    "可以吗",
)
ENGLISH_QUESTION: Final = re.compile(r"\b(how|what|when|where|which|can i|does it|is it)\b")
FOLD_MAX_CHARS: Final = 8
_SKIPPED: Final = re.compile(r"[\s\u200b-\u200f\u2060\ufeff·.,，。、!！~～*_\-—|/\\]+")


class Treatment(enum.StrEnum):
    PUBLISH = "publish"
    HIDE = "hide"
    HOLD = "hold"
    MUTE = "mute"


_SEVERITY: Final = {Treatment.PUBLISH: 0, Treatment.HOLD: 1, Treatment.HIDE: 2, Treatment.MUTE: 3}


def squeeze(text: str) -> str:
    """The form matching runs on: NFKC, lower case, no separators or zero-width marks."""
    return _SKIPPED.sub("", unicodedata.normalize("NFKC", text).lower())


def fold_key(text: str) -> str | None:
    """Short comments ("1", "扣1", "666") fold with their repeats within a tick."""
    key = squeeze(text)
    return key if 0 < len(key) <= FOLD_MAX_CHARS else None


def contains_keyword(keyword: str, text: str) -> bool:
    """Whether ``text`` answers a keyword prompt (扣1, a lottery word), after normalisation."""
    return bool(keyword) and squeeze(keyword) in squeeze(text)


def is_question(text: str, product_names: tuple[str, ...] = ()) -> bool:
    lowered = unicodedata.normalize("NFKC", text).lower()
    if any(marker in lowered for marker in QUESTION_MARKERS) or ENGLISH_QUESTION.search(lowered):
        return True
    return any(name and name.lower() in lowered for name in product_names) and len(lowered) > 4


@dataclass(frozen=True, slots=True)
class Policy:
    """A room's comment rules. ``banned`` maps words to what happens to their comments."""

    banned: dict[str, Treatment] = field(default_factory=dict)
    patterns: tuple[tuple[str, Treatment], ...] = ()
    slow_mode_s: float = 0.0
    max_chars: int = 200
    per_minute: int = 20
    mute_s: float = 600.0


@dataclass(slots=True)
class Author:
    """What the room remembers of one commenter (per node)."""

    muted_until: float = 0.0
    last_at: float = -1e18
    recent: deque[float] = field(default_factory=deque)
    """Times of the comments of the last minute (older ones are pruned on each comment)."""

    def is_muted(self, now: float) -> bool:
        return now < self.muted_until


@dataclass(frozen=True, slots=True)
class Verdict:
    treatment: Treatment
    reasons: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()
    compliance: tuple[Hit, ...] = ()
    question: bool = False
    fold: str | None = None
    refused: str | None = None
    """Set when the comment is refused outright (too long, too fast): the reason for the author."""

    @property
    def reaches_viewers(self) -> bool:
        return self.refused is None and self.treatment is Treatment.PUBLISH


class Moderator:
    """One room's policy, compiled. Pure: ``judge`` reads and updates only ``author``."""

    def __init__(self, policy: Policy, lexicon: Lexicon | None = None) -> None:
        self.policy = policy
        self.lexicon = lexicon or default_lexicon()
        self._automaton = ahocorasick.Automaton()
        for word, treatment in policy.banned.items():
            key = squeeze(word)
            if key:
                self._automaton.add_word(key, (word, treatment))
        if len(self._automaton):
            self._automaton.make_automaton()
        self._patterns = [
            (re.compile(source, re.IGNORECASE), action) for source, action in policy.patterns
        ]

    def judge(
        self, text: str, author: Author, now: float, product_names: tuple[str, ...] = ()
    ) -> Verdict:
        refused = self._refusal(text, author, now)
        if refused is not None:
            return Verdict(Treatment.HIDE, (refused,), refused=refused)
        author.last_at = now
        author.recent.append(now)
        treatment, reasons, banned = self._treatment(text)
        if author.is_muted(now):
            treatment, reasons = Treatment.HIDE, (*reasons, "author muted")
        elif treatment is Treatment.MUTE:
            author.muted_until = now + self.policy.mute_s
        return Verdict(
            treatment=treatment,
            reasons=reasons,
            banned=banned,
            compliance=tuple(self.lexicon.find(text)),
            question=is_question(text, product_names),
            fold=fold_key(text) if treatment is Treatment.PUBLISH else None,
        )

    def _refusal(self, text: str, author: Author, now: float) -> str | None:
        policy = self.policy
        if len(text) > policy.max_chars:
            return f"longer than {policy.max_chars} characters"
        if now - author.last_at < policy.slow_mode_s:
            return f"slow mode: one comment every {policy.slow_mode_s:g} s"
        while author.recent and author.recent[0] <= now - 60:
            author.recent.popleft()
        if len(author.recent) >= policy.per_minute:
            return f"more than {policy.per_minute} comments a minute"
        return None

    def _treatment(self, text: str) -> tuple[Treatment, tuple[str, ...], tuple[str, ...]]:
        worst = Treatment.PUBLISH
        reasons: list[str] = []
        banned: list[str] = []
        squeezed = squeeze(text)
        if len(self._automaton):
            for _, (word, treatment) in self._automaton.iter(squeezed):
                banned.append(word)
                reasons.append(f"banned word {word!r}")
                worst = max(worst, treatment, key=_SEVERITY.__getitem__)
        for pattern, treatment in self._patterns:
            if pattern.search(text) or pattern.search(squeezed):
                reasons.append(f"pattern {pattern.pattern!r}")
                worst = max(worst, treatment, key=_SEVERITY.__getitem__)
        return worst, tuple(dict.fromkeys(reasons)), tuple(dict.fromkeys(banned))

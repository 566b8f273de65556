"""Extreme words and medical claims: normalised matching, allowlist, longest hit, whole words."""

from __future__ import annotations

import pytest

from console.compliance import Category, Hit, Lexicon, default_lexicon, normalise


def words(text: str, lexicon: Lexicon | None = None) -> list[str]:
    return [hit.word for hit in (lexicon or default_lexicon()).find(text)]


def test_normalise_folds_full_width_letters_digits_and_case() -> None:
    assert normalise("ＢＥＳＴ　Ｎｏ．１　１００％") == "best no.1 100%"
    assert normalise("Number ONE") == "number one"


def test_normalise_keeps_one_character_per_character() -> None:
    for text in ("ＢＥＳＴ", "㎏装", "ﬁne", "最好的", "Ａ１"):
        assert len(normalise(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("ＢＥＳＴ choice", "best"),
        ("The Best choice", "best"),
        ("１００％纯棉", "100%"),
        ("ｎｏ．１ seller", "no.1"),
        ("WORLD-CLASS quality", "world-class"),
    ],
)
def test_full_width_and_upper_case_forms_hit(text: str, word: str) -> None:
    assert words(text) == [word]


def test_hit_positions_index_the_original_text() -> None:
    text = "今天ＢＥＳＴ的价格"
    (hit,) = default_lexicon().find(text)
    assert hit == Hit("best", Category.EXTREME, 2, 6)
    assert normalise(text[hit.start : hit.end]) == "best"


@pytest.mark.parametrize(
    "text",
    ["最后一波", "最近很火", "第一次来直播间", "第一步先关注", "最多买两件", "第一波福利"],
)
def test_allowed_phrases_do_not_hit(text: str) -> None:
    assert words(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("最低价", ["最"]),
        ("销量第一", ["第一"]),
        ("最后一波最低价", ["最"]),
        ("第一次买就是第一名", ["第一"]),
        ("顶级面料", ["顶级"]),
        ("国家级工艺", ["国家级"]),
    ],
)
def test_banned_words_outside_allowed_phrases_hit(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_allowed_phrase_suppresses_only_its_own_span() -> None:
    hits = default_lexicon().find("最后一波最低价")
    assert [(hit.word, hit.start) for hit in hits] == [("最", 4)]


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        ("全网最低价", "全网最低"),
        ("独一无二的设计", "独一无二"),
        ("the most popular", "the most"),
    ],
)
def test_overlapping_hits_report_the_longest(text: str, longest: str) -> None:
    assert words(text) == [longest]


def test_hits_are_in_text_order() -> None:
    assert words("绝对好用，全网最低，顶级品质") == ["绝对", "全网最低", "顶级"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the best scarf", ["best"]),
        ("best!", ["best"]),
        ("最best", ["最", "best"]),
        ("we bestow gifts", []),
        ("perfectly warm", []),
        ("a perfect gift", ["perfect"]),
        ("cures colds", ["cures"]),
        ("it cured me", []),
        ("absolutely", ["absolutely"]),
        ("no.10 in line", []),
    ],
)
def test_english_terms_match_whole_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_hash_one_does_not_hit_a_longer_number() -> None:
    """ "#1" is a claim; "coupon #15" is only a number."""
    assert words("use coupon #15") == []
    assert words("the #1 scarf") == ["#1"]


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("可以治疗失眠", "治疗"),
        ("三天祛痘印", "祛痘印"),
        ("有效降血糖", "降血糖"),
        ("medical-grade steel", "medical-grade"),
        ("no prescription needed", "prescription"),
    ],
)
def test_medical_words_are_their_own_category(text: str, word: str) -> None:
    (hit,) = default_lexicon().find(text)
    assert (hit.word, hit.category) == (word, Category.MEDICAL)


def test_extreme_words_are_their_own_category() -> None:
    assert {hit.category for hit in default_lexicon().find("顶级 best 100%")} == {Category.EXTREME}


def test_clean_text_has_no_hits() -> None:
    assert words("羊绒围巾，柔软不扎，今天直播间专享价") == []
    assert words("") == []


def test_with_extra_adds_words_and_keeps_the_defaults() -> None:
    lexicon = default_lexicon().with_extra(["宇宙无敌", "  ", "ＢＯＳＳ"])
    assert words("宇宙无敌", lexicon) == ["宇宙无敌"]
    assert words("the boss", lexicon) == ["boss"]
    assert words("顶级", lexicon) == ["顶级"]
    assert words("治疗", lexicon) == ["治疗"]
    assert words("最后", lexicon) == []
    assert words("宇宙无敌") == []


def test_with_extra_twice_keeps_both_additions() -> None:
    lexicon = default_lexicon().with_extra(["宇宙无敌"]).with_extra(["之王"])
    assert words("宇宙无敌，性价比之王", lexicon) == ["宇宙无敌", "之王"]


def test_with_extra_keeps_a_custom_lexicons_own_lists() -> None:
    lexicon = Lexicon(extreme=["爆款"], medical=["药"], allowed=[]).with_extra(["之王"])
    assert words("爆款之王", lexicon) == ["爆款", "之王"]
    assert words("顶级", lexicon) == []


def test_empty_lexicon_finds_nothing() -> None:
    assert Lexicon(extreme=[], medical=[], allowed=[]).find("最好的 best 治疗") == []


def test_lexicon_without_allowlist_hits_inside_ordinary_phrases() -> None:
    assert words("最后一波", Lexicon(allowed=[])) == ["最"]

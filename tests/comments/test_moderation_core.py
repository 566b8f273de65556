"""The comment rules as a pure core: normalisation, banned words and patterns, mutes,
slow mode and per-minute limits, folding keys, question detection and FAQ suggestions.

Every time is an explicit argument; no server, no clock.
"""

from __future__ import annotations

import pytest

from console.chatdesk import DEFAULT_BANNED, policy_from_dict
from console.moderation import Author, Moderator, Policy, Treatment, fold_key, is_question, squeeze
from console.questions import MIN_SCORE, suggest
from console.show import Faq

T0 = 1_000_000.0
"""An arbitrary moment, in seconds since the epoch."""


def judge(moderator: Moderator, text: str, author: Author | None = None, at: float = T0) -> str:
    """The treatment of one comment from a fresh (or given) author, as its value."""
    return moderator.judge(text, author or Author(), at).treatment.value


# squeeze -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "squeezed"),
    [
        ("最 低 价", "最低价"),
        ("最.低.价", "最低价"),
        ("加.微.信", "加微信"),
        ("加-微_信", "加微信"),
        ("加\u200b微\u200d信", "加微信"),
        ("加\ufeff微\u2060信", "加微信"),
        ("ＶＸ", "vx"),
        ("Ｖ　Ｘ", "vx"),
        ("V x", "vx"),
        ("ｗｗｗ．ｓｈｏｐ", "wwwshop"),
        ("加，微。信！", "加微信"),
        ("１２３", "123"),
    ],
)
def test_squeeze_folds_width_case_separators_and_invisible_marks(
    written: str, squeezed: str
) -> None:
    assert squeeze(written) == squeezed


def test_squeeze_keeps_letters_digits_and_question_marks() -> None:
    assert squeeze("Is it OK?") == "isitok?"
    assert squeeze("多少钱？") == "多少钱?"


# banned words and patterns ---------------------------------------------------------


def test_a_banned_word_matches_through_spacing_width_and_case() -> None:
    moderator = Moderator(Policy(banned={"加微信": Treatment.HOLD, "vx": Treatment.HOLD}))
    for text in ("加微信聊", "加 微 信", "加.微.信 便宜", "私我 ＶＸ", "v.x 123", "VX"):
        verdict = moderator.judge(text, Author(), T0)
        assert verdict.treatment is Treatment.HOLD, text
        assert not verdict.reaches_viewers, text
    assert judge(moderator, "这个颜色好看") == "publish"


@pytest.mark.parametrize("treatment", list(Treatment))
def test_each_treatment_of_a_banned_word_is_applied(treatment: Treatment) -> None:
    moderator = Moderator(Policy(banned={"暗号": treatment}))
    verdict = moderator.judge("对个暗号", Author(), T0)
    assert verdict.treatment is treatment
    assert verdict.reaches_viewers is (treatment is Treatment.PUBLISH)
    assert verdict.banned == ("暗号",)
    assert verdict.reasons == ("banned word '暗号'",)


PHONE = r"1[3-9]\d{9}"


@pytest.mark.parametrize("treatment", list(Treatment))
def test_each_treatment_of_a_pattern_is_applied(treatment: Treatment) -> None:
    moderator = Moderator(Policy(patterns=((PHONE, treatment),)))
    verdict = moderator.judge("电话 13800138000", Author(), T0)
    assert verdict.treatment is treatment
    assert verdict.reasons == (f"pattern {PHONE!r}",)
    assert verdict.banned == ()


def test_a_pattern_also_matches_the_squeezed_text() -> None:
    moderator = Moderator(Policy(patterns=((PHONE, Treatment.HOLD),)))
    assert judge(moderator, "打 138 0013 8000 找我") == "hold"
    assert judge(moderator, "１３８-００１３-８０００") == "hold"
    assert judge(moderator, "我买了 3 瓶") == "publish"


def test_patterns_ignore_case() -> None:
    moderator = Moderator(Policy(patterns=((r"wechat", Treatment.HOLD),)))
    assert judge(moderator, "add me on WeChat") == "hold"


@pytest.mark.parametrize(
    ("text", "worst"),
    [
        ("私聊", "hold"),
        ("私聊 垃圾", "hide"),
        ("垃圾 私聊 滚蛋", "mute"),
        ("滚蛋 私聊", "mute"),
        ("私聊 13800138000", "hide"),
    ],
)
def test_the_worst_treatment_wins(text: str, worst: str) -> None:
    policy = Policy(
        banned={"私聊": Treatment.HOLD, "垃圾": Treatment.HIDE, "滚蛋": Treatment.MUTE},
        patterns=((PHONE, Treatment.HIDE),),
    )
    assert judge(Moderator(policy), text) == worst


def test_every_hit_is_a_reason_once() -> None:
    policy = Policy(banned={"私聊": Treatment.HOLD, "垃圾": Treatment.HIDE})
    verdict = Moderator(policy).judge("私聊 垃圾 私聊", Author(), T0)
    assert verdict.banned == ("私聊", "垃圾")
    assert verdict.reasons == ("banned word '私聊'", "banned word '垃圾'")


def test_an_empty_policy_publishes_everything() -> None:
    moderator = Moderator(Policy())
    assert judge(moderator, "加微信 vx 13800138000") == "publish"


def test_the_default_policy_holds_contact_spam_and_hides_insults() -> None:
    policy = policy_from_dict(None)
    assert policy.banned == DEFAULT_BANNED
    moderator = Moderator(policy)
    assert judge(moderator, "加 V 详聊") == "hold"
    assert judge(moderator, "私.聊.我") == "hold"
    assert judge(moderator, "看 https://example.cn") == "hold"
    assert judge(moderator, "垃 圾 主 播") == "hide"
    assert judge(moderator, "FUCK") == "hide"
    assert judge(moderator, "主播今天的妆好看") == "publish"


def test_a_stored_policy_replaces_the_defaults() -> None:
    policy = policy_from_dict(
        {"banned": {"团购群": "hold"}, "patterns": [[r"\d{5,}", "hide"]], "slow_mode_s": 3}
    )
    assert policy.banned == {"团购群": Treatment.HOLD}
    assert policy.patterns == ((r"\d{5,}", Treatment.HIDE),)
    assert (policy.slow_mode_s, policy.per_minute, policy.max_chars) == (3.0, 20, 200)
    assert judge(Moderator(policy), "加微信") == "publish"


@pytest.mark.parametrize(
    "stored",
    [{"slow": 3}, {"banned": {"x": "ban"}}, {"patterns": [["x", "remove"]]}, {"per_minute": "x"}],
)
def test_a_bad_stored_policy_is_a_value_error(stored: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        policy_from_dict(stored)


# mutes ---------------------------------------------------------------------------------


def test_a_mute_word_mutes_the_author_until_mute_s_later() -> None:
    moderator = Moderator(Policy(banned={"滚蛋": Treatment.MUTE}, mute_s=600))
    author = Author()
    verdict = moderator.judge("主播滚蛋", author, T0)
    assert verdict.treatment is Treatment.MUTE
    assert author.muted_until == T0 + 600
    assert author.is_muted(T0 + 599.9)
    assert not author.is_muted(T0 + 600)


def test_a_muted_authors_clean_comments_are_hidden_until_the_mute_ends() -> None:
    moderator = Moderator(Policy(banned={"滚蛋": Treatment.MUTE}, mute_s=600))
    author = Author()
    moderator.judge("滚蛋", author, T0)
    later = moderator.judge("好看", author, T0 + 10)
    assert later.treatment is Treatment.HIDE
    assert later.reasons == ("author muted",)
    assert later.fold is None
    assert not later.reaches_viewers
    assert moderator.judge("好看", author, T0 + 599).treatment is Treatment.HIDE
    assert moderator.judge("好看", author, T0 + 600).treatment is Treatment.PUBLISH


def test_a_muted_author_hitting_another_mute_word_is_hidden_and_not_muted_longer() -> None:
    moderator = Moderator(Policy(banned={"滚蛋": Treatment.MUTE}, mute_s=600))
    author = Author()
    moderator.judge("滚蛋", author, T0)
    verdict = moderator.judge("滚蛋", author, T0 + 100)
    assert verdict.treatment is Treatment.HIDE
    assert verdict.reasons == ("banned word '滚蛋'", "author muted")
    assert author.muted_until == T0 + 600


def test_a_manual_mute_hides_later_comments() -> None:
    moderator = Moderator(Policy())
    author = Author(muted_until=T0 + 60)
    assert moderator.judge("1", author, T0).treatment is Treatment.HIDE
    assert moderator.judge("1", author, T0 + 60).treatment is Treatment.PUBLISH


# limits --------------------------------------------------------------------------------


def test_slow_mode_refuses_a_second_comment_inside_the_window() -> None:
    moderator = Moderator(Policy(slow_mode_s=5))
    author = Author()
    assert moderator.judge("第一条", author, T0).refused is None
    refused = moderator.judge("第二条", author, T0 + 4.99)
    assert refused.refused == "slow mode: one comment every 5 s"
    assert refused.treatment is Treatment.HIDE
    assert not refused.reaches_viewers
    assert moderator.judge("第三条", author, T0 + 5).refused is None


def test_a_refused_comment_does_not_restart_the_slow_mode_window() -> None:
    moderator = Moderator(Policy(slow_mode_s=5))
    author = Author()
    moderator.judge("a", author, T0)
    for at in (T0 + 1, T0 + 2, T0 + 4.9):
        assert moderator.judge("b", author, at).refused is not None
    assert moderator.judge("c", author, T0 + 5).refused is None


def test_slow_mode_is_per_author() -> None:
    moderator = Moderator(Policy(slow_mode_s=30))
    first, second = Author(), Author()
    assert moderator.judge("a", first, T0).refused is None
    assert moderator.judge("a", second, T0 + 1).refused is None


def test_the_per_minute_limit_counts_a_sliding_minute() -> None:
    moderator = Moderator(Policy(per_minute=3))
    author = Author()
    for at in (T0, T0 + 1, T0 + 2):
        assert moderator.judge("x", author, at).refused is None
    assert moderator.judge("x", author, T0 + 59.99).refused == "more than 3 comments a minute"
    # at T0 + 60 the first comment has left the window (strictly older than a minute)
    assert moderator.judge("x", author, T0 + 60).refused is None
    assert moderator.judge("x", author, T0 + 60.5).refused is not None
    assert moderator.judge("x", author, T0 + 61).refused is None


def test_refused_comments_do_not_count_towards_the_minute() -> None:
    moderator = Moderator(Policy(per_minute=2))
    author = Author()
    moderator.judge("x", author, T0)
    moderator.judge("x", author, T0 + 1)
    for at in range(2, 30):
        assert moderator.judge("x", author, T0 + at).refused is not None
    assert moderator.judge("x", author, T0 + 60.5).refused is None


def test_a_per_minute_limit_above_64_is_enforced() -> None:
    """The author's history holds 64 timestamps; a limit of 100 must still refuse the 101st."""
    moderator = Moderator(Policy(per_minute=100))
    author = Author()
    for index in range(100):
        assert moderator.judge("x", author, T0 + index * 0.1).refused is None
    assert moderator.judge("x", author, T0 + 10.5).refused == "more than 100 comments a minute"


def test_an_over_long_comment_is_refused() -> None:
    moderator = Moderator(Policy(max_chars=10))
    author = Author()
    assert moderator.judge("一" * 10, author, T0).refused is None
    verdict = moderator.judge("一" * 11, author, T0 + 1)
    assert verdict.refused == "longer than 10 characters"
    assert verdict.reasons == ("longer than 10 characters",)


def test_the_default_policy_allows_200_characters_and_20_a_minute() -> None:
    policy = Policy()
    assert (policy.max_chars, policy.per_minute, policy.slow_mode_s) == (200, 20, 0.0)


# folding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("1", "1"),
        ("扣1", "扣1"),
        ("666", "666"),
        ("６６６", "666"),
        ("1 1", "11"),
        ("已拍!", "已拍"),
        ("Yes", "yes"),
        ("12345678", "12345678"),
        ("一二三四五六七八", "一二三四五六七八"),
    ],
)
def test_short_texts_fold_by_their_squeezed_form(text: str, key: str) -> None:
    assert fold_key(text) == key


@pytest.mark.parametrize("text", ["123456789", "这个精华敏感肌能用吗", "", "...", " ! "])
def test_long_or_empty_texts_do_not_fold(text: str) -> None:
    assert fold_key(text) is None


def test_only_published_comments_carry_a_fold_key() -> None:
    moderator = Moderator(Policy(banned={"vx": Treatment.HOLD}))
    assert moderator.judge("1", Author(), T0).fold == "1"
    assert moderator.judge("vx", Author(), T0).fold is None
    assert moderator.judge("1", Author(muted_until=T0 + 1), T0).fold is None


# questions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "敏感肌能用吗",
        "这个多少钱",
        "什么时候发货",
        "有没有小样",
        "孕妇是不是不能用",
        "色号怎么选",
        "能不能便宜点",
        "发哪里的快递",
        "How long does shipping take",
        "what size should I get",
        "Is it waterproof",
        "Can I use it at night",
        "does it smell",
        "ok?",
        "好用？",
    ],
)
def test_questions_are_recognised_in_chinese_and_english(text: str) -> None:
    assert is_question(text)


@pytest.mark.parametrize("text", ["1", "666", "已拍", "好看", "主播好美", "I love it", "Nice"])
def test_statements_are_not_questions(text: str) -> None:
    assert not is_question(text)


@pytest.mark.parametrize("text", ["Great show!", "I love this item", "somehow it works"])
def test_english_markers_must_be_whole_words(text: str) -> None:
    """ "show" holds "how", "this item" holds "is it": neither asks anything."""
    assert not is_question(text)


def test_naming_a_product_in_a_longer_comment_counts_as_a_question() -> None:
    names = ("玻尿酸精华",)
    assert is_question("玻尿酸精华适合油皮", names)
    assert not is_question("精华", ("精华",))
    assert not is_question("玻尿酸精华适合油皮")


def test_the_moderator_marks_questions() -> None:
    moderator = Moderator(Policy())
    assert moderator.judge("敏感肌能用吗", Author(), T0).question
    assert not moderator.judge("好看", Author(), T0).question


# FAQ suggestions -----------------------------------------------------------------------

FAQ = (
    Faq("敏感肌能用吗？", "先在耳后试用两三天。"),
    Faq("和面霜怎么搭配？", "精华之后再上面霜。"),
    Faq("孕期能用吗？", "先问问医生。"),
    Faq("一次用多少？", "两三滴。"),
)


def test_the_same_question_scores_one() -> None:
    assert suggest("敏感肌能用吗", FAQ) == [(FAQ[0], 1.0)]


def test_suggestions_are_ranked_best_first() -> None:
    ranked = suggest("孕期敏感肌能用吗", FAQ)
    assert [entry.question for entry, _ in ranked] == ["敏感肌能用吗？", "孕期能用吗？"]
    assert ranked[0][1] > ranked[1][1] >= MIN_SCORE
    shorter = suggest("能用吗", FAQ)
    assert [entry.question for entry, _ in shorter] == ["孕期能用吗？", "敏感肌能用吗？"]


def test_suggestions_below_the_threshold_are_left_out() -> None:
    # one shared bigram ("孕期") out of six: 0.167 < MIN_SCORE
    assert suggest("孕期可以用吗", FAQ) == []
    assert suggest("发货快吗", FAQ) == []
    assert suggest("", FAQ) == []


def test_suggestions_stop_at_the_limit() -> None:
    assert len(suggest("孕期敏感肌能用吗", FAQ, limit=1)) == 1
    assert suggest("敏感肌能用吗", ()) == []


def test_suggestions_ignore_width_and_spacing() -> None:
    assert suggest("和 面霜 怎么 搭配", FAQ) == [(FAQ[1], 1.0)]
    english = (Faq("Is it waterproof?", "Yes."), Faq("How to pay?", "Tap buy."))
    assert suggest("IS IT WATERPROOF", english)[0][0] is english[0]

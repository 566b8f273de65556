"""The script loader and checker: a good script loads whole; every problem names its line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from console.compliance import default_lexicon
from console.show.loader import (
    MAX_SCRIPT_BYTES,
    Issue,
    ScriptError,
    Severity,
    load_file,
    load_show,
)
from console.show.model import (
    ClosingStep,
    Faq,
    LotteryEligibility,
    SaleSettings,
    SegmentKind,
    ShowRules,
    Targets,
)
from tests.show._scripts import (
    CLOSING,
    HEADER,
    PRODUCTS,
    RUN_OF_SHOW,
    START,
    errors,
    line_of,
    load,
    product_segment,
    script,
    segment,
)

FULL = """\
[show]
title = "冬季好物专场"
host = "小美"
starts_at = 2026-12-01T20:00:00+08:00
currency = "CNY"
next_show_at = "2026-12-08T20:00:00+08:00"

[show.targets]
gmv = 5000000
orders = 300
peak_online = 2000

[show.rules]
overtime_cue_s = 15
dead_room_online_drop = 0.25
dead_room_window_s = 90
dead_room_comments_per_min = 3
banned_words = ["秒杀全网"]

[[products]]
id = "scarf"
name = "羊绒围巾"
anchor_price = 39900
live_price = 19900
stock = 100
limit_per_buyer = 2
images = ["https://cdn.example/scarf-1.jpg", "https://cdn.example/scarf-2.jpg"]
selling_points = ["内蒙古羊绒", "柔软不扎"]

[[products.faq]]
q = "会起球吗？"
a = "正常穿着不起球"

[[products.faq]]
q = "能机洗吗？"
a = "建议手洗"

[[products]]
id = "mug-2"
name = "保温杯"
anchor_price = 12900
live_price = 6990
stock = 0

[[segments]]
kind = "opening"
title = "开场福利预告"
duration_s = 30
talking_points = ["欢迎来到 {{ title }}！"]

[[segments]]
kind = "intro"
title = "主播介绍"
duration_s = 45.5

[[segments]]
kind = "interaction"
title = "扣1抢福利"
duration_s = 60
prompt = "扣 {{ keyword }} 抢福利"
keyword = "1"
window_s = 20

[[segments]]
kind = "product"
title = "围巾秒杀"
duration_s = 300
product = "scarf"
talking_points = [
  "{{ product }} 原价 {{ anchor_price }}",
  "今天只要 {{ price }}",
]
urgency_lines = ["只剩 {{ stock }} 件！"]
urgency_at = 20

[segments.sale]
auto_start = false
duration_s = 120
price = 15900
stock = 40
limit_per_buyer = 1
auto_advance_on_sold_out = true

[[segments]]
kind = "lottery"
title = "福袋"
duration_s = 90
prize = "围巾一条"
winners = 3
window_s = 30
eligibility = "buyers"

[[segments]]
kind = "qa"
title = "答疑"
duration_s = 120

[[segments]]
kind = "closing"
title = "回顾"
duration_s = 60
step = "recap"

[[segments]]
kind = "closing"
title = "预告"
duration_s = 30
step = "next_show"

[[segments]]
kind = "closing"
title = "感谢"
duration_s = 30
step = "thanks"

[[segments]]
kind = "closing"
title = "评分"
duration_s = 15
step = "rating"

[[segments]]
kind = "closing"
title = "存档"
duration_s = 10
step = "archive"
"""


def only_error(source: str) -> Issue:
    found = errors(source)
    assert len(found) == 1, [str(issue) for issue in found]
    return found[0]


def assert_error(source: str, line: int, *words: str) -> None:
    issue = only_error(source)
    assert issue.line == line, str(issue)
    for word in words:
        assert word in issue.message, str(issue)


# --- a good script -----------------------------------------------------------------------


def test_full_script_loads_without_any_issue() -> None:
    show, issues = load_show(FULL, "full.toml")
    assert issues == []
    assert show is not None
    assert (show.title, show.host, show.currency, show.source) == (
        "冬季好物专场",
        "小美",
        "CNY",
        "full.toml",
    )


def test_full_script_show_metadata() -> None:
    show = load(FULL)
    assert show.starts_at == START
    assert show.utc_offset_s == 8 * 3600
    assert show.next_show_at == dt.datetime(2026, 12, 8, 12, tzinfo=dt.UTC).timestamp()
    assert show.targets == Targets(gmv=5_000_000, orders=300, peak_online=2000)
    assert show.rules == ShowRules(
        overtime_cue_s=15,
        dead_room_online_drop=0.25,
        dead_room_window_s=90,
        dead_room_comments_per_min=3,
        extra_banned_words=("秒杀全网",),
    )


def test_full_script_products() -> None:
    show = load(FULL)
    assert list(show.products) == ["scarf", "mug-2"]
    scarf = show.products["scarf"]
    assert (scarf.anchor_price, scarf.live_price, scarf.stock, scarf.limit_per_buyer) == (
        39900,
        19900,
        100,
        2,
    )
    assert scarf.images == ("https://cdn.example/scarf-1.jpg", "https://cdn.example/scarf-2.jpg")
    assert scarf.selling_points == ("内蒙古羊绒", "柔软不扎")
    assert scarf.faq == (Faq("会起球吗？", "正常穿着不起球"), Faq("能机洗吗？", "建议手洗"))
    mug = show.products["mug-2"]
    assert (mug.stock, mug.limit_per_buyer, mug.images, mug.faq) == (0, 1, (), ())


def test_full_script_has_every_segment_kind_in_order() -> None:
    show = load(FULL)
    assert [segment.kind for segment in show.segments] == [
        SegmentKind.OPENING,
        SegmentKind.INTRO,
        SegmentKind.INTERACTION,
        SegmentKind.PRODUCT,
        SegmentKind.LOTTERY,
        SegmentKind.QA,
        *[SegmentKind.CLOSING] * 5,
    ]
    assert [segment.step for segment in show.segments[6:]] == list(ClosingStep)
    assert [segment.line for segment in show.segments] == [
        line_of(FULL, f'title = "{title}"') - 2
        for title in (
            *("开场福利预告", "主播介绍", "扣1抢福利", "围巾秒杀", "福袋", "答疑"),
            *("回顾", "预告", "感谢", "评分", "存档"),
        )
    ]
    assert show.planned_duration_s == 30 + 45.5 + 60 + 300 + 90 + 120 + 60 + 30 + 30 + 15 + 10


def test_full_script_segment_settings() -> None:
    show = load(FULL)
    interaction, product, lottery = show.segments[2], show.segments[3], show.segments[4]
    assert (interaction.prompt, interaction.keyword, interaction.window_s) == (
        "扣 {{ keyword }} 抢福利",
        "1",
        20,
    )
    assert product.product == "scarf"
    assert product.talking_points == (
        "{{ product }} 原价 {{ anchor_price }}",
        "今天只要 {{ price }}",
    )
    assert (product.urgency_lines, product.urgency_at) == (("只剩 {{ stock }} 件！",), 20)
    assert product.sale == SaleSettings(
        auto_start=False,
        duration_s=120,
        price=15900,
        stock=40,
        limit_per_buyer=1,
        auto_advance_on_sold_out=True,
    )
    assert (lottery.prize, lottery.winners, lottery.window_s, lottery.keyword) == (
        "围巾一条",
        3,
        30,
        "",
    )
    assert lottery.eligibility is LotteryEligibility.BUYERS


def test_defaults_when_optional_settings_are_absent() -> None:
    show = load(RUN_OF_SHOW)
    assert show.targets == Targets()
    assert show.rules == ShowRules()
    mug_segment = show.segments[3]
    assert mug_segment.sale == SaleSettings(auto_start=False)
    assert mug_segment.urgency_at is None
    lottery = show.segments[4]
    assert (lottery.winners, lottery.window_s) == (1, 120.0)
    assert lottery.eligibility is LotteryEligibility.COMMENT


def test_starts_at_may_be_a_string_with_offset() -> None:
    source = script(segment("opening")).replace(
        "starts_at = 2026-12-01T20:00:00+08:00", 'starts_at = "2026-12-01T12:00:00+00:00"'
    )
    show = load(source)
    assert (show.starts_at, show.utc_offset_s) == (START, 0)


def test_missing_recommended_closing_steps_are_warnings_only() -> None:
    closing = '[[segments]]\nkind = "closing"\nduration_s = 30\nstep = "recap"\n'
    source = script(segment("opening"), closing=closing)
    show, issues = load_show(source)
    assert show is not None
    assert {issue.severity for issue in issues} == {Severity.WARNING}
    assert sorted(issue.message for issue in issues) == [
        "the closing has no 'next_show' step",
        "the closing has no 'thanks' step",
    ]
    assert {issue.line for issue in issues} == {line_of(source, "[[segments]]", 2)}


def test_next_show_step_without_next_show_at_is_a_warning() -> None:
    header = HEADER.replace("next_show_at = 2026-12-08T20:00:00+08:00\n", "")
    show, issues = load_show(script(segment("opening"), header=header))
    assert show is not None
    assert [(issue.severity, issue.line, issue.message) for issue in issues] == [
        (Severity.WARNING, 1, "a next_show step but no show.next_show_at")
    ]


def test_issue_reads_file_line_severity_message() -> None:
    issue = Issue("show.toml", 12, Severity.ERROR, "unknown product 'hat'")
    assert str(issue) == "show.toml:12: error: unknown product 'hat'"


# --- errors at their lines ---------------------------------------------------------------


def test_unknown_product() -> None:
    source = script(segment("opening"), product_segment("hat"))
    assert_error(source, line_of(source, 'product = "hat"'), "unknown product 'hat'")


def test_negative_stock() -> None:
    source = script(segment("opening"), products=PRODUCTS.replace("stock = 50", "stock = -1"))
    assert_error(source, line_of(source, "stock = -1"), "'stock' must be at least 0, got -1")


def test_negative_sale_stock() -> None:
    source = script(product_segment("scarf", sale="stock = -5"))
    assert_error(source, line_of(source, "stock = -5"), "'stock' must be at least 0")


def test_live_price_above_anchor() -> None:
    products = PRODUCTS.replace("live_price = 6990", "live_price = 13000")
    source = script(segment("opening"), products=products)
    assert_error(
        source,
        line_of(source, "live_price = 13000"),
        "live price 13000 is above the anchor price 12900",
    )


def test_sale_price_above_anchor() -> None:
    source = script(product_segment("mug", sale="auto_start = true\nprice = 12901"))
    assert_error(
        source, line_of(source, "price = 12901"), "sale price 12901 is above the anchor price 12900"
    )


def test_sale_price_equal_to_anchor_is_fine() -> None:
    load(script(product_segment("mug", sale="price = 12900")))


def test_sale_price_above_anchor_in_an_inline_table_points_at_the_sale() -> None:
    source = script(
        segment("opening"),
        product_segment("mug", body="sale = { auto_start = true, price = 20000 }"),
    )
    assert_error(source, line_of(source, "sale = {"), "sale price 20000")


def test_missing_closing_points_at_the_last_segment() -> None:
    source = script(segment("opening"), product_segment("scarf"), closing="")
    assert_error(source, line_of(source, "[[segments]]", 2), "missing closing")


def test_closing_not_last_points_at_the_segment_after_it() -> None:
    source = script(segment("opening"), closing=CLOSING + "\n" + segment("qa"))
    assert_error(source, line_of(source, 'kind = "qa"'), "closing segments must come last")


def test_unknown_template_variable() -> None:
    source = script(segment("opening", body='talking_points = ["立减 {{ discount }} 元"]'))
    assert_error(source, line_of(source, "{{ discount }}"), "unknown template variable 'discount'")


def test_template_syntax_error() -> None:
    source = script(segment("opening", body='talking_points = ["今天只要 {{ price "]'))
    assert_error(source, line_of(source, "{{ price "), "template syntax error")


def test_template_error_in_the_middle_of_a_multi_line_list() -> None:
    body = 'talking_points = [\n  "欢迎",\n  "今天 {{ pricee }}",\n  "再见",\n]'
    source = script(segment("opening", body=body))
    assert_error(source, line_of(source, "pricee"), "unknown template variable 'pricee'")


def test_unknown_template_filter_is_an_issue_not_an_exception() -> None:
    body = "talking_points = [\"感谢 {{ top_commenters | joinn('、') }}\"]"
    source = script(segment("opening", body=body))
    assert_error(source, line_of(source, "joinn"), "joinn")


def test_extreme_word_in_talking_points_names_the_exact_line() -> None:
    body = 'talking_points = [\n  "欢迎大家",\n  "这是全网最好的围巾",\n]'
    source = script(segment("opening", body=body))
    assert_error(source, line_of(source, "全网最好"), "极限词", "'最'")


def test_extreme_word_in_selling_points() -> None:
    products = PRODUCTS.replace('"内蒙古羊绒，柔软不扎"', '"内蒙古羊绒", "销量第一的围巾"')
    source = script(segment("opening"), products=products)
    assert_error(source, line_of(source, "销量第一"), "极限词", "'第一'")


def test_extreme_word_in_urgency_lines_reports_the_longest_term() -> None:
    source = script(
        product_segment("scarf", body='urgency_lines = ["全网最低价，只剩 {{ stock }} 件"]')
    )
    assert_error(source, line_of(source, "全网最低价"), "极限词", "'全网最低'")
    assert "'最'" not in only_error(source).message


def test_extreme_word_in_prompt() -> None:
    body = 'prompt = "最后一波，扣1领顶级福利"\nkeyword = "1"'
    source = script(segment("interaction", body=body))
    assert_error(source, line_of(source, "prompt = "), "极限词", "'顶级'")


def test_medical_claim() -> None:
    source = script(segment("opening", body='talking_points = ["这款茶可以治疗失眠"]'))
    assert_error(source, line_of(source, "治疗失眠"), "medical claim", "'治疗'")


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        ('name = "羊绒围巾"', 'name = "顶级羊绒围巾"'),
        ('a = "正常穿着不起球"', 'a = "绝对不起球"'),
        ('q = "会起球吗？"', 'q = "是最软的吗？"'),
    ],
)
def test_extreme_word_in_product_names_and_faq(replace: str, by: str) -> None:
    source = script(segment("opening"), products=PRODUCTS.replace(replace, by))
    assert_error(source, line_of(source, by), "极限词")


def test_extreme_word_in_a_segment_title() -> None:
    source = script(segment("opening", title="史上最强开场"))
    issues = errors(source)
    assert [issue.line for issue in issues] == [line_of(source, "史上最强开场")] * 2
    assert ["'史上'" in issues[0].message, "'最'" in issues[1].message] == [True, True]


def test_medical_claim_in_a_lottery_prize() -> None:
    body = 'prize = "根治失眠枕"\nkeyword = "抽奖"'
    source = script(segment("lottery", body=body))
    assert_error(source, line_of(source, "根治失眠枕"), "medical claim", "'根治'")


def test_show_banned_words_are_checked() -> None:
    source = FULL.replace(
        'title = "主播介绍"', 'title = "主播介绍"\ntalking_points = ["秒杀全网！"]'
    )
    assert_error(source, line_of(source, '"秒杀全网！"'), "极限词", "'秒杀全网'")


def test_allowed_phrases_are_not_errors() -> None:
    body = 'talking_points = ["最后一波", "第一次来的朋友", "最多买两件"]'
    load(script(segment("opening", body=body)))


@pytest.mark.parametrize(
    ("table", "typo"),
    [
        ("show", "titel"),
        ("segment", "talkng_points"),
        ("sale", "auto_strat"),
        ("product", "limit_per_buyr"),
        ("root", "extras"),
    ],
)
def test_unknown_key(table: str, typo: str) -> None:
    line = f"{typo} = 1"
    if table == "show":
        source = script(segment("opening"), header=HEADER + line + "\n")
    elif table == "segment":
        source = script(segment("opening", body=line))
    elif table == "sale":
        source = script(product_segment("scarf", sale=f"auto_start = true\n{line}"))
    elif table == "product":
        source = script(segment("opening"), products=PRODUCTS + line + "\n")
    else:
        source = line + "\n" + script(segment("opening"))
    assert_error(source, line_of(source, line), f"unknown key {typo!r}")


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("stock = 100", 'stock = "100"', "'stock' must be an integer"),
        ("anchor_price = 39900", "anchor_price = 399.5", "'anchor_price' must be an integer"),
        ("live_price = 19900", "live_price = true", "'live_price' must be an integer"),
        ('title = "冬季好物专场"', "title = 5", "'title' must be a non-empty string"),
        ('host = "小美"', 'host = "  "', "'host' must be a non-empty string"),
        ('images = ["https', 'images = [1, "https', "'images' must be a list of strings"),
        ("selling_points = [", "selling_points = 7 #[", "'selling_points' must be a list"),
    ],
)
def test_wrong_types_in_header_and_products(replace: str, by: str, message: str) -> None:
    source = script(segment("opening"))
    assert replace in source
    source = source.replace(replace, by, 1)
    assert_error(source, line_of(source, by), message)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('duration_s = "60"', "'duration_s' must be a number"),
        ('talking_points = "hello"', "'talking_points' must be a list of strings"),
        ("urgency_at = true", "'urgency_at' must be an integer"),
        ("urgency_at = 2.5", "'urgency_at' must be an integer"),
        ("urgency_lines = [1, 2]", "'urgency_lines' must be a list of strings"),
        ("sale = 5", "'sale' must be a table"),
        ("duration_s = 0.5", "'duration_s' must be at least 1"),
    ],
)
def test_wrong_types_in_a_product_segment(line: str, message: str) -> None:
    source = script(segment("opening"), product_segment("scarf", body=line))
    if line.startswith("duration_s"):
        source = source.replace("duration_s = 120\n", "")
    assert_error(source, line_of(source, line), message)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('auto_start = "yes"', "'auto_start' must be true or false"),
        ("auto_advance_on_sold_out = 1", "'auto_advance_on_sold_out' must be true or false"),
        ("limit_per_buyer = 0", "'limit_per_buyer' must be at least 1"),
        ('price = "99"', "'price' must be an integer"),
    ],
)
def test_wrong_types_in_a_sale(line: str, message: str) -> None:
    source = script(product_segment("scarf", sale=line))
    assert_error(source, line_of(source, line), message)


def test_unknown_segment_kind() -> None:
    source = script(segment("opening"), segment("dance"))
    assert_error(source, line_of(source, 'kind = "dance"'), "'kind' must be one of", "'dance'")


def test_missing_kind_points_at_the_segment() -> None:
    source = script(segment("opening"), '[[segments]]\ntitle = "无类型"\nduration_s = 60\n')
    assert_error(source, line_of(source, "[[segments]]", 2), "missing 'kind'")


def test_closing_without_step_points_at_the_segment() -> None:
    closing = CLOSING.replace('step = "thanks"\n', "")
    source = script(segment("opening"), closing=closing)
    issues = errors(source)
    assert [(issue.line, issue.message) for issue in issues] == [
        (line_of(source, "[[segments]]", 4), "missing 'step'")
    ]


def test_unknown_closing_step() -> None:
    closing = CLOSING.replace('step = "thanks"', 'step = "goodbye"')
    source = script(segment("opening"), closing=closing)
    assert_error(source, line_of(source, 'step = "goodbye"'), "'step' must be one of")


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T20:00:00",
        '"2026-12-01T20:00:00"',
        '"2026-12-01 20:00"',
        '"tomorrow evening"',
        "2026-12-01",
        "20:00:00",
    ],
)
def test_starts_at_without_an_offset(value: str) -> None:
    source = script(segment("opening")).replace(
        "starts_at = 2026-12-01T20:00:00+08:00", f"starts_at = {value}"
    )
    assert_error(
        source, line_of(source, "starts_at = "), "'starts_at' must be a date-time with a UTC offset"
    )


def test_missing_starts_at_points_at_the_show_table() -> None:
    source = script(segment("opening")).replace("starts_at = 2026-12-01T20:00:00+08:00\n", "")
    assert_error(source, line_of(source, "[show]"), "missing 'starts_at'")


@pytest.mark.parametrize("value", ['"rmb"', '"RMBX"', '"¥"', '"C1Y"'])
def test_bad_currency(value: str) -> None:
    source = script(segment("opening")).replace('currency = "CNY"', f"currency = {value}")
    assert_error(source, line_of(source, "currency = "), "currency must be a 3-letter code")


def test_duplicate_product_id_points_at_the_second() -> None:
    products = PRODUCTS.replace('id = "mug"', 'id = "scarf"')
    source = script(segment("opening"), products=products)
    assert_error(source, line_of(source, 'id = "scarf"', 2), "duplicate product id 'scarf'")


def test_bad_product_id() -> None:
    products = PRODUCTS.replace('id = "mug"', 'id = "Mug Cup"')
    source = script(segment("opening"), products=products)
    assert_error(source, line_of(source, 'id = "Mug Cup"'), "must be lower-case letters")


def test_lottery_by_comment_without_keyword_points_at_the_segment() -> None:
    source = script(segment("opening"), segment("lottery", body='prize = "福袋"'))
    assert_error(
        source, line_of(source, "[[segments]]", 2), "a lottery by comment needs a 'keyword'"
    )


def test_interaction_without_prompt_points_at_the_segment() -> None:
    source = script(segment("interaction", body='keyword = "1"'))
    assert_error(source, line_of(source, "[[segments]]"), "missing 'prompt'")


def test_dead_room_drop_must_be_a_share() -> None:
    header = HEADER + "\n[show.rules]\ndead_room_online_drop = 30\n"
    source = script(segment("opening"), header=header)
    assert_error(source, line_of(source, "dead_room_online_drop"), "share below 1")


def test_no_segments_at_all() -> None:
    source = HEADER + "\n" + PRODUCTS
    assert_error(source, 1, "the show has no [[segments]]")


def test_invalid_toml_takes_the_parsers_line() -> None:
    source = script(segment("opening")).replace('host = "小美"', "host = 小美")
    show, issues = load_show(source, "show.toml")
    assert show is None
    assert len(issues) == 1
    assert issues[0].line == line_of(source, "host = ")
    assert issues[0].message.startswith("not valid TOML: ")


def test_invalid_toml_duplicate_table() -> None:
    source = script(segment("opening")) + "\n[show]\n"
    (issue,) = load_show(source)[1]
    assert issue.line == len(source.splitlines())
    assert "not valid TOML" in issue.message


def test_script_larger_than_the_limit() -> None:
    base = script(segment("opening"))
    source = base + "#" * (MAX_SCRIPT_BYTES - len(base.encode()) + 1)
    show, issues = load_show(source, "big.toml")
    assert show is None
    assert [str(issue) for issue in issues] == [
        f"big.toml:1: error: script larger than {MAX_SCRIPT_BYTES} bytes"
    ]


def test_script_at_the_limit_is_read() -> None:
    base = script(segment("opening"))
    load(base + "#" * (MAX_SCRIPT_BYTES - len(base.encode())))


def test_limit_counts_bytes_not_characters() -> None:
    base = script(segment("opening"))
    padding = (MAX_SCRIPT_BYTES - len(base.encode())) // 3 + 1
    (issue,) = load_show(base + "#" + "字" * padding)[1]
    assert "larger than" in issue.message


def test_every_error_is_reported_in_one_pass_sorted_by_line() -> None:
    products = PRODUCTS.replace("stock = 50", "stock = -1")
    source = script(
        segment("opening", body='talking_points = ["{{ nope }}"]'),
        product_segment("hat"),
        products=products,
    ).replace('currency = "CNY"', 'currency = "cny"')
    found = errors(source)
    assert [issue.line for issue in found] == [
        line_of(source, "currency = "),
        line_of(source, "stock = -1"),
        line_of(source, "{{ nope }}"),
        line_of(source, 'product = "hat"'),
    ]
    assert [issue.line for issue in found] == sorted(issue.line for issue in found)


def test_lexicon_argument_adds_words() -> None:
    source = script(segment("opening", body='talking_points = ["宇宙无敌好用"]'))
    assert errors(source) == []
    found = errors(source, default_lexicon().with_extra(["宇宙无敌"]))
    assert [(issue.line, "'宇宙无敌'" in issue.message) for issue in found] == [
        (line_of(source, "宇宙无敌好用"), True)
    ]


# --- values that must not get through ----------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_duration_is_an_error(value: str) -> None:
    """A NaN or infinite duration would make every countdown unprintable."""
    source = script(segment("opening")).replace("duration_s = 60", f"duration_s = {value}", 1)
    issue = only_error(source)
    assert issue.line == line_of(source, f"duration_s = {value}")


def test_deeply_nested_toml_is_an_issue_not_an_exception() -> None:
    source = "x = " + "[" * 3000 + "]" * 3000 + "\n"
    show, issues = load_show(source)
    assert show is None
    assert [issue.severity for issue in issues] == [Severity.ERROR]


def test_deeply_nested_template_is_an_issue_not_an_exception() -> None:
    point = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    source = script(segment("opening", body=f'talking_points = ["{point}"]'))
    assert_error(source, line_of(source, "talking_points"))


def test_template_with_a_huge_constant_is_an_issue_not_an_exception() -> None:
    source = script(segment("opening", body='talking_points = ["{{ online * 10 ** 5000 }}"]'))
    assert_error(source, line_of(source, "10 ** 5000"))


# --- files -------------------------------------------------------------------------------


def test_load_file_reads_a_good_script(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(RUN_OF_SHOW, encoding="utf-8")
    show = load_file(path)
    assert (show.source, len(show.segments)) == (str(path), 8)


def test_load_file_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    source = script(product_segment("hat"), closing="")
    path.write_text(source, encoding="utf-8")
    with pytest.raises(ScriptError) as raised:
        load_file(path)
    assert [issue.line for issue in raised.value.issues] == [
        line_of(source, "[[segments]]"),
        line_of(source, 'product = "hat"'),
    ]
    assert str(raised.value).splitlines()[0].startswith(f"{path}:")


def test_load_file_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(script(segment("opening")).encode("gbk"))
    with pytest.raises(ScriptError) as raised:
        load_file(path)
    assert [str(issue) for issue in raised.value.issues] == [
        f"{path}:1: error: script is not UTF-8"
    ]

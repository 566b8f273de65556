"""The pure fan-tier rules and how a script declares them."""

from __future__ import annotations

import pytest

from console.commerce.sale import Sale
from console.fandesk import channel_for
from console.fans import FanLimit, Tier, admits, limit_label, refusal, tier_from_first_show
from console.lottery import Eligibility, Lottery
from console.show.loader import load_show
from tests.fans._helpers import fan_script


@pytest.mark.parametrize(
    ("limit", "tier", "allowed"),
    [
        (FanLimit.ALL, Tier.NEW, True),
        (FanLimit.ALL, Tier.RETURNING, True),
        (FanLimit.NEW, Tier.NEW, True),
        (FanLimit.NEW, Tier.RETURNING, False),
        (FanLimit.RETURNING, Tier.NEW, False),
        (FanLimit.RETURNING, Tier.RETURNING, True),
    ],
)
def test_admits(limit: FanLimit, tier: Tier, allowed: bool) -> None:
    assert admits(limit, tier) is allowed


def test_the_first_show_decides_the_tier() -> None:
    assert tier_from_first_show("show-1", "show-1") is Tier.NEW
    assert tier_from_first_show("show-1", "show-2") is Tier.RETURNING


def test_rehearsals_have_a_channel_apart() -> None:
    assert channel_for("show-1", "chuhe") == "chuhe"
    assert channel_for("show-1", None) == "default"
    assert channel_for("rehearsal-monday", "chuhe") == "rehearsal:chuhe"
    assert channel_for("demo", None) == "rehearsal:default"


def test_labels_and_refusals_are_bilingual() -> None:
    assert limit_label(FanLimit.ALL) == ""
    for limit in (FanLimit.NEW, FanLimit.RETURNING):
        text = limit_label(limit) + refusal(limit)
        assert "粉" in text
        assert "fans" in text


def test_a_sale_read_back_from_json_gets_its_limit() -> None:
    sale = Sale("s1", "r", "p", 100, 200, 5, 1, 0.0, 60.0, fans="returning")  # type: ignore[arg-type]
    assert sale.fans is FanLimit.RETURNING
    assert Sale("s2", "r", "p", 100, 200, 5, 1, 0.0, 60.0).fans is FanLimit.ALL


def test_a_lottery_round_trips_its_limit() -> None:
    lottery = Lottery("l1", "福袋", 1, Eligibility.COMMENT, "1", 0.0, 60.0, 7, fans=FanLimit.NEW)
    assert Lottery.from_dict(lottery.to_dict()) == lottery
    older = {key: value for key, value in lottery.to_dict().items() if key != "fans"}
    assert Lottery.from_dict(older).fans is FanLimit.ALL


def test_a_script_declares_its_channel_and_limits() -> None:
    show, issues = load_show(fan_script(), "fans.toml")
    assert show is not None, issues
    assert show.channel == "chuhe"
    sale = show.segments[1].sale
    assert sale is not None
    assert sale.fans is FanLimit.RETURNING
    assert show.segments[2].fans is FanLimit.NEW


def test_without_a_channel_or_limits_everyone_counts() -> None:
    source = (
        fan_script(channel="").replace('fans = "returning"\n', "").replace('fans = "new"\n', "")
    )
    show, issues = load_show(source, "fans.toml")
    assert show is not None, issues
    assert show.channel == ""
    sale = show.segments[1].sale
    assert sale is not None
    assert sale.fans is FanLimit.ALL
    assert show.segments[2].fans is FanLimit.ALL


def test_bad_limits_and_channels_are_errors_with_their_line() -> None:
    source = fan_script(channel="初禾 shop", sale_fans="vip")
    show, issues = load_show(source, "fans.toml")
    assert show is None
    errors = {(issue.line, issue.message) for issue in issues}
    lines = source.splitlines()
    channel_line = next(n for n, text in enumerate(lines, 1) if text.startswith("channel"))
    fans_line = next(n for n, text in enumerate(lines, 1) if text == 'fans = "vip"')
    assert any(line == channel_line and "channel" in message for line, message in errors), errors
    assert any(
        line == fans_line and "'fans' must be one of" in message for line, message in errors
    ), errors

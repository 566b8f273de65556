"""The flash-sale rules in :mod:`console.commerce.sale`: pure, no store, no clock.

Every transition is tried from every status: allowed ones give the expected sale,
refused ones raise :class:`SaleRejected` whose ``reason`` a controller can read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from console.commerce import BuyOutcome, Sale, SaleRejected, SaleStatus, decide_buy
from console.commerce.sale import PRICE_CUT_ALERT_SHARE, STOCK_MULTIPLY_ALERT
from tests.commerce._helpers import ANCHOR_PRICE, DURING, END, START, make_sale

NOW = START + 100.0


def rejected(action: Callable[[], object]) -> str:
    """Call ``action`` and return the reason it was refused with."""
    with pytest.raises(SaleRejected) as caught:
        action()
    assert str(caught.value) == caught.value.reason
    assert caught.value.reason
    return caught.value.reason


def in_status(status: SaleStatus) -> Sale:
    return make_sale(status=status)


# validate -------------------------------------------------------------------


def test_a_valid_sale_validates_to_itself() -> None:
    sale = make_sale()
    assert sale.validate() is sale


def test_a_sale_at_the_anchor_price_is_valid() -> None:
    assert make_sale(price=ANCHOR_PRICE).validate().price == ANCHOR_PRICE


def test_a_sale_with_no_stock_is_valid() -> None:
    assert make_sale(released=0).validate().released == 0


def test_a_price_above_the_anchor_is_refused() -> None:
    reason = rejected(make_sale(price=ANCHOR_PRICE + 1, anchor_price=ANCHOR_PRICE).validate)
    assert reason == f"sale price {ANCHOR_PRICE + 1} is above the anchor price {ANCHOR_PRICE}"


@pytest.mark.parametrize(("price", "anchor_price"), [(0, 100), (-1, 100), (50, 0), (50, -100)])
def test_prices_must_be_positive(price: int, anchor_price: int) -> None:
    assert "positive" in rejected(make_sale(price=price, anchor_price=anchor_price).validate)


def test_negative_stock_is_refused() -> None:
    assert rejected(make_sale(released=-1).validate) == "stock cannot be negative"


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    assert "at least 1" in rejected(make_sale(limit=limit).validate)


@pytest.mark.parametrize("ends_at", [START - 1.0, START])
def test_a_sale_must_end_after_it_starts(ends_at: float) -> None:
    assert rejected(make_sale(ends_at=ends_at).validate) == "a sale must end after it starts"


# start ----------------------------------------------------------------------


def test_start_opens_a_scheduled_sale_now_for_the_duration() -> None:
    started = in_status(SaleStatus.SCHEDULED).start(NOW, 120.0)
    assert started.status is SaleStatus.OPEN
    assert (started.starts_at, started.ends_at) == (NOW, NOW + 120.0)
    assert started.is_open(NOW)


def test_start_without_a_duration_keeps_the_planned_end() -> None:
    started = in_status(SaleStatus.SCHEDULED).start(NOW, None)
    assert (started.starts_at, started.ends_at) == (NOW, END)


def test_start_without_a_duration_after_the_planned_end_gives_one_second() -> None:
    started = in_status(SaleStatus.SCHEDULED).start(END + 50.0, None)
    assert (started.starts_at, started.ends_at) == (END + 50.0, END + 51.0)


def test_start_reopens_a_paused_sale() -> None:
    assert in_status(SaleStatus.PAUSED).start(NOW, 60.0).status is SaleStatus.OPEN


@pytest.mark.parametrize("status", [SaleStatus.OPEN, SaleStatus.ENDED])
def test_start_is_refused_for_an_open_or_ended_sale(status: SaleStatus) -> None:
    reason = rejected(lambda: in_status(status).start(NOW, 60.0))
    assert reason == f"the sale is already {status.value}"


def test_start_revalidates_the_sale() -> None:
    broken = make_sale(status=SaleStatus.SCHEDULED, limit=0)
    assert "at least 1" in rejected(lambda: broken.start(NOW, 60.0))


# pause / resume -------------------------------------------------------------


def test_pause_an_open_sale() -> None:
    paused = in_status(SaleStatus.OPEN).pause()
    assert paused.status is SaleStatus.PAUSED
    assert not paused.is_open(DURING)


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.PAUSED, SaleStatus.ENDED])
def test_pause_is_refused_unless_open(status: SaleStatus) -> None:
    reason = rejected(in_status(status).pause)
    assert reason == f"only an open sale can be paused; it is {status.value}"


def test_resume_a_paused_sale_within_its_window() -> None:
    resumed = in_status(SaleStatus.PAUSED).resume(NOW)
    assert resumed.status is SaleStatus.OPEN
    assert (resumed.starts_at, resumed.ends_at) == (START, END)


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.OPEN, SaleStatus.ENDED])
def test_resume_is_refused_unless_paused(status: SaleStatus) -> None:
    reason = rejected(lambda: in_status(status).resume(NOW))
    assert reason == f"only a paused sale can be resumed; it is {status.value}"


@pytest.mark.parametrize("now", [END, END + 1.0])
def test_resume_is_refused_once_the_time_is_over(now: float) -> None:
    assert "time is over" in rejected(lambda: in_status(SaleStatus.PAUSED).resume(now))


# end ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.OPEN, SaleStatus.PAUSED])
def test_end_closes_the_sale_now(status: SaleStatus) -> None:
    ended = in_status(status).end(NOW)
    assert ended.status is SaleStatus.ENDED
    assert ended.ends_at == NOW


def test_end_after_the_planned_end_keeps_the_planned_end() -> None:
    assert in_status(SaleStatus.OPEN).end(END + 10.0).ends_at == END


def test_end_is_refused_for_an_ended_sale() -> None:
    assert rejected(lambda: in_status(SaleStatus.ENDED).end(NOW)) == "the sale has already ended"


# change_price ---------------------------------------------------------------


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.OPEN, SaleStatus.PAUSED])
def test_change_price_applies_to_a_sale_not_ended(status: SaleStatus) -> None:
    changed, alert = in_status(status).change_price(9_800)
    assert changed.price == 9_800
    assert changed.status is status
    assert not alert


def test_change_price_is_refused_for_an_ended_sale() -> None:
    reason = rejected(lambda: in_status(SaleStatus.ENDED).change_price(9_800))
    assert reason == "the sale has ended"


def test_change_price_above_the_anchor_is_refused() -> None:
    reason = rejected(lambda: make_sale().change_price(ANCHOR_PRICE + 1))
    assert "above the anchor price" in reason


@pytest.mark.parametrize("price", [0, -100])
def test_change_price_to_nothing_is_refused(price: int) -> None:
    assert "positive" in rejected(lambda: make_sale().change_price(price))


def test_a_cut_of_exactly_thirty_percent_of_the_anchor_does_not_alert() -> None:
    sale = make_sale(price=8_000, anchor_price=10_000)
    assert PRICE_CUT_ALERT_SHARE == 0.3
    assert sale.change_price(5_000) == (replace(sale, price=5_000), False)


def test_a_cut_just_above_thirty_percent_of_the_anchor_alerts() -> None:
    sale = make_sale(price=8_000, anchor_price=10_000)
    assert sale.change_price(4_999) == (replace(sale, price=4_999), True)


def test_a_rise_is_measured_like_a_cut() -> None:
    sale = make_sale(price=5_000, anchor_price=10_000)
    assert sale.change_price(8_000)[1] is False
    assert sale.change_price(8_001)[1] is True


# add_stock ------------------------------------------------------------------


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.OPEN, SaleStatus.PAUSED])
def test_add_stock_grows_released(status: SaleStatus) -> None:
    grown, alert = make_sale(status=status, released=100).add_stock(10, remaining=0)
    assert grown.released == 110
    assert grown.status is status
    assert not alert


@pytest.mark.parametrize("units", [0, -5])
def test_add_stock_needs_at_least_one_unit(units: int) -> None:
    assert rejected(lambda: make_sale().add_stock(units, 0)) == "add at least 1 unit"


def test_add_stock_is_refused_for_an_ended_sale() -> None:
    reason = rejected(lambda: in_status(SaleStatus.ENDED).add_stock(5, 0))
    assert reason == "the sale has ended"


def test_adding_just_under_the_released_stock_does_not_alert() -> None:
    assert make_sale(released=100).add_stock(99, remaining=3)[1] is False


def test_doubling_the_released_stock_alerts() -> None:
    assert STOCK_MULTIPLY_ALERT == 2.0
    grown, alert = make_sale(released=100).add_stock(100, remaining=3)
    assert (grown.released, alert) == (200, True)


def test_stock_added_to_a_sale_with_none_released_does_not_alert() -> None:
    assert make_sale(released=0).add_stock(1_000, remaining=0)[1] is False


# decide_buy -----------------------------------------------------------------


def test_a_buy_that_fits_is_accepted() -> None:
    assert decide_buy(make_sale(limit=2), 10, 0, 2, DURING) is BuyOutcome.ACCEPTED


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (START - 0.001, BuyOutcome.NOT_OPEN),
        (START, BuyOutcome.ACCEPTED),
        (END - 0.001, BuyOutcome.ACCEPTED),
        (END, BuyOutcome.NOT_OPEN),
        (END + 1.0, BuyOutcome.NOT_OPEN),
    ],
)
def test_the_window_includes_its_start_and_excludes_its_end(
    now: float, outcome: BuyOutcome
) -> None:
    assert decide_buy(make_sale(), 10, 0, 1, now) is outcome


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.PAUSED, SaleStatus.ENDED])
def test_a_sale_not_open_refuses_even_inside_its_window(status: SaleStatus) -> None:
    assert decide_buy(in_status(status), 10, 0, 1, DURING) is BuyOutcome.NOT_OPEN


def test_not_open_is_checked_before_limit_and_stock() -> None:
    assert decide_buy(in_status(SaleStatus.PAUSED), 0, 2, 1, DURING) is BuyOutcome.NOT_OPEN


def test_limit_is_checked_before_stock() -> None:
    assert decide_buy(make_sale(limit=2), 0, 2, 1, DURING) is BuyOutcome.LIMIT_REACHED


@pytest.mark.parametrize(
    ("bought", "quantity", "outcome"),
    [
        (0, 2, BuyOutcome.ACCEPTED),
        (1, 1, BuyOutcome.ACCEPTED),
        (1, 2, BuyOutcome.LIMIT_REACHED),
        (0, 3, BuyOutcome.LIMIT_REACHED),
        (2, 1, BuyOutcome.LIMIT_REACHED),
    ],
)
def test_the_limit_counts_what_was_bought_plus_what_is_asked(
    bought: int, quantity: int, outcome: BuyOutcome
) -> None:
    assert decide_buy(make_sale(limit=2), 10, bought, quantity, DURING) is outcome


def test_a_quantity_that_does_not_fit_is_refused_whole() -> None:
    sale = make_sale(limit=5)
    assert decide_buy(sale, 2, 0, 3, DURING) is BuyOutcome.SOLD_OUT
    assert decide_buy(sale, 3, 0, 3, DURING) is BuyOutcome.ACCEPTED


def test_no_stock_is_sold_out() -> None:
    assert decide_buy(make_sale(), 0, 0, 1, DURING) is BuyOutcome.SOLD_OUT

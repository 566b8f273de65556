"""A flash-sale stampede: 2,000 buyer sockets press "buy" at once for 200 units.

Run once per setup (one embedded node; two nodes sharing a private Redis,
buyers split over both) by a module fixture; each test checks one property of
the record (see :mod:`tests.e2e_commerce._stampede` for what the buyers send):
exactly 200 units sold, no order answering two keys, nobody above the limit of
2, every copy of a key answered alike, the dashboard and a watching viewer end
at 0 left with a "sold_out" event, the dashboard's ``order`` events and the
order log (``GET /api/rooms/{room}/orders``) match the accepted answers one for
one, and the stock shown never goes back up.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from tests.support import RedisProcess

from ._helpers import started_nodes
from ._stampede import (
    Stampede,
    check_accepted_answers_count_down,
    check_buyers_told,
    check_every_buy_answered,
    check_one_answer_per_key,
    check_order_log_matches_the_acks,
    check_orders_reconciled,
    check_screens_sold_out,
    check_settled,
    check_sold_out_said_once,
    check_state_is_versioned,
    check_stock_never_goes_back_up,
    check_stock_sold_within_limits,
    record_stampede,
)

SETUPS = ["embedded", "two-nodes-redis"]


@pytest.fixture(scope="module", params=SETUPS)
def stampede(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisProcess,
) -> Stampede:
    two_nodes = request.param == "two-nodes-redis"
    url = redis_server.url if two_nodes else ""
    if two_nodes:
        with redis.Redis.from_url(url) as client:
            client.flushall()
    with started_nodes(tmp_path_factory.mktemp(request.param), url, 2 if two_nodes else 1) as nodes:
        return asyncio.run(record_stampede(nodes))


def test_every_buy_is_answered(stampede: Stampede) -> None:
    check_every_buy_answered(stampede)


def test_every_copy_of_a_key_gets_the_same_answer(stampede: Stampede) -> None:
    check_one_answer_per_key(stampede)


def test_exactly_the_stock_is_sold_within_the_limit(stampede: Stampede) -> None:
    check_stock_sold_within_limits(stampede)


def test_each_accepted_answer_says_what_it_left(stampede: Stampede) -> None:
    check_accepted_answers_count_down(stampede)


def test_the_screens_end_sold_out(stampede: Stampede) -> None:
    check_screens_sold_out(stampede)


def test_the_dashboard_orders_match_the_acks(stampede: Stampede) -> None:
    check_orders_reconciled(stampede)


def test_the_order_log_matches_the_acks(stampede: Stampede) -> None:
    check_order_log_matches_the_acks(stampede)


def test_every_buyer_is_told_of_their_order(stampede: Stampede) -> None:
    check_buyers_told(stampede)


def test_the_stock_shown_never_goes_back_up(stampede: Stampede) -> None:
    check_stock_never_goes_back_up(stampede)


def test_the_sale_state_carries_a_version(stampede: Stampede) -> None:
    check_state_is_versioned(stampede)


def test_sold_out_is_said_once(stampede: Stampede) -> None:
    check_sold_out_said_once(stampede)


def test_the_screens_settled(stampede: Stampede) -> None:
    check_settled(stampede)

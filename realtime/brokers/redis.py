"""The Redis broker: several hub nodes on one Redis behave as one hub.

Per room (the ``{room}`` hash tag keeps a room's keys in one cluster slot):

- ``lc:{room}:seq``    the room's high-water sequence number (INCRBY);
- ``lc:{room}:hist``   a capped stream, one entry per ordered event, id ``<seq>-1``;
- ``lc:{room}:state``  a hash, the latest value of every state key;
- ``lc:{room}:epoch``  a random id, new whenever the room's history is new;
- ``lc:{room}:bus``    the pub/sub channel carrying ``epoch|high_water|batch``;
- ``lc:{room}:presence`` a hash, each node's counts and their expiry.

``publish`` is one Lua script: number, store, conflate, publish, atomically, so
every node sees batches in sequence order. A node subscribes only to the rooms
it serves; one batch per room per tick per node crosses the bus. A node's own
batches come back to it through the channel like everyone's (that is what puts
them in order); it recognises their bytes and delivers the batch it published
instead of decoding them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any, Final

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..batching import Batch, Delivery, unpack_event
from ..errors import BrokerError
from .base import Broker, Listener, Replay, Snapshot

__all__ = ["RedisBroker"]

log = logging.getLogger("livecon.bus")

PREFIX: Final = "lc"
SYSTEM_CHANNEL: Final = f"{PREFIX}:sys"
REVOKED_KEY: Final = f"{PREFIX}:revoked"
MAX_BACKOFF_S: Final = 5.0
CONFIRM_TIMEOUT_S: Final = 5.0
"""How long a reconnected reader waits for Redis to confirm its subscriptions."""
OWN_KEPT: Final = 256
"""Batches this node published and has not read back yet, kept to skip decoding them
(policy past it: forget the oldest, which is then decoded like any other)."""

PUBLISH_SCRIPT: Final = """
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[4], epoch)
end
local n = tonumber(ARGV[5])
local m = tonumber(ARGV[6])
local hw
if n > 0 then
  hw = redis.call('INCRBY', KEYS[1], n)
  local first = hw - n + 1
  for i = 1, n do
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], string.format('%d-1', first + i - 1),
      'e', ARGV[6 + i])
  end
else
  hw = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local base = 6 + n
for j = 1, m do
  redis.call('HSET', KEYS[3], ARGV[base + 2 * j - 1], ARGV[base + 2 * j])
end
local hws = string.format('%d', hw)
redis.call('PUBLISH', ARGV[1], epoch .. '|' .. hws .. '|' .. ARGV[2])
return {epoch, hws}
"""


def _key(room: str, part: str) -> str:
    return f"{PREFIX}:{{{room}}}:{part}"


def _channel(room: str) -> str:
    return _key(room, "bus")


def _room_of(channel: str) -> str:
    return channel[len(PREFIX) + 2 : channel.rindex("}")]


class RedisBroker(Broker):
    """A node's connection to the shared Redis.

    One reader task drains the node's subscriptions and hands each batch to
    the listener synchronously; it reconnects with capped backoff and
    resubscribes every room. While Redis is unreachable ``is_healthy`` is
    false and calls raise :class:`BrokerError`.
    """

    def __init__(self, url: str, history_size: int = 2048) -> None:
        self.url = url
        self.history_size = history_size
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=5,
            socket_connect_timeout=2,
            retry_on_timeout=False,
        )
        self._publish = self._redis.register_script(PUBLISH_SCRIPT)
        self._listener: Listener | None = None
        self._rooms: set[str] = set()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._healthy = False
        self._reader_lost = False
        self._own: dict[bytes, Batch] = {}
        self.errors = 0

    @property
    def is_healthy(self) -> bool:
        """The last call succeeded and the reader holds its subscriptions."""
        return self._healthy and not self._reader_lost

    def describe(self) -> dict[str, Any]:
        return {
            "healthy": self.is_healthy,
            "backend": "redis",
            "rooms": len(self._rooms),
            "errors": self.errors,
        }

    async def connect(self, listener: Listener) -> None:
        self._listener = listener
        await self._call(self._redis.ping())
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        await self._pubsub.subscribe(SYSTEM_CHANNEL)
        self._reader = asyncio.create_task(self._read_forever(), name="livecon-bus-reader")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()
        self._listener = None
        self._healthy = False

    async def subscribe(self, room: str) -> None:
        self._rooms.add(room)
        if self._pubsub is not None:
            await self._call(self._pubsub.subscribe(_channel(room)))

    async def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)
        if self._pubsub is not None:
            await self._call(self._pubsub.unsubscribe(_channel(room)))

    async def publish(self, room: str, batch: Batch) -> int:
        events = batch.pack_events()
        pairs: list[bytes | str] = []
        for mask, key, value in batch.state:
            pairs += [key, msgpack.packb([mask, value], use_bin_type=True)]
        keys = [_key(room, "seq"), _key(room, "hist"), _key(room, "state"), _key(room, "epoch")]
        packed = batch.pack()
        args: list[bytes | str | int] = [
            _channel(room),
            packed,
            self.history_size,
            secrets.token_hex(6),
            len(events),
            len(batch.state),
            *events,
            *pairs,
        ]
        own = self._own
        own[packed] = batch
        if len(own) > OWN_KEPT:
            del own[next(iter(own))]
        _, high_water = await self._call(self._publish(keys=keys, args=args))
        return int(high_water)

    async def replay(self, room: str, epoch: str, after_seq: int, limit: int) -> Replay:
        current, high_water = await self._epoch_and_high_water(room)
        if epoch != current or after_seq > high_water:
            return Replay(current, high_water, None)
        if after_seq == high_water:
            return Replay(current, high_water, [])
        if high_water - after_seq > limit:
            return Replay(current, high_water, None)
        entries = await self._call(
            self._redis.xrange(_key(room, "hist"), min=f"{after_seq + 1}-0", max="+", count=limit)
        )
        events = [
            (int(entry_id.split(b"-")[0]), unpack_event(body[b"e"])) for entry_id, body in entries
        ]
        if not events or events[0][0] != after_seq + 1:
            return Replay(current, high_water, None)
        return Replay(current, high_water, events)

    async def snapshot(self, room: str) -> Snapshot:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(room, "epoch"), secrets.token_hex(6), nx=True)
            pipe.hgetall(_key(room, "state"))
            pipe.get(_key(room, "epoch"))
            pipe.get(_key(room, "seq"))
            _, raw_state, epoch, seq = await self._call(pipe.execute())
        items = []
        for key, packed in raw_state.items():
            mask, value = msgpack.unpackb(packed, raw=False)
            items.append((mask, key.decode(), value))
        return Snapshot((epoch or b"").decode(), int(seq or 0), items)

    async def report_presence(
        self, room: str, node: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, dict[str, int]]:
        key = _key(room, "presence")
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, node, msgpack.packb([counts, now + ttl_s]))
            pipe.hgetall(key)
            _, raw = await self._call(pipe.execute())
        nodes: dict[str, dict[str, int]] = {}
        stale = []
        for other, packed in raw.items():
            other_counts, expires_at = msgpack.unpackb(packed, raw=False)
            if expires_at < now:
                stale.append(other)
            else:
                nodes[other.decode()] = other_counts
        if stale:
            await self._call(self._redis.hdel(key, *stale))
        return nodes

    async def revoke(self, token_id: str, expires_at: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(REVOKED_KEY, {token_id: expires_at})
            pipe.zremrangebyscore(REVOKED_KEY, "-inf", time.time())
            pipe.publish(SYSTEM_CHANNEL, b"revoke|" + token_id.encode())
            await self._call(pipe.execute())

    async def is_revoked(self, token_id: str) -> bool:
        return await self._call(self._redis.zscore(REVOKED_KEY, token_id)) is not None

    async def _epoch_and_high_water(self, room: str) -> tuple[str, int]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(room, "epoch"), secrets.token_hex(6), nx=True)
            pipe.get(_key(room, "epoch"))
            pipe.get(_key(room, "seq"))
            _, epoch, seq = await self._call(pipe.execute())
        return (epoch or b"").decode(), int(seq or 0)

    async def _call(self, awaitable: Any) -> Any:
        try:
            result = await awaitable
        except (RedisError, OSError) as exc:
            self._healthy = False
            self.errors += 1
            raise BrokerError(f"redis unavailable: {exc}") from exc
        self._healthy = True
        return result

    async def _read_forever(self) -> None:
        backoff = 0.1
        lost = False
        while True:
            try:
                if lost:
                    await self._resubscribe()
                    lost, backoff = False, 0.1
                    self._reader_lost = False
                    if self._listener is not None:
                        self._listener.on_resubscribed()
                await self._read_until_error()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                lost = True
                self._reader_lost = True
                self._healthy = False
                self.errors += 1
                log.warning("bus reader lost redis (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _resubscribe(self) -> None:
        old = self._pubsub
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        if old is not None:
            with contextlib.suppress(RedisError, OSError):
                await old.aclose()
        channels = [SYSTEM_CHANNEL, *(_channel(room) for room in self._rooms)]
        await self._pubsub.subscribe(*channels)
        await self._confirmed(len(channels))
        self._healthy = True
        log.info("bus reader resubscribed to %d rooms", len(self._rooms))

    async def _confirmed(self, count: int) -> None:
        """Wait until Redis confirms ``count`` subscriptions: only then is the reader back
        (a refusal, say for want of permission, raises; so does silence past
        :data:`CONFIRM_TIMEOUT_S`). Messages arriving in between are delivered. The
        confirmations reach this method because the subscriber does not drop them;
        the read loop skips them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_TIMEOUT_S
        confirmed = 0
        while confirmed < count:
            left = deadline - loop.time()
            if left <= 0:
                raise RedisConnectionError("the bus did not confirm the subscriptions")
            message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=left)
            if message is None:
                continue
            if message["type"] == "subscribe":
                confirmed += 1
            elif message["type"] == "message":
                self._dispatch(message["channel"].decode(), message["data"])

    async def _read_until_error(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None or message["type"] != "message":
                continue
            self._dispatch(message["channel"].decode(), message["data"])

    def _dispatch(self, channel: str, data: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            if channel == SYSTEM_CHANNEL:
                kind, _, value = data.partition(b"|")
                if kind == b"revoke":
                    listener.on_revoked(value.decode())
                return
            epoch, high_water, payload = data.split(b"|", 2)
            room = _room_of(channel)
            batch = self._own.pop(payload, None) or Batch.unpack(payload)
            listener.on_delivery(Delivery(room, epoch.decode(), int(high_water), batch))
        except Exception:
            log.exception("dropped an undecodable bus message on %s", channel)

"""Calls of one Lua script that arrive together go to Redis in one round trip.

A caller submits one call (its keys and arguments) and awaits its own reply.
The first call submitted while fewer than ``max_in_flight`` batches are on the
wire starts a sender, which takes its batch on the next turn of the event loop;
by then every call that arrived in the same turn has joined it. A batch takes up
to ``max_batch`` calls, oldest first. Its calls with the same keys (one sale) become one
``EVALSHA`` of the *batch script* with their arguments one call after the other,
in submission order; the batch script runs each call in that order, catching
each call's error (``pcall``), and replies with a list: one reply per call, or
``E`` and the message for a call that raised. The ``EVALSHA`` of all groups go
out as one non-transactional pipeline on one connection, followed by ``WAIT``
when ``wait_replicas`` > 0: ``WAIT`` counts the writes of its own connection, so
one ``WAIT`` covers every write of the batch. When a batch comes back, its
sender takes whatever queued meanwhile as the next batch, until nothing is
queued.

Each call keeps its own arguments and gets its own reply or its own error;
nothing is merged across calls.

Backpressure: at most ``capacity`` calls wait for a batch. A call beyond that is
refused at once with :class:`BatchFull` (policy: refuse the newest; nothing of
it was sent). A reply ``NOSCRIPT`` (Redis restarted or flushed its script
cache) means the script did not run: the script is loaded and those calls alone
are sent again, at most :data:`NOSCRIPT_RETRIES` times. A connection error that
outlives the client's retries fails every call of the batch with that error:
the scripts may or may not have run.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

__all__ = ["BatchFull", "ScriptBatcher", "ScriptReply"]

NOSCRIPT_RETRIES: Final = 2
"""Times a call answered ``NOSCRIPT`` is sent again after loading the script."""


class BatchFull(Exception):
    """``capacity`` calls are already waiting for a batch; this one was not sent."""

    def __init__(self, capacity: int) -> None:
        super().__init__(f"{capacity} script calls are already waiting")
        self.capacity = capacity


@dataclass(frozen=True, slots=True)
class ScriptReply:
    value: Any
    """What the script returned."""
    confirmed: int | None
    """Replicas that confirmed every write of the call's batch (``WAIT``); ``None``
    without ``wait_replicas``."""


@dataclass(slots=True)
class _Call:
    keys: tuple[str, ...]
    args: Sequence[str | int]
    future: asyncio.Future[ScriptReply]


class ScriptBatcher:
    """See the module docstring. One per script and client; call :meth:`close` last."""

    def __init__(
        self,
        redis: aioredis.Redis,
        script: str,
        *,
        max_batch: int = 128,
        max_in_flight: int = 2,
        capacity: int = 10_000,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 50,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or capacity < 1:
            raise ValueError("max_batch, max_in_flight and capacity must be at least 1")
        self._redis = redis
        self._script = redis.register_script(script)
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.capacity = capacity
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._queue: deque[_Call] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Calls queued for a batch that has not been sent yet."""
        return len(self._queue)

    async def call(self, keys: tuple[str, ...], args: Sequence[str | int]) -> ScriptReply:
        """Run one call with ``keys`` and ``args`` in the next batch; every call with the
        same keys must have as many arguments (the batch script's stride)."""
        if self._closed:
            raise RedisConnectionError("the script batcher is closed")
        if len(self._queue) >= self.capacity:
            raise BatchFull(self.capacity)
        call = _Call(keys, args, asyncio.get_running_loop().create_future())
        self._queue.append(call)
        self._start_sender_if_needed()
        return await call.future

    def _start_sender_if_needed(self) -> None:
        """Start a sender for the queued calls unless one is about to take them or
        ``max_in_flight`` are sending. A sender takes its first batch on its first step,
        one turn of the loop from now: every call made until then joins that batch."""
        if not self._queue or self._starting is not None:
            return
        if len(self._senders) >= self.max_in_flight:
            return
        sender = asyncio.get_running_loop().create_task(self._send_while_queued())
        self._starting = sender
        self._senders.add(sender)
        sender.add_done_callback(self._sender_done)

    def _sender_done(self, sender: asyncio.Task[None]) -> None:
        self._senders.discard(sender)
        if self._starting is sender:  # cancelled before its first step
            self._starting = None
        self._start_sender_if_needed()  # calls queued as the last senders were leaving

    async def _send_while_queued(self) -> None:
        """Send batches, oldest calls first, until nothing is queued."""
        self._starting = None
        while self._queue:
            count = min(self.max_batch, len(self._queue))
            await self._send([self._queue.popleft() for _ in range(count)])

    async def _send(self, calls: list[_Call]) -> None:
        try:
            for _ in range(NOSCRIPT_RETRIES + 1):
                calls = await self._round_trip(calls)
                if not calls:
                    return
                self._script.sha = await self._redis.script_load(self._script.script)
            _fail_all(calls, NoScriptError("the script could not be loaded"))
        except BaseException as exc:  # every caller hears the error, cancellation included
            _fail_all(calls, exc)
            if not isinstance(exc, Exception):
                raise

    async def _round_trip(self, calls: list[_Call]) -> list[_Call]:
        """One pipeline for ``calls``; answer each, and return those answered ``NOSCRIPT``."""
        groups: dict[tuple[str, ...], list[_Call]] = {}
        for call in calls:
            groups.setdefault(call.keys, []).append(call)
        sha = self._script.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, group in groups.items():
                args = [arg for call in group for arg in call.args]
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            if self.wait_replicas > 0:
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            replies = await pipe.execute(raise_on_error=False)
        confirmed = _confirmed(replies[-1]) if self.wait_replicas > 0 else None
        unknown: list[_Call] = []
        for group, reply in zip(groups.values(), replies, strict=False):
            if isinstance(reply, NoScriptError):
                unknown += group
            elif isinstance(reply, ResponseError):
                _fail_all(group, reply)
            elif not isinstance(reply, list) or len(reply) != len(group):
                _fail_all(group, ResponseError(f"expected {len(group)} replies, got {reply!r}"))
            else:
                for call, answer in zip(group, reply, strict=True):
                    _answer(call, answer, confirmed)
        return unknown

    async def close(self) -> None:
        """Refuse new calls, then send what is queued and wait for every batch."""
        self._closed = True
        self._start_sender_if_needed()
        while self._senders:
            await asyncio.gather(*self._senders, return_exceptions=True)


def _confirmed(reply: Any) -> int:
    """``WAIT``'s reply; an error (say, a server that is itself a replica) confirms none."""
    return reply if isinstance(reply, int) else 0


def _answer(call: _Call, reply: Any, confirmed: int | None) -> None:
    if isinstance(reply, str) and reply.startswith("E"):
        _fail(call, ResponseError(reply[1:]))
    elif not call.future.done():
        call.future.set_result(ScriptReply(reply, confirmed))


def _fail(call: _Call, error: BaseException) -> None:
    if not call.future.done():
        call.future.set_exception(error)


def _fail_all(calls: list[_Call], error: BaseException) -> None:
    for call in calls:
        _fail(call, error)

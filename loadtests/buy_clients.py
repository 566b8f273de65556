"""Buyer client processes for the buy benchmark, and the orchestrator's handle on them.

A client process opens its share of the buyer sockets (one viewer token each,
lean :mod:`loadtests.wsclient` connections) and then runs phases on command.
In a phase every buy carries a unique idempotency key and a frame id; the
time from writing the frame to reading its ``ack`` is the buy -> ack latency.

- **rate** phase (open loop): the process sends ``rate`` buys per second,
  round-robin over its sockets, whether or not earlier buys were answered;
- **flat** phase (closed loop): every socket keeps ``window`` buys in flight
  and sends the next as soon as one is answered.

Acks whose arrival falls inside the phase's window count towards its
throughput; after the window the process waits up to ``drain_s`` for the
rest. Pipe protocol: the process sends ``("connected", report)``, then
answers each ``("run", Phase)`` with ``("done", stats)`` until ``"exit"``,
a closed pipe or ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from tests.support import mint

from ._runtime import raise_nofile, run
from .pool import ProcessPool
from .wsclient import OP_TEXT, WebSocketClient, open_websocket

__all__ = ["BuyerPlan", "BuyerPool", "Phase"]

SLOW_MS: Final = 50.0
"""Answers slower than this are also kept with their arrival time, to find stalls."""
MAX_SLOW_KEPT: Final = 5000
_ANSWER_PREFIXES: Final = (b'{"t":"ack"', b'{"t":"error"')
_WELCOME_PREFIX: Final = b'{"t":"welcome"'
SUBPROTOCOL: Final = "livecon.v1.json"


@dataclass(frozen=True)
class BuyerPlan:
    """One process's share: buyer sockets ``first`` .. ``first + count - 1``.

    Socket ``i`` connects to ``ports[i % len(ports)]`` as viewer ``buyer<i>``.
    """

    host: str
    ports: tuple[int, ...]
    room: str
    first: int
    count: int
    connect_concurrency: int = 64
    connect_timeout_s: float = 20.0
    deadline_s: float = 900.0


@dataclass(frozen=True)
class Phase:
    sale: str
    tag: str
    """Prefix of this phase's idempotency keys (unique per phase)."""
    seconds: float
    rate: float | None = None
    """Buys per second from this process; ``None``: flat out."""
    window: int = 1
    drain_s: float = 10.0


class _Tally:
    """What one process saw in one phase."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.started = time.time()
        self.ends = self.started + phase.seconds
        self.sent = 0
        self.in_window = 0
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.accepted_units = 0
        self.latencies_ms = array("d")
        self.slow: list[tuple[float, float]] = []
        self.last_answer_at = 0.0

    def record(self, frame: dict[str, Any], latency_s: float, received_at: float) -> None:
        if frame.get("t") == "ack":
            outcome = str(frame.get("outcome"))
            self.outcomes[outcome] += 1
            if outcome == "accepted":
                self.accepted_units += 1
        else:
            self.errors[f"{frame.get('code')}: {str(frame.get('message'))[:60]}"] += 1
        if received_at <= self.ends:
            self.in_window += 1
        latency_ms = latency_s * 1000
        self.latencies_ms.append(latency_ms)
        if latency_ms > SLOW_MS and len(self.slow) < MAX_SLOW_KEPT:
            self.slow.append((received_at, latency_ms))
        self.last_answer_at = max(self.last_answer_at, received_at)

    def stats(self, unanswered: int) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "in_window": self.in_window,
            "outcomes": dict(self.outcomes),
            "errors": dict(self.errors.most_common(5)),
            "error_count": sum(self.errors.values()),
            "accepted_units": self.accepted_units,
            "unanswered": unanswered,
            "latencies_ms": self.latencies_ms.tobytes(),
            "slow": self.slow,
            "started": self.started,
            "last_answer_at": self.last_answer_at,
        }


class _Buyer:
    """One buyer socket: its buys in flight by frame id, and what to do on an answer."""

    __slots__ = ("client", "index", "is_ready", "pending", "ready", "serial", "worker")

    def __init__(self, worker: _Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.client: WebSocketClient | None = None
        self.pending: dict[int, float] = {}
        self.serial = 0
        self.is_ready = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(self, opcode: int, payload: bytes, received_at: float) -> None:
        if payload.startswith(_ANSWER_PREFIXES):
            self.worker.on_answer(self, json.loads(payload), received_at)
        elif not self.is_ready and payload.startswith(_WELCOME_PREFIX):
            self.is_ready = True
            self.ready.set_result(None)

    def send_buy(self, sale: str, tag: str) -> None:
        assert self.client is not None
        self.serial += 1
        key = f"{tag}-{self.index}-{self.serial}"
        frame = f'{{"t":"buy","sale":"{sale}","qty":1,"key":"{key}","id":{self.serial}}}'
        self.pending[self.serial] = time.time()
        self.client.send(OP_TEXT, frame.encode())


class _Worker:
    def __init__(self, plan: BuyerPlan, pipe: Connection) -> None:
        self.plan = plan
        self.pipe = pipe
        self.buyers: list[_Buyer] = []
        self.failures: Counter[str] = Counter()
        self.commands: asyncio.Queue[Any] = asyncio.Queue()
        self.tally: _Tally | None = None
        self.in_flight = 0
        self.drained = asyncio.Event()

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._on_pipe)
        try:
            async with asyncio.timeout(self.plan.deadline_s):
                await self._serve()
        finally:
            loop.remove_reader(self.pipe.fileno())
            for buyer in self.buyers:
                if buyer.client is not None:
                    buyer.client.close()

    async def _serve(self) -> None:
        started = time.monotonic()
        gate = asyncio.Semaphore(self.plan.connect_concurrency)
        first = self.plan.first
        await asyncio.gather(
            *(self._connect(i, gate) for i in range(first, first + self.plan.count))
        )
        report = {
            "connected": len(self.buyers),
            "failures": dict(self.failures.most_common(5)),
            "connect_s": time.monotonic() - started,
        }
        self._reply(("connected", report))
        while (command := await self.commands.get()) != "exit":
            if isinstance(command, tuple) and command[0] == "run":
                self._reply(("done", await self._run(command[1])))

    async def _connect(self, index: int, gate: asyncio.Semaphore) -> None:
        plan = self.plan
        buyer = _Buyer(self, index)
        token = mint(plan.room, "viewer", f"buyer{index}")
        async with gate:
            try:
                buyer.client = await open_websocket(
                    plan.host,
                    plan.ports[index % len(plan.ports)],
                    f"/ws?token={token}",
                    buyer.on_message,
                    SUBPROTOCOL,
                    plan.connect_timeout_s,
                )
                await asyncio.wait_for(buyer.ready, plan.connect_timeout_s)
            except Exception as exc:  # counted and reported, not fatal
                self.failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                return
        self.buyers.append(buyer)

    async def _run(self, phase: Phase) -> dict[str, Any]:
        for buyer in self.buyers:
            buyer.pending.clear()
        self.in_flight = 0
        tally = self.tally = _Tally(phase)
        if phase.rate is None:
            for buyer in self.buyers:
                for _ in range(phase.window):
                    self._send(buyer)
            await asyncio.sleep(phase.seconds)
        else:
            await self._pace(phase.rate, phase.seconds)
        await self._drain(phase.drain_s)
        stats = tally.stats(sum(len(buyer.pending) for buyer in self.buyers))
        self.tally = None
        return stats

    def _send(self, buyer: _Buyer) -> None:
        tally = self.tally
        if tally is not None and buyer.client is not None:
            buyer.send_buy(tally.phase.sale, tally.phase.tag)
            tally.sent += 1
            self.in_flight += 1

    async def _pace(self, rate: float, seconds: float) -> None:
        """Send ``rate`` buys per second, round-robin, on a 1 ms schedule."""
        loop = asyncio.get_running_loop()
        start, sent, count = loop.time(), 0, len(self.buyers)
        while (elapsed := loop.time() - start) < seconds and count:
            due = int(elapsed * rate) - sent
            for number in range(sent, sent + due):
                self._send(self.buyers[number % count])
            sent += due
            await asyncio.sleep(0.001)

    async def _drain(self, seconds: float) -> None:
        """Wait until every buy sent is answered, or ``seconds`` pass."""
        self.drained.clear()
        if self.in_flight > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), seconds)

    def on_answer(self, buyer: _Buyer, frame: dict[str, Any], received_at: float) -> None:
        sent_at = buyer.pending.pop(frame.get("id", -1), None)
        tally = self.tally
        if sent_at is None or tally is None:
            return
        self.in_flight -= 1
        if self.in_flight == 0:
            self.drained.set()
        tally.record(frame, received_at - sent_at, received_at)
        if tally.phase.rate is None and received_at < tally.ends:
            self._send(buyer)

    def _reply(self, message: tuple[Any, ...]) -> None:
        os.set_blocking(self.pipe.fileno(), True)
        self.pipe.send(message)

    def _on_pipe(self) -> None:
        try:
            command = self.pipe.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            command = "exit"
        self.commands.put_nowait(command)


def run_buyers(plan: BuyerPlan, pipe: Connection) -> None:
    """Process entry point."""
    raise_nofile()
    run(_Worker(plan, pipe).main())


class BuyerPool(ProcessPool):
    """Buyer processes (:func:`run_buyers`)."""

    role = "buyer"

    def __init__(self, plans: list[BuyerPlan]) -> None:
        super().__init__(run_buyers, plans)

    def wait_connected(self, timeout_s: float) -> list[dict[str, Any]]:
        return [self._receive(pipe, "connected", timeout_s)[1] for pipe in self.pipes]

    def run_phase(self, phases: list[Phase]) -> list[dict[str, Any]]:
        """Run one phase in every process (``phases[i]`` in process ``i``); their stats."""
        for pipe, phase in zip(self.pipes, phases, strict=True):
            pipe.send(("run", phase))
        limit = max(phase.seconds + phase.drain_s for phase in phases) + 30
        return [self._receive(pipe, "done", limit)[1] for pipe in self.pipes]

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

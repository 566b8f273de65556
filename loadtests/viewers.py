"""A client process: opens its share of the viewers and counts what they receive.

The orchestrator drives it through a pipe. The process sends
``("connected", report)`` once its viewers are open, then answers commands:
``"start"`` (zero the tally), ``"count"`` (messages so far), ``"stop"`` (the
full tally) and ``"exit"``. It exits by itself when the pipe closes or when
``deadline_s`` passes, so nothing outlives a crashed orchestrator for long.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ._runtime import nofile_limit, raise_nofile, run
from .workload import Dialect, Tally
from .wsclient import WebSocketClient, open_websocket

__all__ = ["WorkerPlan", "run_worker"]


@dataclass(frozen=True)
class WorkerPlan:
    """One client process's share: viewers ``first`` to ``first + count - 1``.

    Every ``probe_every``-th viewer (0: none) decodes payloads for latency.
    """

    dialect: Dialect
    host: str
    port: int
    first: int
    count: int
    probe_every: int
    concurrency: int = 64
    connect_timeout_s: float = 20.0
    deadline_s: float = 600.0
    cpu: int | None = None


class _Viewer:
    """One viewer socket's receive path: readiness first, then counting."""

    __slots__ = ("client", "dialect", "is_ready", "probe", "ready", "tally")

    def __init__(self, dialect: Dialect, tally: Tally, probe: bool) -> None:
        self.dialect = dialect
        self.tally = tally
        self.probe = probe
        self.client: WebSocketClient | None = None
        self.is_ready = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(self, opcode: int, payload: bytes, received_at: float) -> None:
        if self.is_ready:
            reply = self.dialect.read(opcode, payload, received_at, self.tally, self.probe)
            if reply is not None and self.client is not None:
                self.client.send(*reply)
        elif self.dialect.is_ready(opcode, payload):
            self.mark_ready()

    def mark_ready(self) -> None:
        self.is_ready = True
        if not self.ready.done():
            self.ready.set_result(None)


class _Worker:
    def __init__(self, plan: WorkerPlan, pipe: Connection) -> None:
        self.plan = plan
        self.pipe = pipe
        self.tally = Tally()
        self.clients: list[WebSocketClient] = []
        self.failures: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()
        self.commands: asyncio.Queue[str] = asyncio.Queue()
        self.started_at = 0.0

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._on_pipe)
        try:
            async with asyncio.timeout(self.plan.deadline_s):
                await self._serve()
        finally:
            loop.remove_reader(self.pipe.fileno())
            for client in self.clients:
                client.close()

    async def _serve(self) -> None:
        started = time.monotonic()
        semaphore = asyncio.Semaphore(self.plan.concurrency)
        first = self.plan.first
        await asyncio.gather(
            *(self._connect(index, semaphore) for index in range(first, first + self.plan.count))
        )
        report = {
            "connected": len(self.clients),
            "failed": sum(self.failures.values()),
            "failures": dict(self.failures.most_common(5)),
            "connect_s": time.monotonic() - started,
            "nofile": nofile_limit(),
        }
        self._reply(("connected", report))
        while (command := await self.commands.get()) != "exit":
            self._answer(command)

    def _answer(self, command: str) -> None:
        if command == "start":
            self.tally.reset()
            self.disconnects.clear()
            self.started_at = time.time()
        elif command == "count":
            self._reply(("count", self.tally.messages, self.tally.last_at))
        elif command == "stop":
            self._reply(("stats", self._stats()))

    def _reply(self, message: tuple[Any, ...]) -> None:
        # The loop's reader made the pipe non-blocking; a large reply must not fail half-sent.
        os.set_blocking(self.pipe.fileno(), True)
        self.pipe.send(message)

    def _stats(self) -> dict[str, Any]:
        tally = self.tally
        return {
            "frames": tally.frames,
            "messages": tally.messages,
            "sampled_frames": tally.sampled_frames,
            "announced_drops": tally.announced_drops,
            "last_at": tally.last_at,
            "latencies_ms": tally.latencies_ms.tobytes(),
            "tick_ms": tally.tick_ms.tobytes(),
            "tick_stamps": tally.tick_stamps,
            "disconnects": dict(self.disconnects),
        }

    def _on_pipe(self) -> None:
        try:
            command = self.pipe.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            command = "exit"
        self.commands.put_nowait(command)

    async def _connect(self, index: int, semaphore: asyncio.Semaphore) -> None:
        plan = self.plan
        probe = plan.probe_every > 0 and index % plan.probe_every == 0
        viewer = _Viewer(plan.dialect, self.tally, probe)
        async with semaphore:
            try:
                client = await open_websocket(
                    plan.host,
                    plan.port,
                    plan.dialect.viewer_path(index),
                    viewer.on_message,
                    plan.dialect.subprotocol(),
                    plan.connect_timeout_s,
                )
            except Exception as exc:  # a refused or failed connect is counted, not fatal
                self.failures[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                return
            viewer.client = client
            for opcode, payload in plan.dialect.greeting(publisher=False):
                client.send(opcode, payload)
            if plan.dialect.is_ready_on_open:
                viewer.mark_ready()
            await asyncio.wait(
                [viewer.ready, client.lost],
                timeout=plan.connect_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        if not viewer.is_ready:
            self.failures[f"not ready (close code {client.close_code})"] += 1
            client.close()
            return
        self.clients.append(client)
        client.lost.add_done_callback(lambda _: self._on_lost(client))

    def _on_lost(self, client: WebSocketClient) -> None:
        self.disconnects[f"close code {client.close_code}"] += 1


def run_worker(plan: WorkerPlan, pipe: Connection) -> None:
    """Process entry point."""
    raise_nofile()
    if plan.cpu is not None:
        os.sched_setaffinity(0, {plan.cpu})
    run(_Worker(plan, pipe).main())

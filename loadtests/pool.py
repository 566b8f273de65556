"""The orchestrator's handle on its client processes (see :mod:`loadtests.viewers`)."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import psutil

from .viewers import WorkerPlan, run_worker

__all__ = ["ClientPool", "ProcessPool", "split"]


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """``(first, count)`` shares of ``total`` items over ``parts``, as even as possible."""
    shares = []
    first = 0
    for part in range(parts):
        count = total // parts + (1 if part < total % parts else 0)
        shares.append((first, count))
        first += count
    return shares


class ProcessPool:
    """Worker processes started with ``spawn``, one pipe each; every wait has a timeout."""

    role = "client"

    def __init__(self, target: Callable[[Any, Connection], None], plans: Sequence[Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for plan in plans:
            ours, theirs = context.Pipe()
            process = context.Process(target=target, args=(plan, theirs), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def _receive(self, pipe: Connection, kind: str, timeout_s: float) -> tuple[Any, ...]:
        if not pipe.poll(timeout_s):
            raise TimeoutError(f"a {self.role} process sent no {kind!r} within {timeout_s:.0f}s")
        reply: tuple[Any, ...] = pipe.recv()
        if reply[0] != kind:
            raise RuntimeError(f"expected {kind!r} from a {self.role} process, got {reply[0]!r}")
        return reply

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send("exit")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)
        for pipe in self.pipes:
            pipe.close()


class ClientPool(ProcessPool):
    """The viewer client processes of :mod:`loadtests.viewers`."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        super().__init__(run_worker, plans)

    def wait_connected(self, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        return [
            self._receive(pipe, "connected", max(0.1, deadline - time.monotonic()))[1]
            for pipe in self.pipes
        ]

    def send_all(self, command: str) -> None:
        for pipe in self.pipes:
            pipe.send(command)

    def counts(self) -> tuple[int, float]:
        """Messages received so far by all viewers, and the time of the last one."""
        self.send_all("count")
        replies = [self._receive(pipe, "count", 10) for pipe in self.pipes]
        return sum(reply[1] for reply in replies), max(reply[2] for reply in replies)

    def stats(self) -> list[dict[str, Any]]:
        self.send_all("stop")
        return [self._receive(pipe, "stats", 30)[1] for pipe in self.pipes]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by all client processes."""
        total = 0.0
        for process in self.processes:
            if process.pid is not None and process.is_alive():
                times = psutil.Process(process.pid).cpu_times()
                total += times.user + times.system
        return total

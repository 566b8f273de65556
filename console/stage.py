"""What a rehearsal owns and breaks on purpose: its hub nodes and its Redis.

A :class:`Stage` holds the nodes (and the private Redis, if any) that
``livecon demo`` or ``livecon rehearse --spawn-nodes`` started, and makes the stage
trouble of :mod:`console.simulator` really happen:

- ``node_restart``: the next node in turn stops as in production (the hub stops
  accepting, publishes what is pending and closes every socket with 1001), stays
  down for the trouble's duration, and serves again on the same address from the
  same stores: SQLite in embedded mode, Redis otherwise;
- ``redis_outage``: Redis crashes (SIGKILL), stays down for the trouble's duration,
  and starts again on the same port from its append-only file, with a new run id.

One trouble runs at a time; another one asked for meanwhile waits its turn. Each
is told to ``say`` as it happens and kept in :attr:`Stage.log` with wall-clock
times. The stage asks every node's ``/healthz`` once a second for :meth:`status`.
A process that exits without being asked, or one that does not come back, sets
:attr:`Stage.failure`. :meth:`stop` stops the nodes, then Redis, each by its handle.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, Protocol

import httpx

from ._stage_processes import (
    NodeProcess,
    RedisServer,
    StageError,
    free_port,
    redis_server_binary,
)
from .simulator import TroubleKind

__all__ = [
    "NodeProcess",
    "OwnedNode",
    "RedisServer",
    "Stage",
    "StageError",
    "free_port",
    "redis_server_binary",
]

HEALTH_EVERY_S: Final = 1.0


class OwnedNode(Protocol):
    """A hub node the stage may stop and start again on the same address."""

    name: str

    @property
    def base(self) -> str:
        """``http://host:port``."""

    async def start(self) -> None:
        """Serve; return once it answers HTTP. Raises :class:`StageError`."""

    async def stop(self) -> None:
        """Drain (sockets close with 1001) and stop; bounded."""

    def has_failed(self) -> bool:
        """Whether it stopped without being asked to."""


class Stage:
    """The nodes and the Redis of one run; see the module docstring for the contract."""

    def __init__(
        self,
        nodes: Sequence[OwnedNode],
        redis: RedisServer | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.nodes = list(nodes)
        self.redis = redis
        self.say = say
        self.log: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.failure = ""
        self._health = {node.name: "starting" for node in self.nodes}
        self._redis_state = "up"
        self._turn = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._troubles: set[asyncio.Task[None]] = set()

    @property
    def kinds(self) -> frozenset[TroubleKind]:
        """The stage trouble this stage can make."""
        kinds = {TroubleKind.NODE_RESTART} if self.nodes else set()
        return frozenset(kinds | ({TroubleKind.REDIS_OUTAGE} if self.redis else set()))

    @property
    def ws_bases(self) -> list[str]:
        return ["ws" + node.base.removeprefix("http") for node in self.nodes]

    async def start(self) -> None:
        """Start Redis, then the nodes in order, then watch their health; on a failure,
        stop what started and raise :class:`StageError`."""
        try:
            if self.redis is not None:
                await self.redis.start()
            for node in self.nodes:
                await node.start()
                self._health[node.name] = "ok"
        except BaseException:
            await self.stop()
            raise
        self._spawn(self._watch())

    async def settle(self, seconds: float) -> None:
        """Wait for the trouble still running to finish, at most ``seconds``."""
        if self._troubles:
            await asyncio.wait(self._troubles, timeout=seconds)

    async def stop(self) -> None:
        """Cancel what is running, stop the nodes, then Redis."""
        running = [*self._tasks, *self._troubles]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.gather(*(node.stop() for node in self.nodes), return_exceptions=True)
        if self.redis is not None:
            await self.redis.stop()

    def _spawn(
        self, work: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]] | None = None
    ) -> None:
        into = self._tasks if tasks is None else tasks
        task: asyncio.Task[None] = asyncio.create_task(work)
        into.add(task)
        task.add_done_callback(into.discard)

    # trouble ---------------------------------------------------------------------

    def disrupt(self, kind: TroubleKind, duration_s: float) -> None:
        """Make ``kind`` happen in the background, ``duration_s`` seconds of downtime."""
        if kind not in self.kinds:
            raise StageError(f"this run owns no process for {kind.value}")
        self._spawn(self._disrupt(kind, duration_s), self._troubles)

    async def _disrupt(self, kind: TroubleKind, duration_s: float) -> None:
        async with self._lock:
            try:
                if kind is TroubleKind.NODE_RESTART:
                    await self.restart_node(duration_s)
                else:
                    await self.interrupt_redis(duration_s)
            except (StageError, OSError) as exc:
                self.failure = f"{kind.value} failed: {exc}"
                self.say(self.failure)

    async def restart_node(self, down_s: float) -> None:
        """Stop the next node in turn, wait ``down_s``, start it on its address."""
        node = self.nodes[self._turn % len(self.nodes)]
        self._turn += 1
        self._health[node.name] = "restarting"
        self.say(f"node {node.name} restarting: it drains and closes its sockets with 1001")
        down_at = time.time()
        await node.stop()
        stopped_at = time.time()
        self.say(
            f"node {node.name} stopped after {stopped_at - down_at:.1f} s; down for {down_s:g} s"
        )
        await asyncio.sleep(down_s)
        await node.start()
        up_at = time.time()
        self._health[node.name] = "ok"
        self.say(f"node {node.name} serves again on {node.base}, {up_at - down_at:.1f} s after")
        self._record("node_restart", down_at, up_at, node=node.name, stopped_at=stopped_at)

    async def interrupt_redis(self, down_s: float) -> None:
        """Crash Redis, wait ``down_s``, start it again on its port from its file."""
        if self.redis is None:
            raise StageError("this run owns no Redis")
        self._redis_state = "down"
        down_at = time.time()
        self.redis.kill()
        self.say(f"redis crashed (SIGKILL); down for {down_s:g} s")
        await asyncio.sleep(down_s)
        await self.redis.start()
        up_at = time.time()
        self._redis_state = "up"
        self.say(
            f"redis back on port {self.redis.port} from its append-only file after "
            f"{up_at - down_at:.1f} s; open sales pause, reconcile and resume"
        )
        self._record("redis_outage", down_at, up_at)

    def _record(self, kind: str, down_at: float, up_at: float, **more: Any) -> None:
        self.counts[kind] += 1
        entry = {"trouble": kind, **more, "down_at": round(down_at, 3), "up_at": round(up_at, 3)}
        self.log.append(entry)

    # what the team sees ------------------------------------------------------------

    def status(self) -> str:
        """``n1 ok n2 degraded redis down``: each node's ``/healthz``, and Redis."""
        nodes = " ".join(f"{name} {state}" for name, state in self._health.items())
        return nodes + (f" redis {self._redis_state}" if self.redis is not None else "")

    async def _watch(self) -> None:
        async with httpx.AsyncClient(timeout=0.5) as http:
            while True:
                await asyncio.gather(*(self._check(http, node) for node in self.nodes))
                redis = self.redis
                if redis is not None and self._redis_state == "up" and not redis.is_running():
                    self.failure = "redis exited"
                await asyncio.sleep(HEALTH_EVERY_S)

    async def _check(self, http: httpx.AsyncClient, node: OwnedNode) -> None:
        if self._health[node.name] == "restarting":
            return
        if node.has_failed():
            self.failure = f"node {node.name} exited"
            self._health[node.name] = "exited"
            return
        try:
            answer = await http.get(node.base + "/healthz")
        except httpx.HTTPError:
            state = "down"
        else:
            state = "ok" if answer.status_code == 200 else "degraded"
        if self._health[node.name] != "restarting":
            self._health[node.name] = state

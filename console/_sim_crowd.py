"""The simulated audience on real sockets: one websocket client per viewer.

The shell around :class:`console.simulator.Audience` shared by ``livecon demo`` and
``livecon rehearse``. Every viewer is a :class:`console._sim_link.Link` (one socket
and one reader task); one more viewer socket, the *observer*, holds the room's state for the
simulator and watches the sale events. :meth:`Crowd.step` steps the simulator and
performs its actions; stage trouble (:class:`console.simulator.Disrupt`) goes to the
:class:`console.stage.Stage`, which runs it in the background while the crowd goes on.

Clients behave as the widget does (:mod:`console._sim_client`): a socket lost without
the simulator asking for it (a node restarting closes it with 1001) is reopened with
backoff and resumed; buy presses keep their key until a final answer and are sent
again after ``pending`` or a lost socket. Every wait is bounded: connects time out,
closing waits at most a few seconds, and :meth:`Crowd.close` cancels what is left.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Final

import httpx
import websockets

from ._sim_client import (
    FATAL_CLOSE_CODES,
    MAX_TRIES,
    RETRY_AFTER_S,
    is_retried,
    reconnect_delay_s,
)
from ._sim_link import CrowdStats, Link, Press, TokenSource
from .simulator import (
    Action,
    Audience,
    Buy,
    Click,
    Comment,
    Disrupt,
    Drop,
    Join,
    Leave,
    Like,
    Waitlist,
    public_state,
)
from .stage import Stage

__all__ = ["SALE_EVENTS", "Crowd", "CrowdStats", "Link", "TokenSource"]

SALE_EVENTS: Final = frozenset(
    {"sale_started", "sale_paused", "sale_resumed", "sale_ended", "sold_out"}
)
"""Events the observer counts and keeps for the record."""
_STAMP: Final = re.compile(r'"ts":(\d+)')
_CONNECT_ERRORS: Final = (
    OSError,
    TimeoutError,
    websockets.WebSocketException,
    httpx.HTTPError,
    ValueError,
)


class Crowd:
    """Simulated viewers on real sockets, driven by an :class:`Audience`.

    Viewers are spread over ``ws_bases`` (one per node) in turn, as a load balancer
    would; the observer uses the first. ``rng`` draws the reconnect delays.
    """

    def __init__(
        self,
        ws_bases: Sequence[str],
        tokens: TokenSource,
        audience: Audience,
        stage: Stage | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ws_bases = [base.rstrip("/") for base in ws_bases]
        self.tokens = tokens
        self.audience = audience
        self.stage = stage
        self.rng = rng or random.Random(0)
        self.stats = CrowdStats()
        observer = f"{audience.config.id_prefix}-watch"
        self.observer = Link(self, observer, "rehearsal observer", self.ws_bases[0])
        self.observer.wanted = True
        self.links: dict[str, Link] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def connected(self) -> int:
        return sum(link.is_open for link in self.links.values())

    async def start(self) -> None:
        await self.observer.open(resume=False)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # what comes in -------------------------------------------------------------

    def on_frame(self, link: Link, text: str) -> None:
        self.stats.frames += 1
        if text.startswith('{"t":"batch"'):
            if found := _STAMP.search(text):
                self.stats.on_latency(time.time() * 1000 - int(found.group(1)))
            for event in link.on_batch(text, full=link is self.observer):
                self._on_event(event)
            return
        frame = json.loads(text)
        kind = frame.get("t")
        if kind in ("ack", "error") and isinstance(frame.get("id"), int):
            self._on_answer(link, frame)
        elif kind == "error":
            self.stats.errors[str(frame.get("code"))] += 1
        elif kind == "snapshot":
            self.stats.history_lost += bool(frame.get("history_lost"))
            link.adopt(frame, replace=True)
        elif kind == "direct" and frame.get("kind") == "order" and frame.get("order"):
            self.stats.acknowledged.add(str(frame["order"]))

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        if kind in SALE_EVENTS:
            self.stats.events[kind] += 1
            keep = ("type", "sale", "product", "status", "reason")
            self.stats.sale_events.append(
                {"at": round(time.time(), 3), **{k: event[k] for k in keep if k in event}}
            )

    def _on_answer(self, link: Link, frame: dict[str, Any]) -> None:
        kind, key = link.pending.pop(frame["id"], ("", ""))
        if frame["t"] == "error":
            answer = str(frame.get("code"))
            self.stats.errors[answer] += 1
        else:
            answer = str(frame.get("outcome"))
            if kind in ("buy", "waitlist"):
                self.stats.outcomes[answer] += 1
            if answer == "accepted" and frame.get("order"):
                self.stats.acknowledged.add(str(frame["order"]))
        if not key or key not in link.presses:
            return
        press = link.presses[key]
        if is_retried(answer) and press.tries < MAX_TRIES:
            press.scheduled = True
            self._spawn(self._retry(link, key, press))
        else:
            del link.presses[key]

    def on_lost(self, link: Link, code: int | None) -> None:
        """A socket ended without the simulator asking: reconnect as the widget would."""
        if link.wanted and not self._closing and code not in FATAL_CLOSE_CODES:
            self._keep(link, resume=True, lost=True)

    # what goes out -------------------------------------------------------------

    async def step(self) -> list[Action]:
        """Step the simulator on the observer's state and perform what it decides."""
        state = public_state(self.observer.state)
        actions = self.audience.step(time.time(), state)
        for action in actions:
            await self.perform(action)
        return actions

    async def perform(self, action: Action) -> None:
        if isinstance(action, Disrupt):
            if self.stage is None:
                raise RuntimeError(f"{action.kind} needs a stage: processes this run owns")
            self.stage.disrupt(action.kind, action.duration_s)
            return
        if isinstance(action, Join):
            base = self.ws_bases[len(self.links) % len(self.ws_bases)]
            link = self.links.setdefault(
                action.viewer, Link(self, action.viewer, action.name, base)
            )
            link.wanted = True
            if not link.is_open:
                self._keep(link, action.resume, lost=False)
            return
        link_or_none = self.links.get(action.viewer)
        if link_or_none is None:
            return
        link = link_or_none
        if isinstance(action, Leave | Drop):
            link.wanted = False
            if link.keeper is not None:
                link.keeper.cancel()
            if isinstance(action, Drop):
                link.drop()
            else:
                self._spawn(link.close())  # a slow closing handshake must not hold the crowd
        elif isinstance(action, Buy):
            body = {"sale": action.sale, "qty": action.quantity, "key": action.key}
            await self._press(link, action.key, Press("buy", body))
        elif isinstance(action, Waitlist):
            await self._press(
                link, action.key, Press("waitlist", {"sale": action.sale, "key": action.key})
            )
        else:
            await self._say(link, action)

    async def _say(self, link: Link, action: Comment | Like | Click) -> None:
        body: dict[str, Any]
        if isinstance(action, Comment):
            kind, body = "comment", {"text": action.text}
        elif isinstance(action, Like):
            kind, body = "like", {"count": action.count}
        else:
            kind, body = "click", {"product": action.product}
        if not await link.send(kind, body):
            self.stats.unsent[kind] += 1

    async def _press(self, link: Link, key: str, press: Press) -> None:
        """Send a press now, or after the next welcome if the socket is not open."""
        link.presses[key] = press
        if await link.send(press.kind, press.body, key):
            press.tries += 1

    async def _retry(self, link: Link, key: str, press: Press) -> None:
        await asyncio.sleep(RETRY_AFTER_S)
        press.scheduled = False
        if link.presses.get(key) is press and link.is_open:
            self.stats.retries += 1
            await self._press(link, key, press)

    async def _resend(self, link: Link) -> None:
        """After a welcome: send again every press still waiting for its answer."""
        for key, press in list(link.presses.items()):
            if press.tries >= MAX_TRIES:
                del link.presses[key]
            elif not press.scheduled:
                self.stats.retries += press.tries > 0
                await self._press(link, key, press)

    # connecting ----------------------------------------------------------------

    def _keep(self, link: Link, resume: bool, lost: bool) -> None:
        """Open ``link`` (with backoff after a failure) unless someone already is."""
        if link.keeper is None or link.keeper.done():
            link.keeper = self._spawn(self._connect(link, resume, lost))

    async def _connect(self, link: Link, resume: bool, lost: bool) -> None:
        attempt = 0
        while link.wanted and not self._closing:
            if lost or attempt:
                await asyncio.sleep(reconnect_delay_s(attempt, self.rng.random()))
            try:
                await link.open(resume or lost)
            except websockets.ConnectionClosed as exc:
                self.stats.connect_failures += 1
                if exc.rcvd is not None and exc.rcvd.code in FATAL_CLOSE_CODES:
                    return
                attempt += 1
                continue
            except _CONNECT_ERRORS:
                self.stats.connect_failures += 1
                attempt += 1
                continue
            self.stats.reconnects += lost or attempt > 0
            if not link.wanted:
                await link.close()
                return
            await self._resend(link)
            return

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        links = [*self.links.values(), self.observer]
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)

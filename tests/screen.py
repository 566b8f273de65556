"""A role's screen for tests: one websocket read in the background, frames kept.

``frames`` keeps every frame (the welcome first) and ``arrivals`` their loop times;
``state`` holds the latest value of each state key. Waits wake up on every new frame
and give up at their scaled deadline. The comment and show suites add their own
questions on top (``tests/comments/_helpers.py``, ``tests/e2e_show/_helpers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed

from tests.support import Client, timeout

T = TypeVar("T")


class Screen:
    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.frames: list[dict[str, Any]] = [client.welcome]
        self.state: dict[str, Any] = dict(client.welcome.get("st", {}))
        self.arrivals: list[float] = [asyncio.get_running_loop().time()]
        self.closed = False
        self._news = asyncio.Event()
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame: dict[str, Any] = json.loads(await self.client.socket.recv())
                self.frames.append(frame)
                self.arrivals.append(loop.time())
                self.state.update(frame.get("st", {}))
                self._news.set()
        except ConnectionClosed:
            self.closed = True
            self._news.set()

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), timeout(2))

    # what arrived --------------------------------------------------------------------

    def mark(self) -> int:
        """A position in ``frames``; pass it as ``since`` to look only at later frames."""
        return len(self.frames)

    def events(self, kind: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Events received (in order), of type ``kind`` if given."""
        found = [event for frame in self.frames[since:] for event in frame.get("ev", [])]
        return [event for event in found if kind is None or event.get("type") == kind]

    def state_keys_seen(self) -> set[str]:
        """Every state key any frame (the welcome included) carried to this screen."""
        return {key for frame in self.frames for key in frame.get("st", {})}

    def state_updates(self, key: str, since: int = 0) -> list[Any]:
        """Each value of ``key`` received, in order."""
        return [frame["st"][key] for frame in self.frames[since:] if key in frame.get("st", {})]

    # waiting -------------------------------------------------------------------------

    async def wait(self, check: Callable[[], T | None], what: str, seconds: float = 5) -> T:
        """Wait until ``check`` returns something other than ``None``; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout(seconds)
        while True:
            found = check()
            if found is not None:
                return found
            if self.closed:
                raise AssertionError(f"{self.name} was closed while waiting for {what}")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {what}; state now {self.state!r}")
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), left)

    async def event_where(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda event: True,
        since: int = 0,
        seconds: float = 5,
    ) -> dict[str, Any]:
        """The first event of type ``kind`` (after ``since``) satisfying ``predicate``."""

        def check() -> dict[str, Any] | None:
            return next((event for event in self.events(kind, since) if predicate(event)), None)

        return await self.wait(check, f"{kind!r} event as expected", seconds)

    # sending -------------------------------------------------------------------------

    async def request(self, frame: dict[str, Any], seconds: float = 5) -> dict[str, Any]:
        """Send ``frame`` with a fresh id; return the ack or error frame answering it."""
        ref = f"{self.name}-{next(self._ids)}"
        since = self.mark()
        await self.client.send({**frame, "id": ref})

        def answer() -> dict[str, Any] | None:
            return next(
                (
                    reply
                    for reply in self.frames[since:]
                    if reply.get("id") == ref and reply.get("t") in ("ack", "error")
                ),
                None,
            )

        return await self.wait(answer, f"answer to {frame!r}", seconds)

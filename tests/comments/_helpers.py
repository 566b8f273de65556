"""Shared pieces of the comment tests: a node, screens read in the background, HTTP calls.

- :func:`running_node`: a real ``livecon serve`` (embedded stores, tick 50 ms) with the
  beauty and snack scripts preloaded into rooms :data:`BEAUTY` and :data:`SNACK`;
- :class:`Screen`: a real websocket client whose frames are read in the background, so a
  test can wait for a chat item, an event, a state key or the answer to a request
  without losing the frames in between;
- the HTTP API (moderation policy, audit log, ingest) through
  :func:`tests.integration._helpers.http`, run in a thread.

Every wait is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

from tests.integration._helpers import ADMIN_HEADERS, http
from tests.screen import Screen as BaseScreen
from tests.support import ROOT, Client, Node, mint

BEAUTY: Final = "beauty"
"""A room running ``scripts/beauty-night.toml`` (FAQ per product, a 扣1 prompt, a lottery)."""
SNACK: Final = "snack"
"""A room running ``scripts/snack-party.toml`` (its lottery draws among buyers)."""

SCRIPTS: Final = (
    f"{BEAUTY}={ROOT / 'scripts' / 'beauty-night.toml'},"
    f"{SNACK}={ROOT / 'scripts' / 'snack-party.toml'}"
)
HUB: Final = {
    "rate_per_s": {"viewer": 100_000, "support": 1000, "controller": 1000},
    "burst": 100_000,
    "viewer_chat_cap": 50,
}
"""Test sockets all come from 127.0.0.1 and some tests send fast; limits are the rooms'."""


@contextlib.contextmanager
def running_node(data_dir: Path, hub: dict[str, Any] | None = None) -> Iterator[Node]:
    """A ``livecon serve`` process with :data:`SCRIPTS` preloaded, stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"LIVECON_HUB_SETTINGS": json.dumps(hub or HUB), "LIVECON_SCRIPTS": SCRIPTS}
    node = Node.start(name=data_dir.name, data_dir=data_dir, env=env)
    try:
        yield node
    finally:
        node.stop()


# screens -------------------------------------------------------------------------------


class Screen(BaseScreen):
    """One role's screen in the comment suites: :class:`tests.screen.Screen` plus chat."""

    def chat(self, since: int = 0) -> list[dict[str, Any]]:
        return [item for frame in self.frames[since:] for item in frame.get("chat", [])]

    def chat_with(self, text: str, since: int = 0) -> list[dict[str, Any]]:
        return [item for item in self.chat(since) if item.get("text") == text]

    async def chat_item(
        self, text: str, since: int = 0, seconds: float = 5, **fields: Any
    ) -> dict[str, Any]:
        """The first chat item with ``text`` (and ``fields``) after ``since``."""

        def check() -> dict[str, Any] | None:
            return next(
                (
                    item
                    for item in self.chat_with(text, since)
                    if all(item.get(key) == value for key, value in fields.items())
                ),
                None,
            )

        return await self.wait(check, f"chat item {text!r} {fields}", seconds)

    async def state_where(
        self, key: str, predicate: Callable[[Any], bool], since: int = 0, seconds: float = 5
    ) -> Any:
        """The first value of state ``key`` after ``since`` satisfying ``predicate``."""

        def check() -> Any:
            return next(
                (value for value in self.state_updates(key, since) if predicate(value)), None
            )

        return await self.wait(check, f"{key!r} state as expected", seconds)

    async def acked(self, frame: dict[str, Any], seconds: float = 5) -> dict[str, Any]:
        """:meth:`request`, insisting on an ack."""
        answer = await self.request(frame, seconds)
        assert answer.get("t") == "ack", answer
        return answer

    async def comment(self, text: str) -> dict[str, Any]:
        """Send a comment; return its ack (``comment`` id and ``published``)."""
        return await self.acked({"t": "comment", "text": text})


@contextlib.asynccontextmanager
async def screen(
    node: Node, room: str, role: str, user: str, name: str = ""
) -> AsyncIterator[Screen]:
    """A :class:`Screen` of ``role`` in ``room``, closed on exit."""
    client = await Client.connect(node.ws_url(mint(room, role, user, name=name or user)))
    opened = Screen(client, f"{role}-{user}")
    try:
        yield opened
    finally:
        await opened.stop()


@contextlib.asynccontextmanager
async def screens(node: Node, room: str, *people: tuple[str, str]) -> AsyncIterator[list[Screen]]:
    """Several screens, given as ``(role, user)``; all closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(screen(node, room, role, user)) for role, user in people
        ]


async def housekeeping_passes(
    node: Node, room: str, watcher: Screen, viewers: int, count: int = 2
) -> None:
    """Return once ``node`` has run the room's once-a-second housekeeping ``count`` times.

    Each pass reports presence, then runs the room's tick (policy refresh, lottery
    refresh, prompt counts). With ``viewers`` viewers connected now, one more viewer
    makes the next pass publish a new online count; once ``watcher`` sees the last new
    count, the pass before it has finished its tick.
    """
    async with contextlib.AsyncExitStack() as stack:
        for added in range(count + 1):
            if added:
                await stack.enter_async_context(screen(node, room, "viewer", f"tick-{added}"))
            await watcher.wait(online_is(watcher, viewers + added), f"{viewers + added} online")


def online_is(watcher: Screen, count: int) -> Callable[[], bool | None]:
    return lambda: watcher.state.get("online", {}).get("now") == count or None


def at_least(version: int) -> Callable[[dict[str, Any]], bool]:
    return lambda view: int(view["version"]) >= version


async def advance_to(controller: Screen, kind: str) -> dict[str, Any]:
    """Start the room's show and step on until a segment of ``kind`` is on air."""
    answer = await controller.acked({"t": "script", "command": "start"})
    for _ in range(30):
        version = answer["version"]
        show = await controller.state_where("show", at_least(version))
        if show["segment"]["kind"] == kind:
            segment: dict[str, Any] = show["segment"]
            return segment
        answer = await controller.acked({"t": "script", "command": "next"})
    raise AssertionError(f"no {kind} segment in the show")


# HTTP ----------------------------------------------------------------------------------


async def call(
    node: Node,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One HTTP call (JSON in and out) in a thread; errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    status, _, raw = await asyncio.to_thread(http, node, method, path, data, sent)
    answer: dict[str, Any] = json.loads(raw) if raw else {}
    return status, answer


async def audit_actions(node: Node, room: str) -> list[dict[str, Any]]:
    """``GET /api/rooms/{room}/audit``: every entry, oldest first."""
    status, answer = await call(node, "GET", f"/api/rooms/{room}/audit", headers=ADMIN_HEADERS)
    assert status == 200, answer
    entries: list[dict[str, Any]] = answer["entries"]
    return entries


async def put_policy(node: Node, room: str, policy: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return await call(node, "PUT", f"/api/rooms/{room}/moderation", policy, ADMIN_HEADERS)

"""Shared pieces of the run-of-show end-to-end tests.

- show scripts written to a test's ``tmp_path`` (a small valid one, a long one,
  a broken one whose problems sit on known lines);
- the HTTP API (``PUT /api/rooms/{room}/script``, ``GET /api/rooms/{room}/audit``);
- :class:`Screen`, a real websocket client that keeps reading in the background
  so a test can wait for a state key, an event or the answer to a request
  without losing the frames in between;
- :func:`running_node`, a ``livecon serve`` process stopped on exit.

Every wait is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from tests.screen import Screen as BaseScreen
from tests.support import ADMIN_KEY, Client, Node, mint, timeout

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}

PRICE_FEN = 19900
ANCHOR_FEN = 29900
SEGMENT_COUNT = 5
PRODUCT_INDEX = 1

_SHOW = """\
[show]
title = "Spring Tea Night"
host = "Anna"
starts_at = 2026-12-01T20:00:00+08:00
currency = "CNY"

[[products]]
id = "tea"
name = "Longjing Tea 250g"
anchor_price = {anchor}
live_price = {price}
stock = {stock}
limit_per_buyer = 2
selling_points = ["Picked this spring"]

[[segments]]
kind = "opening"
title = "Hello"
duration_s = 60
talking_points = ["Welcome to {{{{ title }}}} with {{{{ host }}}}"]

[[segments]]
kind = "product"
title = "Longjing"
duration_s = {product_duration_s}
product = "tea"
talking_points = [
  "Only {{{{ price }}}} yuan today, was {{{{ anchor_price }}}}",
  "Save {{{{ saving }}}}, at most {{{{ limit }}}} each",
]
urgency_at = {urgency_at}
urgency_lines = ["Only {{{{ stock }}}} left!"]

[segments.sale]
auto_start = true
duration_s = 120

[[segments]]
kind = "interaction"
title = "Say one"
duration_s = 60
talking_points = ["{{{{ online }}}} watching now"]
prompt = "Type {{{{ keyword }}}} if you want a sample"
keyword = "1"

[[segments]]
kind = "closing"
title = "Recap"
duration_s = 60
step = "recap"
talking_points = ["Thanks {{{{ top_commenters | join(', ') }}}}"]

[[segments]]
kind = "closing"
title = "Thanks"
duration_s = 60
step = "thanks"
"""


def script_text(product_duration_s: int = 300, stock: int = 50, urgency_at: int = 10) -> str:
    """The small valid script: opening, product (auto sale), interaction, recap, thanks."""
    return _SHOW.format(
        anchor=ANCHOR_FEN,
        price=PRICE_FEN,
        stock=stock,
        product_duration_s=product_duration_s,
        urgency_at=urgency_at,
    )


def write_script(tmp_path: Path, name: str = "show.toml", **options: int) -> Path:
    """Write :func:`script_text` (with ``options``) to ``tmp_path / name``."""
    path = tmp_path / name
    path.write_text(script_text(**options), encoding="utf-8")
    return path


def long_script_text(middle: int) -> str:
    """An opening, ``middle`` intro segments of a minute each, a recap and thanks."""
    head = script_text().split("[[segments]]", 1)[0]
    parts = [head, '[[segments]]\nkind = "opening"\ntitle = "Hello"\nduration_s = 60\n']
    parts += [
        f'\n[[segments]]\nkind = "intro"\ntitle = "Part {number}"\nduration_s = 60\n'
        for number in range(1, middle + 1)
    ]
    parts += [
        '\n[[segments]]\nkind = "closing"\ntitle = "Recap"\nduration_s = 60\nstep = "recap"\n',
        '\n[[segments]]\nkind = "closing"\ntitle = "Thanks"\nduration_s = 60\nstep = "thanks"\n',
    ]
    return "".join(parts)


def line_of(source: str, needle: str) -> int:
    """The 1-based line of the first line of ``source`` containing ``needle``."""
    for number, line in enumerate(source.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the script")


def broken_script_text() -> str:
    """The small script with an unknown product and a live price above the anchor."""
    return (
        script_text()
        .replace('product = "tea"', 'product = "ghost"')
        .replace(f"live_price = {PRICE_FEN}", "live_price = 39900")
    )


# HTTP --------------------------------------------------------------------------


def _http(
    node: Node, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(node.base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout(5)) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    answer: dict[str, Any] = json.loads(raw) if raw else {}
    return status, answer


async def put_script(
    node: Node, room: str, source: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """``PUT /api/rooms/{room}/script`` with the admin key unless ``headers`` say otherwise."""
    sent = ADMIN_HEADERS if headers is None else headers
    return await asyncio.to_thread(
        _http, node, "PUT", f"/api/rooms/{room}/script", source.encode(), sent
    )


async def load(node: Node, room: str, source: str) -> None:
    """Load ``source`` into ``room`` and insist it was accepted."""
    status, answer = await put_script(node, room, source)
    assert status == 200, answer
    assert answer["loaded"] is True, answer


async def audit_entries(
    node: Node, room: str, headers: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """``GET /api/rooms/{room}/audit``: the status and the entries, oldest first."""
    sent = ADMIN_HEADERS if headers is None else headers
    status, answer = await asyncio.to_thread(
        _http, node, "GET", f"/api/rooms/{room}/audit", None, sent
    )
    entries: list[dict[str, Any]] = answer.get("entries", [])
    return status, entries


def command_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit entries of commands (``script.*``), without loads and the engine's triggers."""
    return [
        entry
        for entry in entries
        if entry["action"].startswith("script.")
        and entry["action"] not in ("script.load", "script.trigger")
    ]


# processes ---------------------------------------------------------------------


@contextlib.contextmanager
def running_node(
    data_dir: Path, name: str, redis_url: str = "", env: dict[str, str] | None = None
) -> Iterator[Node]:
    """A ``livecon serve`` process (tick 50 ms) with its data in ``data_dir``, stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    node = Node.start(redis_url, name=name, data_dir=data_dir, env=env)
    try:
        yield node
    finally:
        node.stop()


# screens -----------------------------------------------------------------------


class Screen(BaseScreen):
    """A host's, controller's or viewer's screen in the show suites: :class:`tests.screen.Screen`
    plus the show's state and commands."""

    async def state_where(
        self, key: str, predicate: Callable[[dict[str, Any]], bool], seconds: float = 5
    ) -> dict[str, Any]:
        """The latest value of state ``key`` once it satisfies ``predicate``."""

        def check() -> dict[str, Any] | None:
            value = self.state.get(key)
            return value if isinstance(value, dict) and predicate(value) else None

        return await self.wait(check, f"{key!r} state as expected", seconds)

    async def at(self, key: str, index: int, phase: str, seconds: float = 5) -> dict[str, Any]:
        """The latest ``key`` state once it shows segment ``index`` in ``phase``."""
        return await self.state_where(
            key, lambda view: view.get("index") == index and view.get("phase") == phase, seconds
        )

    async def showing(self, key: str, answer: dict[str, Any], seconds: float = 5) -> dict[str, Any]:
        """State ``key`` once it reflects the ack ``answer``: its version or a later one."""
        assert answer.get("t") == "ack", answer
        view = await self.state_where(
            key, lambda view: view.get("version", -1) >= answer["version"], seconds
        )
        assert (view["index"], view["phase"]) == (answer["index"], answer["phase"]), view
        return view

    async def script(self, command: str, **fields: int) -> dict[str, Any]:
        """A controller's ``script`` command."""
        return await self.request({"t": "script", "command": command, **fields})

    async def step(self, direction: str) -> dict[str, Any]:
        """A host's ``step`` (next or previous)."""
        return await self.request({"t": "step", "dir": direction})


@contextlib.asynccontextmanager
async def screen(node: Node, room: str, role: str, user: str) -> AsyncIterator[Screen]:
    """A :class:`Screen` of ``role`` in ``room`` on ``node``, closed on exit."""
    client = await Client.connect(node.ws_url(mint(room, role, user, name=user)))
    opened = Screen(client, f"{role} {user}@{node.name}")
    try:
        yield opened
    finally:
        await opened.stop()


async def housekeeping_passes(
    node: Node, room: str, watcher: Screen, viewers: int, count: int = 2
) -> None:
    """Return once ``node`` has run the room's once-a-second housekeeping ``count`` more times.

    Housekeeping reports presence and then runs the show's triggers. With ``viewers``
    viewers connected now, each extra viewer makes the next pass publish a new ``online``
    count; once ``watcher`` has seen the last one, whatever an earlier pass emitted has
    reached it too (one node's batches arrive in order).
    """
    await watcher.state_where("online", _online_is(viewers))
    async with contextlib.AsyncExitStack() as stack:
        for added in range(1, count + 1):
            await stack.enter_async_context(screen(node, room, "viewer", f"tick-{added}"))
            await watcher.state_where("online", _online_is(viewers + added))


def _online_is(count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda view: view.get("now") == count


def is_ack(answer: dict[str, Any], phase: str, index: int) -> bool:
    return (
        answer.get("t") == "ack" and answer.get("phase") == phase and answer.get("index") == index
    )


def assert_refused(answer: dict[str, Any], code: str, words: str) -> None:
    """``answer`` is an error frame with ``code`` whose message contains ``words``."""
    assert answer.get("t") == "error", answer
    assert answer.get("code") == code, answer
    assert words in str(answer.get("message")), answer

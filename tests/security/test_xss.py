"""Stored XSS: hostile comments, names and cues never run on any screen, and read as text.

A viewer whose token's display name is an HTML payload posts one comment per payload
(an ``<img onerror>``, a ``<script>``, a ``javascript:`` URL, an attribute breakout with
``<svg onload>``); a controller, also named with a payload, sends a cue and pins a
comment with payload text and name. The prompter, the dashboard and the widget (open
before, since chat is not replayed) and the post-show report (opened after) are loaded
in headless Chromium with the page's Content-Security-Policy bypassed, so the escaping
itself is tested, not the CSP behind it.

On every page: ``window.__xss`` stays undefined, no dialog opens, no element the
payloads would create exists (an ``img`` with ``src="x"``, an ``svg`` with ``onload``,
an inline script, a ``javascript:`` link, any ``onerror``/``onload`` attribute), and the
payloads the screen shows appear in its text verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.browser.conftest import chromium_path
from tests.integration._helpers import http
from tests.support import ADMIN_KEY, Client, Node, mint, timeout

from ._helpers import load_script, node_with, set_policy

ROOM: Final = "xss"
IMG: Final = "<img src=x onerror=window.__xss=1>"
SCRIPT: Final = "<script>window.__xss=1</script>"
URL: Final = "javascript:window.__xss=1"
SVG: Final = '"><svg onload=window.__xss=1>'
PAYLOADS: Final = (IMG, SCRIPT, URL, SVG)
EVIL_NAME: Final = "'><img src=x onerror=window.__xss=1>"
INJECTED: Final = (
    'img[src="x"], svg[onload], script:not([src]), [onerror], [onload], '
    'a[href^="javascript:" i], iframe[srcdoc]'
)
SHOWN: Final[dict[str, tuple[str, ...]]] = {
    "widget": PAYLOADS,
    "dashboard": PAYLOADS,
    "prompter": (IMG,),
    "report": (EVIL_NAME,),
}
"""Payloads each screen must show as text: comments on the widget and dashboard, the
cue and the pinned comment on the prompter, the top commenter's name on the report."""
ROLE: Final = {"widget": "viewer", "dashboard": "controller", "prompter": "host"}


@pytest.fixture
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium not found: install chromium or set LIVECON_CHROMIUM")
    return path


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with node_with(tmp_path) as started:
        load_script(started, ROOM)
        set_policy(started, ROOM, {"banned": {}, "per_minute": 1000})
        yield started


@contextlib.asynccontextmanager
async def page_of(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(bypass_csp=True)
            yield await context.new_page()
        finally:
            await browser.close()


def skip_unless_built(node: Node, screen: str) -> None:
    asset = (
        "/report/" + ROOM + "?key=" + ADMIN_KEY if screen == "report" else f"/static/js/{screen}.js"
    )
    status, _, _ = http(node, "GET", asset)
    if status != 200:
        pytest.skip("screen not built yet")


async def sockets_reach(node: Node, count: int) -> None:
    deadline = time.monotonic() + timeout(10)
    while (await asyncio.to_thread(node.health))["sockets"] < count:
        assert time.monotonic() < deadline, "the screen did not connect"
        await asyncio.sleep(0.05)


async def post_payloads(node: Node) -> None:
    """The hostile viewer's comments, the hostile controller's cue and pin."""
    viewer = await Client.connect(node.ws_url(mint(ROOM, "viewer", "mallory", name=EVIL_NAME)))
    controller = await Client.connect(node.ws_url(mint(ROOM, "controller", "boss", name=SVG)))
    try:
        comment = ""
        for number, payload in enumerate(PAYLOADS):
            answer = await viewer.request({"t": "comment", "id": number, "text": payload})
            assert answer["t"] == "ack", answer
            comment = comment or str(answer["comment"])
        for frame in (
            {"t": "cue", "id": 1, "text": IMG, "level": "urgent"},
            {"t": "pin", "id": 2, "comment": comment, "text": IMG, "name": EVIL_NAME},
        ):
            answer = await controller.request(frame)
            assert answer["t"] == "ack", answer
    finally:
        await viewer.close()
        await controller.close()


async def wait_for_text(page: Any, texts: tuple[str, ...], seconds: float = 10) -> str:
    deadline = time.monotonic() + timeout(seconds)
    while True:
        shown: str = await page.evaluate("document.body.innerText")
        if all(text in shown for text in texts):
            return shown
        missing = [text for text in texts if text not in shown]
        assert time.monotonic() < deadline, f"not shown as text: {missing}"
        await asyncio.sleep(0.1)


@pytest.mark.integration
@pytest.mark.parametrize("screen", ["prompter", "dashboard", "widget", "report"])
async def test_payloads_never_run_and_read_as_text(node: Node, chromium: str, screen: str) -> None:
    skip_unless_built(node, screen)
    dialogs: list[str] = []
    async with page_of(chromium) as page:
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        if screen == "report":
            await post_payloads(node)
            await page.goto(f"{node.base}/report/{ROOM}?key={ADMIN_KEY}")
        else:
            before = (await asyncio.to_thread(node.health))["sockets"]
            token = mint(ROOM, ROLE[screen], f"{screen}-watcher", name=SCRIPT)
            await page.goto(f"{node.base}/{screen}/{ROOM}?token={token}")
            await sockets_reach(node, before + 1)
            await post_payloads(node)
        await wait_for_text(page, SHOWN[screen])
        await asyncio.sleep(0.3)  # let any injected handler fire
        assert await page.evaluate("typeof window.__xss") == "undefined"
        assert not dialogs, dialogs
        injected = await page.evaluate(
            f"Array.from(document.querySelectorAll({INJECTED!r})).map(e => e.outerHTML)"
        )
        assert injected == [], injected

        # Control: the same payload through innerHTML does run here, so the checks above
        # would have caught a screen that rendered text as HTML.
        await page.evaluate(f"document.body.insertAdjacentHTML('beforeend', {IMG!r})")
        await page.wait_for_function("window.__xss === 1", timeout=timeout(5) * 1000)

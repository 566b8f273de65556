"""The viewer widget in real headless Chromium against real nodes.

- before the show the buy button is disabled; on the first product segment the card
  shows the product, the struck-through anchor price, the live price, the stock bar
  and a countdown (the sample show's images 404 and are hidden);
- two widgets sell out a sale of 3 units (limit 2): exactly 3 units are accepted, the
  controller sees ``remaining`` 0 and one ``sold_out`` event, the join-waitlist button
  appears; comments reach the controller; an HTML payload in a comment stays text;
- the labels switch to English;
- ``/embed.js`` on a page of another origin creates the iframe, which connects.

Every wait is bounded (:func:`tests.support.timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    WebSocketRoute,
    expect,
)
from websockets.exceptions import ConnectionClosed

from tests.browser.conftest import ROOT, artifact
from tests.support import Client, Node, free_port, mint, timeout

ROOM: Final = "flash"
STOCK: Final = 3
LIMIT: Final = 2
PHONE: Final[ViewportSize] = {"width": 390, "height": 844}
XSS: Final = "<img src=x onerror=window.__xss=1>"

_BOX = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 96 96'%3E"
    "%3Crect width='96' height='96' rx='12' fill='%23ffe3c2'/%3E"
    "%3Crect x='18' y='30' width='60' height='48' rx='6' fill='%23c2410c'/%3E"
    "%3Crect x='18' y='22' width='60' height='14' rx='4' fill='%23ea580c'/%3E"
    "%3Ccircle cx='38' cy='54' r='8' fill='%23fde68a'/%3E"
    "%3Ccircle cx='58' cy='56' r='7' fill='%23fcd34d'/%3E%3C/svg%3E"
)

TINY_SHOW: Final = f"""\
[show]
title = "果仁铺 · 小小秒杀"
host = "阿豆"
starts_at = 2026-12-10T19:30:00+08:00
currency = "CNY"

[[products]]
id = "nuts"
name = "果仁铺 每日坚果 750g（25g×30 包）"
images = ["{_BOX}"]
anchor_price = 12900
live_price = 6990
stock = 100
limit_per_buyer = 1
selling_points = ["六种坚果果干"]

[[segments]]
kind = "opening"
title = "开场"
duration_s = 60
talking_points = ["欢迎来到{{{{ title }}}}"]

[[segments]]
kind = "product"
title = "每日坚果"
duration_s = 300
product = "nuts"
talking_points = ["{{{{ product }}}} 只要 {{{{ price }}}} 元"]

[segments.sale]
auto_start = true
duration_s = 300
stock = {STOCK}
limit_per_buyer = {LIMIT}

[[segments]]
kind = "closing"
title = "回顾"
duration_s = 30
step = "recap"
talking_points = ["谢谢大家"]

[[segments]]
kind = "closing"
title = "感谢"
duration_s = 30
step = "thanks"
talking_points = ["下次见"]
"""


def ms(seconds: float) -> float:
    return timeout(seconds) * 1000


# a controller's socket, read in the background ------------------------------------


class Dashboard:
    """A controller socket that keeps every frame, so a test can wait for any of them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())
        self.next_id = 0

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                self.frames.append(await self.client.receive(3600))

    async def wait(self, found: Callable[[], Any], what: str, seconds: float = 10) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout(seconds)
        while asyncio.get_running_loop().time() < deadline:
            value = found()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise TimeoutError(f"the controller did not see {what}")

    async def command(self, **body: Any) -> dict[str, Any]:
        self.next_id += 1
        ref = f"ctl-{self.next_id}"
        await self.client.send({**body, "id": ref})
        answer: dict[str, Any] = await self.wait(
            lambda: next((f for f in self.frames if f.get("id") == ref), None), f"answer {ref}"
        )
        assert answer["t"] == "ack", answer
        return answer

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [
            event for frame in self.frames for event in frame.get("ev", []) if event["type"] == kind
        ]

    def chat(self) -> list[dict[str, Any]]:
        return [item for frame in self.frames for item in frame.get("chat", [])]

    def latest(self, key: str) -> dict[str, Any]:
        """The last value of a state key this socket received (empty if none)."""
        values = [frame["st"][key] for frame in self.frames if key in frame.get("st", {})]
        return values[-1] if values else {}

    def sale_views(self) -> list[dict[str, Any]]:
        return [
            value
            for frame in [self.client.welcome, *self.frames]
            for key, value in frame.get("st", {}).items()
            if key.startswith("sale:")
        ]

    async def stop(self) -> None:
        await self.client.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


@contextlib.asynccontextmanager
async def dashboard(node: Node, room: str) -> AsyncIterator[Dashboard]:
    screen = Dashboard(await Client.connect(node.ws_url(mint(room, "controller", "boss"))))
    try:
        yield screen
    finally:
        await screen.stop()


# pages -------------------------------------------------------------------------


class Console:
    """Console errors and uncaught exceptions of every page it watches."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        return page

    def _message(self, message: ConsoleMessage) -> None:
        # Chromium logs every failed resource load; only these two are expected here.
        url = str(message.location.get("url", ""))
        if url.endswith("/favicon.ico") or "/static/img/" in url:
            return
        if message.type == "error":
            self.errors.append(message.text)


async def widget(
    context: BrowserContext, node: Node, room: str, user: str, name: str, console: Console
) -> Page:
    page = console.watch(await context.new_page())
    token = mint(room, "viewer", user, name=name)
    await page.goto(f"{node.base}/widget/{room}?token={token}")
    await expect(page.locator("#status")).to_be_hidden(timeout=ms(10))
    return page


@contextlib.asynccontextmanager
async def phone(browser: Browser, locale: str = "zh-CN") -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=PHONE, locale=locale, device_scale_factor=2)
    try:
        yield context
    finally:
        await context.close()


@contextlib.contextmanager
def tiny_node(tmp_path: Path, hub: dict[str, Any] | None = None) -> Iterator[Node]:
    """A node with :data:`TINY_SHOW` in :data:`ROOM`; ``hub`` overrides ``HubSettings``."""
    script = tmp_path / "tiny.toml"
    script.write_text(TINY_SHOW, encoding="utf-8")
    data = tmp_path / "node"
    data.mkdir()
    env = {"LIVECON_SCRIPTS": f"{ROOM}={script}", "LIVECON_HUB_SETTINGS": json.dumps(hub or {})}
    node = Node.start(data_dir=data, env=env)
    try:
        yield node
    finally:
        node.stop()


async def state_of(page: Page) -> tuple[str, int]:
    """The buy button's state and the units this page has bought."""
    button = page.locator(".w-buy-btn")
    await expect(button).not_to_have_attribute("data-state", "busy", timeout=ms(10))
    bought = await page.locator(".w-orders").get_attribute("data-bought")
    return str(await button.get_attribute("data-state")), int(bought or 0)


# tests -------------------------------------------------------------------------


async def test_card_shows_the_product_price_stock_and_countdown(
    browser: Browser, snack_node: Node
) -> None:
    console = Console()
    async with phone(browser) as context, dashboard(snack_node, "snack") as controller:
        page = await widget(context, snack_node, "snack", "v1", "小王", console)
        button = page.locator(".w-buy-btn")
        await expect(button).to_be_disabled()
        await expect(button).to_have_attribute("data-state", "waiting")
        await controller.command(t="script", command="start")
        await controller.command(t="script", command="goto", target=3)
        await expect(page.locator(".w-name")).to_contain_text("每日坚果", timeout=ms(5))
        await expect(button).to_be_enabled(timeout=ms(5))
        await expect(button).to_have_text("立即抢购")
        anchor = page.locator(".w-anchor")
        await expect(anchor).to_have_text("¥129")
        await expect(anchor).to_have_css("text-decoration-line", "line-through")
        await expect(page.locator(".w-now")).to_have_text("¥69.90")
        await expect(page.locator(".w-tag")).to_have_text("直播价")
        await expect(page.locator(".w-bar")).to_be_visible()
        await expect(page.locator(".w-bar")).to_have_attribute("aria-valuemax", "600")
        await expect(page.locator(".w-stock-text")).to_have_text("剩 600/600 件")
        await expect(page.locator(".w-timer")).to_have_text(re.compile(r"^距结束 [45]:\d\d$"))
        await expect(page.locator(".w-img")).to_be_hidden(timeout=ms(5))
        first = await page.locator(".w-timer").text_content()
        await expect(page.locator(".w-timer")).not_to_have_text(first or "", timeout=ms(3))
        for _ in range(3):
            await page.locator(".w-like").click()
        await expect(page.locator(".w-like-count")).to_have_text("3")
        await page.locator(".w-card").click()
        figures = await controller.wait(
            lambda: (found := controller.latest("metrics")).get("likes") == 3 and found,
            "3 likes in the metrics",
        )
        assert figures["clicks"] == 1, figures
        await page.locator(".w-input").focus()
        await page.keyboard.type("扣1")
        await page.keyboard.press("Enter")
        await expect(page.locator(".w-text")).to_have_text("扣1", timeout=ms(5))
        await expect(page.locator(".w-input")).to_have_value("")
        for width in (320, 420, 800):
            await page.set_viewport_size({"width": width, "height": 640})
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{wide} px of content in a {width} px page"
            await expect(page.locator(".w-buy-btn")).to_be_in_viewport()
            await expect(page.locator(".w-input")).to_be_in_viewport()
        await page.keyboard.press("Tab")
        await expect(page.locator(".w-send")).to_be_focused()
    assert not console.errors, console.errors


async def test_two_widgets_sell_out_chat_safely_and_switch_to_english(
    browser: Browser, tmp_path: Path
) -> None:
    console = Console()
    with tiny_node(tmp_path, {"viewer_chat_cap": 5}) as node:
        async with (
            dashboard(node, ROOM) as controller,
            phone(browser) as first_context,
            phone(browser) as second_context,
        ):
            pages = [
                await widget(first_context, node, ROOM, "v1", "小王", console),
                await widget(second_context, node, ROOM, "v2", "Lily", console),
            ]
            for page in pages:
                await expect(page.locator(".w-buy-btn")).to_be_disabled()
            await controller.command(t="script", command="start")
            await controller.command(t="script", command="next")
            await a_comment_reaches_the_controller(pages[0], controller)
            for page in pages:
                await choose_the_limit(page)
            for _ in range(2):
                await pages[0].locator(".w-like").click()
            await pages[0].evaluate("document.activeElement.blur()")
            await pages[0].screenshot(path=artifact("widget-zh.png"), animations="disabled")
            screens = ROOT / "docs" / "screens"
            screens.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact("widget-zh.png"), screens / "widget.png")
            await buy_until_sold_out(pages)
            await check_the_controller_saw_the_sell_out(controller)
            await join_the_waitlist(pages)
            await html_in_a_comment_stays_text(pages, controller)
            await pages[0].screenshot(
                path=artifact("widget-zh-sold-out.png"), animations="disabled"
            )
            await switch_to_english(pages[1])
            await a_flood_is_marked_sampled(node, pages[0])
    assert not console.errors, console.errors


async def choose_the_limit(page: Page) -> None:
    await expect(page.locator(".w-buy-btn")).to_have_attribute("data-action", "buy", timeout=ms(5))
    await expect(page.locator(".w-low")).to_have_text(f"只剩 {STOCK} 件")
    await expect(page.locator(".w-stock-text")).to_have_text(f"剩 {STOCK}/{STOCK} 件")
    await page.locator(".w-step").last.click()
    await expect(page.locator(".w-qty-value")).to_have_text(str(LIMIT))
    await expect(page.locator(".w-step").last).to_be_disabled()


async def buy_until_sold_out(pages: list[Page]) -> None:
    """Both pages ask for the limit at once, then press again while the button says buy."""
    await asyncio.gather(*(page.locator(".w-buy-btn").click() for page in pages))
    for _ in range(6):
        states = [await state_of(page) for page in pages]
        buying = [page for page, (state, _) in zip(pages, states, strict=True) if state == "now"]
        buying += [page for page, (state, _) in zip(pages, states, strict=True) if state == "more"]
        if not buying:
            break
        # click only if the button still says buy at that instant: a sell-out may land first
        await buying[0].evaluate(
            "() => { const b = document.querySelector('.w-buy-btn');"
            " if (b && b.dataset.action === 'buy' && !b.disabled) b.click(); }"
        )
        await buying[0].wait_for_timeout(100)
    states = [await state_of(page) for page in pages]
    assert sum(units for _, units in states) == STOCK, states
    assert sorted(units for _, units in states) == [1, 2], states
    for page, (state, units) in zip(pages, states, strict=True):
        assert state == ("limit" if units == LIMIT else "waitlist"), states
        await expect(page.locator(".w-orders")).to_contain_text(f"已抢到 {units} 件")
        await expect(page.locator(".w-stock-text")).to_have_text("已抢光")


async def check_the_controller_saw_the_sell_out(controller: Dashboard) -> None:
    await controller.wait(
        lambda: any(view["remaining"] == 0 for view in controller.sale_views()), "remaining 0"
    )
    await controller.wait(lambda: controller.events("sold_out"), "a sold_out event")
    orders = await controller.wait(
        lambda: (found := controller.events("order")) and len(found) == 2 and found,
        "two order events",
    )
    assert sum(order["quantity"] for order in orders) == STOCK, orders
    assert len(controller.events("sold_out")) == 1


async def join_the_waitlist(pages: list[Page]) -> None:
    for page in pages:
        button = page.locator(".w-buy-btn")
        if await button.get_attribute("data-action") != "waitlist":
            continue
        await expect(button).to_have_text("已售罄 · 加入候补")
        await button.click()
        await expect(button).to_have_attribute("data-state", "waitlisted", timeout=ms(5))
        await expect(button).to_have_text("候补中 · 第 1 位")
        await expect(button).to_be_disabled()
        await expect(page.locator(".w-msg")).to_have_text("已加入候补，第 1 位")
        return
    raise AssertionError("no page offered the waitlist")


async def a_comment_reaches_the_controller(page: Page, controller: Dashboard) -> None:
    await page.locator(".w-input").fill("好想要！还有吗？")
    await page.locator(".w-input").press("Enter")
    said = await controller.wait(
        lambda: [item for item in controller.chat() if item["text"] == "好想要！还有吗？"],
        "the comment",
    )
    assert (said[0]["user"], said[0]["name"], said[0]["role"]) == ("v1", "小王", "viewer"), said
    await expect(page.locator(".w-line.mine .w-text")).to_have_text("好想要！还有吗？")


async def html_in_a_comment_stays_text(pages: list[Page], controller: Dashboard) -> None:
    await pages[1].locator(".w-input").fill(XSS)
    await pages[1].locator(".w-send").click()
    await controller.wait(lambda: any(item["text"] == XSS for item in controller.chat()), "XSS")
    line = pages[0].locator(".w-line", has_text="onerror")
    await expect(line.locator(".w-text")).to_have_text(XSS, timeout=ms(5))
    await expect(line.locator(".w-who")).to_contain_text("Lily")
    for page in pages:
        await expect(page.locator(".w-text", has_text="onerror")).to_have_count(1)
        assert await page.locator(".w-lines img").count() == 0
        assert await page.evaluate("typeof window.__xss") == "undefined"


async def switch_to_english(page: Page) -> None:
    await page.locator(".w-lang").click()
    await expect(page.locator(".w-lang")).to_have_text("中文")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator(".w-tag")).to_have_text("Live price")
    await expect(page.locator(".w-stock-text")).to_have_text("All gone")
    await expect(page.locator(".w-send")).to_have_text("Send")
    await expect(page.locator(".w-input")).to_have_attribute("placeholder", "Say something…")
    await expect(page.locator(".w-timer")).to_have_text(re.compile(r"^Ends in \d+:\d\d$"))
    await expect(page.locator(".w-limit")).to_have_text("Limit 2 per buyer")
    await expect(page.locator(".w-orders")).to_contain_text("Bought")
    await expect(page.locator(".w-online")).to_have_text(re.compile(r"^\d+ watching$"))
    await page.screenshot(path=artifact("widget-en.png"), animations="disabled")


async def a_flood_is_marked_sampled(node: Node, page: Page) -> None:
    """More comments in one tick than ``viewer_chat_cap`` (5 here): the lane says so."""
    flood = await Client.connect(node.ws_url(mint(ROOM, "viewer", "flood", name="Flood")))
    try:
        for number in range(20):
            await flood.send({"t": "comment", "text": f"1 #{number}", "id": number})
        answers = [await flood.receive_until(lambda frame: "id" in frame) for _ in range(20)]
        assert all(answer["t"] == "ack" for answer in answers), answers
        await expect(page.locator(".w-sampled")).to_be_visible(timeout=ms(5))
        await expect(page.locator(".w-sampled")).to_have_text("评论太多，仅显示部分")
        await expect(page.locator(".w-text").last).to_have_text("1 #19", timeout=ms(5))
    finally:
        await flood.close()


async def test_a_buy_whose_answer_was_lost_is_retried_with_the_same_key(
    browser: Browser, tmp_path: Path
) -> None:
    """The socket drops after the buy reached the node but before its answer came back:
    the widget reconnects, sends the same press again with the same key, and shows the
    one order the node made."""
    console = Console()
    keys: list[str] = []
    cut = asyncio.Event()

    async def route(page_side: WebSocketRoute) -> None:
        node_side = page_side.connect_to_server()

        def to_node(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("t") == "buy":
                keys.append(frame["key"])
            node_side.send(message)

        async def to_page(message: str | bytes) -> None:
            if json.loads(message).get("outcome") and not cut.is_set():
                cut.set()
                await page_side.close(code=4009, reason="slow")
                await node_side.close()
                return
            page_side.send(message)

        page_side.on_message(to_node)
        node_side.on_message(to_page)

    with tiny_node(tmp_path) as node:
        async with dashboard(node, ROOM) as controller, phone(browser) as context:
            page = console.watch(await context.new_page())
            await page.route_web_socket(re.compile(r"/ws\?"), route)
            await page.goto(f"{node.base}/widget/{ROOM}?token={mint(ROOM, 'viewer', 'v1')}")
            await controller.command(t="script", command="start")
            await controller.command(t="script", command="next")
            button = page.locator(".w-buy-btn")
            await expect(button).to_have_attribute("data-action", "buy", timeout=ms(10))
            await button.click()
            await asyncio.wait_for(cut.wait(), timeout(5))
            await expect(page.locator(".w-orders")).to_have_attribute(
                "data-bought", "1", timeout=ms(10)
            )
            orders = await controller.wait(lambda: controller.events("order"), "the order")
            await expect(page.locator(".w-orders")).to_contain_text(str(orders[0]["id"]))
            await expect(page.locator(".w-msg")).to_have_text(f"抢到了！订单号 {orders[0]['id']}")
            assert keys == [keys[0], keys[0]], keys
            made = {(order["id"], order["request_id"]) for order in controller.events("order")}
            assert made == {(orders[0]["id"], f"v1:{keys[0]}")}, made  # keys are scoped to buyers
    assert not console.errors, console.errors


# embedding ----------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No request log on the test's stderr."""


@contextlib.contextmanager
def shop_server(directory: Path) -> Iterator[str]:
    """A static file server for ``directory`` on another port: another origin."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout(5))


SHOP_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Nut shop</title>
<script>window.__before = Object.getOwnPropertyNames(window);</script>
</head><body>
<h1>Nut shop</h1>
<div id="live"></div>
<script src="{base}/embed.js" data-room="{room}" data-token="{first}" data-target="live"
 async></script>
<p id="after-me">The second widget comes right after its script tag:</p>
<script src="{base}/embed.js" data-room="{room}" data-token="{second}" data-height="420"></script>
</body></html>
"""


async def test_embed_script_frames_the_widget_on_another_origin(
    browser: Browser, tmp_path: Path
) -> None:
    console = Console()
    shop = tmp_path / "shop"
    shop.mkdir()
    with tiny_node(tmp_path) as node:
        first, second = mint(ROOM, "viewer", "shopper1"), mint(ROOM, "viewer", "shopper2")
        page_text = SHOP_PAGE.format(base=node.base, room=ROOM, first=first, second=second)
        (shop / "index.html").write_text(page_text, encoding="utf-8")
        with shop_server(shop) as origin:
            async with phone(browser, "en-US") as context:
                page = console.watch(await context.new_page())
                await page.goto(f"{origin}/index.html")
                frames = page.locator("iframe.livecon-widget")
                await expect(frames).to_have_count(2, timeout=ms(10))
                inside = page.locator("#live > iframe.livecon-widget")
                await expect(inside).to_have_count(1)
                after = page.locator("#after-me + script + iframe.livecon-widget")
                await expect(after).to_have_count(1)
                await check_frame_attributes(page, node, first)
                for index in range(2):
                    frame = page.frame_locator("iframe.livecon-widget").nth(index)
                    await expect(frame.locator(".w-title")).to_have_text(
                        "果仁铺 · 小小秒杀", timeout=ms(10)
                    )
                    await expect(frame.locator("#status")).to_be_hidden()
                    await expect(frame.locator(".w-online")).to_have_text(
                        re.compile(r"^\d+ watching$"), timeout=ms(5)
                    )
                    await expect(frame.locator(".w-buy-btn")).to_be_disabled()
                after_load = await page.evaluate("Object.getOwnPropertyNames(window)")
                before = await page.evaluate("window.__before")
                leaked = set(after_load) - set(before) - {"__before"}
                assert {name for name in leaked if not name.isdigit()} == set(), leaked
    assert not console.errors, console.errors


async def check_frame_attributes(page: Page, node: Node, token: str) -> None:
    inside = page.locator("#live > iframe")
    src = await inside.get_attribute("src")
    assert src == f"{node.base}/widget/{ROOM}?token={token}&lang=en", src
    await expect(inside).to_have_attribute("title", "Live shopping widget")
    await expect(inside).to_have_attribute("loading", "lazy")
    assert await inside.get_attribute("allow") is None
    box = await inside.bounding_box()
    assert box is not None
    assert (box["height"], box["width"] > 300) == (640, True), box
    other = await page.locator("#after-me + script + iframe").bounding_box()
    assert other is not None
    assert other["height"] == 420, other

"""Fan tiers (粉丝分层) on every screen, in real headless Chromium against a real node.

Two rooms load shows of the same channel: a viewer who joined the earlier show is a
returning fan (老粉) in the later one, everyone else is new (新粉).

- a controller starts a returning-only sale from the dashboard's "who may buy" select:
  a new viewer's widget shows the badge and a disabled buy button with the reason, a
  returning viewer is welcomed back and buys; the prompter shows 老粉专享价; the
  dashboard's sale card carries the badge and its metrics count new and returning
  viewers and the returning fan's order; a returning-only lottery says so everywhere;
- a script's new-only sale, in English: a returning viewer sees why they cannot buy; a
  widget that never got its tier presses, is answered ``fans_only`` and then says why;
  the new viewer buys.

No console errors on any page. Every wait is bounded (:func:`tests.support.timeout`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.browser.conftest import artifact
from tests.browser.test_widget import Console, dashboard, ms, phone, widget
from tests.support import Client, Node, mint

EARLIER: Final = "nuts-1"
SHOW: Final = "nuts-2"


def script(title: str, sale: str) -> str:
    """A show of the ``nutshop`` channel whose product segment has ``sale`` as its sale table."""
    return f"""\
[show]
title = "{title}"
host = "阿豆"
starts_at = 2026-12-10T19:30:00+08:00
currency = "CNY"
channel = "nutshop"

[[products]]
id = "nuts"
name = "果仁铺 每日坚果 750g"
anchor_price = 12900
live_price = 5990
stock = 50
limit_per_buyer = 2
selling_points = ["六种坚果果干"]

[[segments]]
kind = "opening"
title = "开场"
duration_s = 60
talking_points = ["欢迎"]

[[segments]]
kind = "product"
title = "每日坚果"
duration_s = 300
product = "nuts"
talking_points = ["只要 59.9"]
{sale}
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


NEW_FANS_SALE: Final = """
[segments.sale]
auto_start = true
duration_s = 300
fans = "new"
"""


@contextlib.contextmanager
def two_shows(tmp_path: Path, sale: str = "") -> Iterator[Node]:
    """A node with an earlier show and this one, both of the ``nutshop`` channel."""
    earlier = tmp_path / "earlier.toml"
    earlier.write_text(script("果仁铺 · 上一场", ""), encoding="utf-8")
    show = tmp_path / "show.toml"
    show.write_text(script("果仁铺 · 老粉专场", sale), encoding="utf-8")
    data = tmp_path / "node"
    data.mkdir()
    node = Node.start(data_dir=data, env={"LIVECON_SCRIPTS": f"{EARLIER}={earlier},{SHOW}={show}"})
    try:
        yield node
    finally:
        node.stop()


async def make_returning(node: Node, user: str) -> None:
    """``user`` joins the earlier show (new there), so they are returning in :data:`SHOW`."""
    client = await Client.connect(node.ws_url(mint(EARLIER, "viewer", user)))
    try:
        frame = await client.receive_until(lambda f: f.get("kind") == "fan")
        assert frame == {"t": "direct", "kind": "fan", "tier": "new"}, frame
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def staff_page(
    browser: Browser, node: Node, screen: str, role: str, console: Console, locale: str
) -> AsyncIterator[Page]:
    context = await browser.new_context(locale=locale, viewport={"width": 1600, "height": 1000})
    try:
        page = console.watch(await context.new_page())
        await page.goto(f"{node.base}/{screen}/{SHOW}?token={mint(SHOW, role, 'boss', name='Mia')}")
        await expect(page.locator("#status")).to_be_hidden(timeout=ms(10))
        yield page
    finally:
        await context.close()


async def widget_without_tier(context: BrowserContext, node: Node, console: Console) -> Page:
    """A widget whose ``fan`` frame is lost on the way, so only the server knows its tier."""

    async def route(page_side: WebSocketRoute) -> None:
        node_side = page_side.connect_to_server()
        node_side.on_message(
            lambda message: (
                None if json.loads(message).get("kind") == "fan" else page_side.send(message)
            )
        )
        page_side.on_message(node_side.send)

    page = console.watch(await context.new_page())
    await page.route_web_socket(re.compile(r"/ws\?"), route)
    await page.goto(f"{node.base}/widget/{SHOW}?token={mint(SHOW, 'viewer', 'regular2')}")
    await expect(page.locator("#status")).to_be_hidden(timeout=ms(10))
    return page


def figure(desk: Page, tier: str, name: str) -> Locator:
    """One cell of the dashboard's fan-tier table: ``name`` of the ``tier`` row."""
    return desk.locator(f'.fans-table tr[data-tier="{tier}"] td[data-figure="{name}"]')


# tests -------------------------------------------------------------------------


async def test_a_returning_fans_sale_on_every_screen(browser: Browser, tmp_path: Path) -> None:
    console = Console()
    with two_shows(tmp_path) as node:
        await make_returning(node, "regular")
        async with (
            dashboard(node, SHOW) as controller,
            staff_page(browser, node, "dashboard", "controller", console, "zh-CN") as desk,
            staff_page(browser, node, "prompter", "host", console, "zh-CN") as prompter,
            phone(browser) as new_context,
            phone(browser) as returning_context,
        ):
            newcomer = await widget(new_context, node, SHOW, "newbie", "小新", console)
            regular = await widget(returning_context, node, SHOW, "regular", "老王", console)
            await expect(regular.locator(".w-welcome")).to_have_text("老粉回来啦", timeout=ms(5))
            await expect(newcomer.locator(".w-welcome")).to_be_hidden()
            await controller.command(t="script", command="start")
            await controller.command(t="script", command="next")

            await desk.locator(".sale-fans").select_option("returning")
            await desk.locator('[data-action="sale-start"]').click()
            card = desk.locator(".sale")
            await expect(card.locator(".fans-badge")).to_have_text("老粉专享", timeout=ms(5))
            await expect(card.locator(".status")).to_have_text("抢购中")
            await expect(desk.locator(".audit-sale_started")).to_contain_text("老粉专享")

            await expect(newcomer.locator(".w-fans")).to_have_text("老粉专享价", timeout=ms(5))
            button = newcomer.locator(".w-buy-btn")
            await expect(button).to_be_disabled()
            await expect(button).to_have_attribute("data-state", "fans_returning")
            await expect(button).to_have_text("老粉专享")
            await expect(newcomer.locator(".w-why")).to_have_text(
                "这是老粉专享价，关注主播，下一场就能参与"
            )
            await expect(button).to_have_attribute("aria-describedby", "w-why")

            await expect(regular.locator(".w-fans")).to_have_text("老粉专享价")
            await expect(regular.locator(".w-why")).to_be_hidden()
            await regular.locator(".w-buy-btn").click()
            await expect(regular.locator(".w-msg")).to_have_text(
                re.compile(r"^抢到了！订单号 nuts-"), timeout=ms(5)
            )
            await expect(regular.locator(".w-orders")).to_have_attribute("data-bought", "1")

            badge = prompter.locator(".fans-badge")
            await expect(badge).to_have_text("老粉专享价", timeout=ms(5))
            await expect(badge).to_be_visible()
            badge_px, name_px = [
                await prompter.locator(selector).evaluate(
                    "(node) => parseFloat(getComputedStyle(node).fontSize)"
                )
                for selector in (".fans-badge", ".product-name")
            ]
            assert badge_px > name_px, (badge_px, name_px)  # read from across the room

            await expect(figure(desk, "returning", "orders")).to_have_text("1", timeout=ms(5))
            await expect(figure(desk, "new", "viewers")).to_have_text("1")
            await expect(figure(desk, "returning", "viewers")).to_have_text("1")
            await expect(desk.locator(".fans-share-value")).to_have_text("50%")
            await expect(figure(desk, "new", "orders")).to_have_text("0")
            await expect(figure(desk, "returning", "gmv")).to_have_text("¥59.90")
            await expect(figure(desk, "returning", "conversion")).to_have_text("100%")
            await expect(figure(desk, "new", "conversion")).to_have_text("0%")

            lottery = desk.locator(".panel-lottery")
            await lottery.locator(".lot-prize").fill("坚果礼盒")
            await lottery.locator(".lot-keyword").fill("老粉")
            await lottery.locator(".lot-fans").select_option("returning")
            await lottery.locator(".lot-open").click()
            await expect(lottery.locator(".lot-fans-badge")).to_have_text("老粉专享", timeout=ms(5))
            await expect(newcomer.locator(".w-notice-fans")).to_have_text(
                "仅限老粉参与（本次你不能参与）", timeout=ms(5)
            )
            await expect(regular.locator(".w-notice-fans")).to_have_text("仅限老粉参与")
            await newcomer.screenshot(path=artifact("widget-fans-zh.png"), animations="disabled")
            await desk.screenshot(path=artifact("dashboard-fans-zh.png"), animations="disabled")
            await prompter.screenshot(path=artifact("prompter-fans-zh.png"), animations="disabled")
            async with phone(browser, "zh-CN") as late_context:  # arrives mid-lottery
                latecomer = await widget(late_context, node, SHOW, "latecomer", "Lee", console)
                await expect(latecomer.locator(".w-notice-text")).to_contain_text(
                    "坚果礼盒", timeout=ms(5)
                )
                await expect(latecomer.locator(".w-notice-fans")).to_have_text(
                    "仅限老粉参与（本次你不能参与）", timeout=ms(5)
                )
    assert not console.errors, console.errors


async def test_a_new_fans_sale_in_english_and_the_fans_only_answer(
    browser: Browser, tmp_path: Path
) -> None:
    console = Console()
    with two_shows(tmp_path, NEW_FANS_SALE) as node:
        await make_returning(node, "regular")
        await make_returning(node, "regular2")
        async with (
            dashboard(node, SHOW) as controller,
            staff_page(browser, node, "dashboard", "controller", console, "en-US") as desk,
            staff_page(browser, node, "prompter", "host", console, "en-US") as prompter,
            phone(browser, "en-US") as new_context,
            phone(browser, "en-US") as returning_context,
        ):
            newcomer = await widget(new_context, node, SHOW, "newbie", "Nico", console)
            regular = await widget(returning_context, node, SHOW, "regular", "Wang", console)
            unknown = await widget_without_tier(returning_context, node, console)
            await expect(regular.locator(".w-welcome")).to_have_text("Welcome back", timeout=ms(5))
            await controller.command(t="script", command="start")
            await controller.command(t="script", command="next")

            await expect(regular.locator(".w-fans")).to_have_text("New fans only", timeout=ms(5))
            button = regular.locator(".w-buy-btn")
            await expect(button).to_be_disabled()
            await expect(button).to_have_text("New fans only")
            await expect(regular.locator(".w-why")).to_contain_text("welcome gift")

            await expect(unknown.locator(".w-fans")).to_have_text("New fans only", timeout=ms(5))
            await expect(unknown.locator(".w-buy-btn")).to_be_enabled()
            await unknown.locator(".w-buy-btn").click()
            await expect(unknown.locator(".w-msg")).to_have_text(
                "This one is for new fans only", timeout=ms(5)
            )
            await expect(unknown.locator(".w-buy-btn")).to_be_disabled()
            await expect(unknown.locator(".w-buy-btn")).to_have_attribute("data-state", "fans_new")

            await newcomer.locator(".w-buy-btn").click()
            await expect(newcomer.locator(".w-msg")).to_have_text(
                re.compile(r"^Got it! Order nuts-"), timeout=ms(5)
            )

            await expect(prompter.locator(".fans-badge")).to_have_text(
                "New fans only", timeout=ms(5)
            )
            await expect(desk.locator(".sale .fans-badge")).to_have_text(
                "New fans only", timeout=ms(5)
            )
            await expect(figure(desk, "new", "orders")).to_have_text("1", timeout=ms(5))
            await expect(figure(desk, "returning", "viewers")).to_have_text("2")
            await expect(figure(desk, "new", "viewers")).to_have_text("1")
            await expect(figure(desk, "returning", "orders")).to_have_text("0")
            await expect(desk.locator(".fans-share-value")).to_have_text("67%")
            await expect(desk.locator(".fans-table th.fans-returning")).to_have_text("Returning")
            await expect(desk.locator(".fans-share")).to_contain_text("Returning share")
            await desk.locator(".lang-switch").click()
            await expect(desk.locator(".sale .fans-badge")).to_have_text("新粉专享")
            await expect(desk.locator(".fans-table th.fans-returning")).to_have_text("老粉")
            await expect(desk.locator(".fans-share")).to_contain_text("老粉占比")
            await regular.locator(".w-lang").click()
            await expect(regular.locator(".w-fans")).to_have_text("新粉专享")
            await expect(regular.locator(".w-buy-btn")).to_have_text("新粉专享")
    assert not console.errors, console.errors

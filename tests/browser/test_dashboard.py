"""The controllers' dashboard in real Chromium against real nodes.

A controller runs the snack show from the page (start, next to the first product,
whose sale starts by itself), watches a viewer's comment and order arrive, cuts the
price through the confirmation flow and cues the host; customer service gets the
same screen without controls; a flood of 2,000 comments leaves the page responsive
with a bounded DOM. Every wait is bounded (``tests.support.timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from playwright.async_api import Browser, ConsoleMessage, Error, Page, expect

from tests.browser.conftest import ROOT, artifact
from tests.support import ADMIN_KEY, Client, Node, mint, timeout

ROOM: Final = "snack"
SCRIPT: Final = ROOT / "scripts" / "snack-party.toml"
ROW_CAP: Final = 500
"""The most comment rows the dashboard keeps in the DOM (``ROW_CAP`` in dashboard-chat.js)."""
CURRENT: Final = re.compile(r"\bcurrent\b")
FLOOD_SETTINGS: Final = {"rate_per_s": {"viewer": 10000}, "burst": 10000, "viewer_chat_cap": 5000}
FLOOD_SOCKETS: Final = 4
FLOOD_PER_SOCKET: Final = 500
FLOOD_BURST: Final = 10


def ms(seconds: float) -> float:
    """A Playwright timeout in milliseconds, scaled like every other wait."""
    return timeout(seconds) * 1000


def watch_errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of ``page``."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_error(error: Error) -> None:
        errors.append(str(error))

    page.on("console", on_console)
    page.on("pageerror", on_error)
    return errors


@asynccontextmanager
async def dashboard(
    browser: Browser, node: Node, role: str, user: str, name: str = ""
) -> AsyncIterator[tuple[Page, list[str]]]:
    """A dashboard page for a ``role`` token, Chinese by the browser's locale."""
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000})
    try:
        page = await context.new_page()
        errors = watch_errors(page)
        token = mint(ROOM, role, user, name=name)
        await page.goto(f"{node.base}/dashboard/{ROOM}?token={token}")
        await expect(page.locator(".conn")).to_have_attribute("data-state", "open", timeout=ms(10))
        yield page, errors
    finally:
        await context.close()


async def current_segment(page: Page) -> tuple[int, str]:
    current = page.locator(".timeline li.current")
    await expect(current).to_have_count(1, timeout=ms(5))
    index = await current.get_attribute("data-index")
    kind = await current.get_attribute("data-kind")
    assert index is not None
    assert kind is not None
    return int(index), kind


async def step_to_first_product(page: Page) -> None:
    """Click "next" until a product segment is on air."""
    for _ in range(10):
        index, kind = await current_segment(page)
        if kind == "product":
            return
        await page.locator('button[data-command="next"]').click()
        following = page.locator(f'.timeline li[data-index="{index + 1}"]')
        await expect(following).to_have_class(CURRENT, timeout=ms(5))
    raise AssertionError("no product segment reached")


async def viewer_events(client: Client, predicate: Any, seconds: float = 5) -> dict[str, Any]:
    """The first event the client receives that matches ``predicate``."""
    found: list[dict[str, Any]] = []

    def match(frame: dict[str, Any]) -> bool:
        found.extend(event for event in frame.get("ev", []) if predicate(event))
        return bool(found)

    await client.receive_until(match, seconds)
    return found[0]


CROWD: Final = (
    ("lily", "莉莉", ("1", "主播晚上好", "牛肉干什么时候上？")),
    ("ahao", "阿豪", ("1", "666", "有没有原味的")),
    ("mumu", "木木", ("1", "666", "坚果是当年的吗")),
)


async def crowd(node: Node, sale: str) -> None:
    """A few more viewers comment at once (the "1"s fold) and two of them buy."""
    clients = [
        await Client.connect(node.ws_url(mint(ROOM, "viewer", user, name=name)))
        for user, name, _ in CROWD
    ]
    try:
        for round_ in range(3):
            for client, (_, _, texts) in zip(clients, CROWD, strict=True):
                await client.send({"t": "comment", "id": f"c{round_}", "text": texts[round_]})
        for index, client in enumerate(clients[:2]):
            frame = {
                "t": "buy",
                "id": "b",
                "sale": sale,
                "qty": index + 1,
                "key": f"crowd-key-{index}",
            }
            answer = await client.request(frame)
            assert answer.get("outcome") == "accepted", answer
    finally:
        for client in clients:
            await client.close()


async def check_filters(page: Page) -> None:
    """Questions only, then one viewer's comments (click the name), then all again."""
    rows = page.locator(".chat-list .msg")
    await expect(rows.filter(has_text="已拍两箱")).to_be_visible(timeout=ms(5))
    await page.get_by_role("button", name="只看提问").click()
    await expect(rows).to_have_count(4)
    assert await rows.locator(".badge.q").count() == 4
    await rows.filter(has_text="牛肉干什么时候上").locator(".who").click()
    await expect(rows.locator(".who")).to_have_text(["莉莉", "莉莉", "莉莉"])
    await expect(rows.first.locator(".text")).to_have_text("1")
    await page.locator(".chip-user").click()
    await expect(rows.filter(has_text="已拍两箱")).to_be_visible()


async def test_controller_runs_the_show_from_the_dashboard(
    browser: Browser, snack_node: Node
) -> None:
    node = snack_node
    async with dashboard(browser, node, "controller", "mia", "Mia") as (page, errors):
        start = page.locator('button[data-command="start"]')
        await expect(start).to_have_text("开播")
        await expect(start).to_be_enabled(timeout=ms(5))
        await start.click()
        await expect(page.locator('.timeline li[data-index="0"]')).to_have_class(
            CURRENT, timeout=ms(5)
        )
        await expect(page.locator(".phase")).to_have_text("直播中")

        await step_to_first_product(page)
        row = page.locator("li.sale").first
        await expect(row).to_be_visible(timeout=ms(5))
        sale = await row.get_attribute("data-sale")
        assert sale is not None
        await expect(row.locator(".sale-stock")).to_have_text("剩余 600 / 600")
        await expect(row.locator(".status")).to_have_text("抢购中")
        await expect(row.locator(".sale-countdown")).to_contain_text("倒计时")

        viewer = await Client.connect(node.ws_url(mint(ROOM, "viewer", "v1", name="小王")))
        host = await Client.connect(node.ws_url(mint(ROOM, "host", "adou", name="阿豆")))
        try:
            question = "坚果保质期多久？"
            answer = await viewer.request({"t": "comment", "id": "c1", "text": question})
            assert answer["t"] == "ack", answer
            message = page.locator(".chat-list .msg", has_text=question)
            await expect(message).to_be_visible(timeout=ms(5))
            await expect(message.locator(".who")).to_have_text("小王")
            await expect(message.locator(".badge.q")).to_be_visible()

            bought = await viewer.request(
                {"t": "buy", "id": "b1", "sale": sale, "key": "0123456789ab"}
            )
            assert bought.get("outcome") == "accepted", bought
            order = page.locator(".orders li.order").first
            await expect(order).to_contain_text("v1", timeout=ms(5))
            await expect(order).to_contain_text("每日坚果")
            await expect(order.locator(".order-amount")).to_have_text("¥69.90")
            await expect(row.locator(".sale-stock")).to_have_text("剩余 599 / 600", timeout=ms(5))

            await row.get_by_label("新价格（元）").fill("19.9")
            await row.locator('button[data-action="price-change"]').click()
            confirm = row.locator(".price-confirm")
            await expect(confirm).to_be_visible(timeout=ms(5))
            await expect(confirm).to_contain_text("30%")
            await expect(row.locator(".sale-price")).to_have_text("¥69.90")
            await confirm.locator("button").click()
            await expect(row.locator(".sale-price")).to_have_text("¥19.90", timeout=ms(5))
            await expect(confirm).to_be_hidden()
            await expect(page.locator(".log-alerts li", has_text="¥69.90 → ¥19.90")).to_be_visible()

            cue_text = "展示一下坚果小包装"
            await page.get_by_label("提醒内容").fill(cue_text)
            await page.get_by_label("级别").select_option("urgent")
            await page.get_by_role("button", name="发送提醒").click()
            await expect(page.locator(".toast", has_text="发送提醒：成功")).to_be_visible(
                timeout=ms(5)
            )
            cue = await viewer_events(
                host, lambda event: event.get("type") == "cue" and event["text"] == cue_text
            )
            sent = page.locator(f'.cues li[data-cue="{cue["cue"]}"]')
            await expect(sent).to_contain_text("等待主播确认")
            acked = await host.request({"t": "cue_ack", "id": "a1", "cue": cue["cue"]})
            assert acked["t"] == "ack", acked
            await expect(sent).to_contain_text("阿豆 已确认", timeout=ms(5))

            await crowd(node, sale)
            await viewer.request({"t": "comment", "id": "c2", "text": "已拍两箱，坐等发货"})
            await check_filters(page)
            await expect(page.locator(".log-audit li", has_text="进入第 4 段")).to_be_visible()
            await expect(page.locator(".tile-orders .tile-value")).to_have_text("3", timeout=ms(5))
            await expect(page.locator(".orders li.order")).to_have_count(3)
            await page.wait_for_timeout(ms(1.5))  # a few seconds of chart samples
            await page.evaluate("document.querySelector('.toasts').replaceChildren()")
            await page.screenshot(path=str(artifact("dashboard-zh.png")))

            await page.locator(".lang-switch").click()
            await expect(page.locator("#show-heading")).to_have_text("Run of show")
            await expect(page.locator('button[data-command="next"]')).to_have_text("Next")
            await expect(row.locator(".sale-stock")).to_have_text("596 / 600 left")
            await expect(page.locator(".phase")).to_have_text("Live")
            await expect(page.get_by_label("Cue", exact=True)).to_be_visible()
            await page.screenshot(path=str(artifact("dashboard-en.png")))

            await page.locator('button[data-command="pause"]').click()
            await expect(page.locator(".phase")).to_have_text("Paused", timeout=ms(5))
            await page.locator('button[data-command="resume"]').click()
            await expect(page.locator(".phase")).to_have_text("Live", timeout=ms(5))
            await page.locator('.timeline li[data-index="5"] button').click()
            dialog = page.locator("dialog.confirm")
            await expect(dialog).to_contain_text("Jump to segment 6")
            await dialog.get_by_role("button", name="Confirm").click()
            await expect(page.locator('.timeline li[data-index="5"]')).to_have_class(
                CURRENT, timeout=ms(5)
            )
        finally:
            await viewer.close()
            await host.close()

        async with dashboard(browser, node, "support", "kefu", "客服小李") as (support, more):
            await expect(support.locator(".role-badge")).to_have_text("客服")
            await expect(support.locator(".timeline li")).to_have_count(16, timeout=ms(5))
            await expect(support.locator(f'li.sale[data-sale="{sale}"]')).to_be_visible()
            await expect(support.locator(".chat-list")).to_be_visible()
            for forbidden in (
                "[data-command]",
                "[data-action]",
                "button.seg-body",
                ".cue-form",
                ".sale-controls",
                "input",
                "select",
            ):
                assert await support.locator(forbidden).count() == 0, forbidden
            assert more == []
        assert errors == []


def set_comment_policy(node: Node, per_minute: int) -> None:
    """Let one viewer comment ``per_minute`` times a minute, where moderation has a limit."""
    request = urllib.request.Request(
        f"{node.base}/api/rooms/{ROOM}/moderation",
        data=json.dumps({"per_minute": per_minute}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout(5)) as response:
            assert response.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 405):  # no moderation endpoint: no per-viewer limit
            raise


async def flood(client: Client, user: str) -> int:
    """Send this socket's share of the flood in bursts; return how many were accepted."""
    accepted = 0

    async def drain() -> None:
        nonlocal accepted
        while accepted < FLOOD_PER_SOCKET:
            frame = await client.receive(10)
            if frame["t"] == "ack" and "comment" in frame:
                accepted += 1
            elif frame["t"] == "error":
                raise AssertionError(frame)

    reader = asyncio.create_task(drain())
    for index in range(FLOOD_PER_SOCKET):
        text = "1" if index % 5 == 0 else f"刷屏 {user} 第 {index} 条"
        await client.send({"t": "comment", "id": index, "text": text})
        if index % FLOOD_BURST == FLOOD_BURST - 1:
            await asyncio.sleep(0.06)
    await asyncio.wait_for(reader, timeout(20))
    return accepted


async def test_a_comment_flood_does_not_freeze_the_dashboard(
    browser: Browser, tmp_path: Path
) -> None:
    env = {
        "LIVECON_HUB_SETTINGS": json.dumps(FLOOD_SETTINGS),
        "LIVECON_SCRIPTS": f"{ROOM}={SCRIPT}",
    }
    node = Node.start(data_dir=tmp_path, env=env)
    try:
        set_comment_policy(node, 100_000)
        async with dashboard(browser, node, "controller", "mia", "Mia") as (page, errors):
            users = [f"fan{index}" for index in range(FLOOD_SOCKETS)]
            clients = [
                await Client.connect(node.ws_url(mint(ROOM, "viewer", user))) for user in users
            ]
            sending = asyncio.gather(*(flood(c, u) for c, u in zip(clients, users, strict=True)))
            try:
                rows = page.locator(".chat-list .msg")
                await expect(rows.nth(100)).to_be_attached(timeout=ms(10))
                began = time.monotonic()
                await page.locator(".lang-switch").click()
                await expect(page.locator("#chat-heading")).to_have_text("Comments", timeout=ms(1))
                took = time.monotonic() - began
                assert not sending.done(), "the flood ended before the language switch"
                assert took < timeout(1), f"the language switch took {took:.2f} s"
                accepted = await sending
                assert sum(accepted) == FLOOD_SOCKETS * FLOOD_PER_SOCKET
                last = f"刷屏 {users[-1]} 第 {FLOOD_PER_SOCKET - 1} 条"
                await expect(page.locator(".chat-list .msg", has_text=last)).to_be_visible(
                    timeout=ms(5)
                )
                assert await rows.count() <= ROW_CAP
                assert await page.locator(".chat-list .msg.fold").count() > 0
                await expect(page.locator(".panel-chat .panel-meta")).to_contain_text("2,000")
            finally:
                if not sending.done():
                    sending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sending
                for client in clients:
                    await client.close()
            assert errors == []
    finally:
        node.stop()

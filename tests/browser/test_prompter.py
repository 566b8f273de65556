"""The host's teleprompter in real Chromium against a real node with the snack show.

The page and a controller socket share the room: the controller runs the show and
pushes a cue, the page shows the segment, price, stock and clocks, steps the show from
the keyboard and acknowledges the cue. Screenshots go to ``test-artifacts/screens``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.browser.conftest import artifact
from tests.support import Client, Node, mint, timeout

pytestmark = pytest.mark.integration

ROOM = "snack"
FIRST_PRODUCT = 3  # "主推：每日坚果 30 包" in scripts/snack-party.toml
MS = 1000


def wait_ms(seconds: float) -> float:
    """A Playwright timeout (ms) scaled like every other wait in the suite."""
    return timeout(seconds) * MS


class Controller:
    """The controller's socket: drives the show and sees what the host's page did.

    Every event read while waiting for something else is kept, so an event that came
    before the answer to a request is still found afterwards.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _keep(self, frame: dict[str, Any]) -> None:
        if frame.get("t") == "batch":
            self.events.extend(frame.get("ev", []))

    def find(self, kind: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        for event in self.events:
            if event.get("type") == kind and all(
                event.get(name) == value for name, value in fields.items()
            ):
                return event
        return None

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id

        def answers(reply: dict[str, Any]) -> bool:
            self._keep(reply)
            return reply.get("id") == ident and reply["t"] in {"ack", "error"}

        await self.client.send({**frame, "id": ident})
        return await self.client.receive_until(answers, seconds=10)

    async def script(self, command: str, **extra: Any) -> dict[str, Any]:
        reply = await self.request({"t": "script", "command": command, **extra})
        assert reply["t"] == "ack", reply
        return reply

    async def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The first event of ``kind`` with these fields, seen or still to come; used up."""

        def arrived(frame: dict[str, Any]) -> bool:
            self._keep(frame)
            return self.find(kind, fields) is not None

        found = self.find(kind, fields)
        if found is None:
            await self.client.receive_until(arrived, seconds=10)
            found = self.find(kind, fields)
        assert found is not None
        self.events.remove(found)
        return found


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """Playwright's ``expect`` waits 10 s (scaled) here; back to its 5 s default after."""
    expect.set_options(timeout=wait_ms(10))
    try:
        yield
    finally:
        expect.set_options(timeout=5 * MS)


@contextlib.asynccontextmanager
async def controlling(node: Node, room: str) -> AsyncIterator[Controller]:
    token = mint(room, "controller", "mia", name="Mia")
    client = await Client.connect(node.ws_url(token))
    try:
        yield Controller(client)
    finally:
        await client.close()


async def open_prompter(browser: Browser, node: Node, room: str, errors: list[str]) -> Page:
    """The host's page, connected; console errors and uncaught exceptions go to ``errors``."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", device_scale_factor=1
    )
    page = await context.new_page()
    page.set_default_timeout(wait_ms(10))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} {message.location}")

    def on_page_error(error: Exception) -> None:
        errors.append(f"pageerror: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    token = mint(room, "host", "adou", name="阿豆")
    await page.goto(f"{node.base}/prompter/{room}?token={token}", timeout=wait_ms(15))
    await expect(page.locator(".dot")).to_have_attribute("data-status", "open")
    return page


async def test_prompter_runs_the_show(browser: Browser, snack_node: Node) -> None:
    async with controlling(snack_node, ROOM) as controller:
        await run_the_show(browser, snack_node, controller)


async def run_the_show(browser: Browser, snack_node: Node, controller: Controller) -> None:
    errors: list[str] = []
    page = await open_prompter(browser, snack_node, ROOM, errors)
    stage = page.locator(".stage")

    # before the start: the first segment is previewed
    await expect(page.locator(".next-label")).to_have_text("第一段")
    await expect(page.locator(".next-title")).to_have_text("开场钩子")
    await expect(page.locator(".phase")).to_have_text("未开播")
    await page.screenshot(path=str(artifact("prompter-waiting.png")))

    # the controller starts and goes to the first product segment
    await controller.script("start")
    await expect(page.locator(".title")).to_have_text("开场钩子")
    await controller.script("goto", target=FIRST_PRODUCT)
    await expect(page.locator(".title")).to_have_text("主推：每日坚果 30 包")
    points = page.locator(".points li")
    # rendered talking points: price and anchor formatted from fen (6990 -> 69.9)
    await expect(points.first).to_contain_text("今晚直播间 69.9 元")
    await expect(points.first).to_contain_text("日常价 129 元")
    await expect(points).to_have_count(6)
    await expect(page.locator(".counter")).to_have_text("第 4/16 段")
    # live price vs anchor (struck through), stock of the open sale, its countdown
    await expect(page.locator(".price")).to_have_text("¥69.90")
    anchor = page.locator(".anchor")
    await expect(anchor).to_have_text("¥129")
    decoration = await anchor.evaluate("node => getComputedStyle(node).textDecorationLine")
    assert "line-through" in decoration
    await expect(page.locator(".stock")).to_have_text("剩余 600 件")
    await expect(page.locator(".sale-label")).to_have_text("秒杀倒计时")
    sale_timer = page.locator(".sale-timer")
    await expect(sale_timer).to_have_text(re.compile(r"^[45]:\d\d$"))
    segment_timer = page.locator(".timer-value")
    await expect(segment_timer).to_have_text(re.compile(r"^[56]:\d\d$"))
    before = await segment_timer.text_content()
    await expect(segment_timer).not_to_have_text(before or "", timeout=wait_ms(3))
    await expect(page.locator(".next-title")).to_have_text("手撕风干牛肉干")

    # a pinned question shows (when the node knows "pin")
    pinned = await controller.request(
        {"t": "pin", "comment": "c-1", "text": "保质期多久？", "name": "小王"}
    )
    if pinned["t"] == "ack":
        await expect(page.locator(".pinned-list li")).to_have_count(1)
        await expect(page.locator(".pinned-text")).to_have_text("保质期多久？")
        await expect(page.locator(".pinned-user")).to_have_text("小王")
    else:
        await expect(page.locator(".pinned")).to_be_hidden()

    # (docs/screens/prompter.png, for the README, is a copy of this one)
    await page.screenshot(path=str(artifact("prompter-zh.png")))

    # ArrowRight steps the show: the controller sees the segment event
    await page.keyboard.press("ArrowRight")
    entered = await controller.event("segment", index=FIRST_PRODUCT + 1)
    assert entered["title"] == "手撕风干牛肉干"
    await expect(page.locator(".title")).to_have_text("手撕风干牛肉干")
    await expect(page.locator(".toast")).to_have_text("已切换：第 5/16 段")

    # a controller's cue flashes over the page; Enter acknowledges it
    cue = await controller.request(
        {"t": "cue", "text": "展示一下香辣口味的红色包装", "level": "urgent"}
    )
    assert cue["t"] == "ack", cue
    overlay = page.locator(".cue")
    await expect(overlay).to_be_visible()
    await expect(overlay).to_have_attribute("data-level", "urgent")
    await expect(page.locator(".cue-text")).to_have_text("展示一下香辣口味的红色包装")
    await expect(page.locator(".cue-from")).to_have_text("来自 Mia")
    await page.keyboard.press("Enter")
    acked = await controller.event("cue_ack", cue=cue["cue"])
    assert acked["by"] == "阿豆"
    await expect(overlay).to_be_hidden()
    await expect(page.locator(".title")).to_have_text("手撕风干牛肉干")  # Enter did not step

    # ArrowLeft goes back
    await page.keyboard.press("ArrowLeft")
    await controller.event("segment", index=FIRST_PRODUCT)
    await expect(page.locator(".title")).to_have_text("主推：每日坚果 30 包")

    # mirror mode flips the content, and is remembered
    await page.locator(".tb-mirror").click()
    transform = await stage.evaluate("node => getComputedStyle(node).transform")
    assert transform == "matrix(-1, 0, 0, 1, 0, 0)"
    await page.reload()
    await expect(page.locator(".tb-mirror")).to_have_attribute("aria-pressed", "true")
    assert await stage.evaluate("node => getComputedStyle(node).transform") == transform
    await page.locator(".tb-mirror").click()
    assert await stage.evaluate("node => getComputedStyle(node).transform") == "none"

    # larger text
    size_before = await page.locator(".points li").first.evaluate(
        "node => parseFloat(getComputedStyle(node).fontSize)"
    )
    await page.locator(".tb-bigger").click()
    size_after = await page.locator(".points li").first.evaluate(
        "node => parseFloat(getComputedStyle(node).fontSize)"
    )
    assert size_after > size_before
    await page.locator(".tb-smaller").click()

    # English
    await page.locator(".tb-lang").click()
    await expect(page.locator(".price-label")).to_have_text("Live price")
    await expect(page.locator(".sale-label")).to_have_text("Flash sale ends in")
    await expect(page.locator(".next-label")).to_have_text("Next")
    await expect(page.locator(".tb-lang")).to_have_text("中文")
    await expect(page.locator(".stock")).to_have_text(re.compile(r"^\d+ left$"))
    await page.screenshot(path=str(artifact("prompter-en.png")))

    # portrait tablet: nothing runs off the side
    await page.set_viewport_size({"width": 800, "height": 1280})
    await expect(page.locator(".price")).to_be_visible()
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await page.screenshot(path=str(artifact("prompter-portrait.png")))

    assert errors == []
    await page.context.close()


# A tiny show to see every alarm quickly: 4 units (2 per buyer), urgency at 2, a 3 s segment.
REHEARSAL_ROOM = "tea"
REHEARSAL = """
[show]
title = "彩排：红茶小样"
host = "阿豆"
starts_at = 2026-12-10T19:30:00+08:00
currency = "CNY"

[[products]]
id = "tea"
name = "山间 红茶小样 5g×10 袋"
anchor_price = 5900
live_price = 2990
stock = 4
limit_per_buyer = 2
selling_points = ["条索紧实，汤色红亮"]

[[segments]]
kind = "product"
title = "红茶小样"
duration_s = 3
product = "tea"
urgency_at = 2
urgency_lines = ["红茶只剩 {{ stock }} 份了，要的抓紧！"]
talking_points = ["红茶小样今晚 {{ price }} 元，日常 {{ anchor_price }} 元。"]

[segments.sale]
duration_s = 120
auto_advance_on_sold_out = false

[[segments]]
kind = "closing"
title = "下播"
duration_s = 60
step = "recap"
talking_points = ["谢谢大家，下次见！"]
"""


@pytest.fixture
def rehearsal_node(tmp_path: Path) -> Iterator[Node]:
    script = tmp_path / "rehearsal.toml"
    script.write_text(REHEARSAL, encoding="utf-8")
    node = Node.start(data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"{REHEARSAL_ROOM}={script}"})
    try:
        yield node
    finally:
        node.stop()


async def buy(node: Node, user: str, sale: str, qty: int) -> dict[str, Any]:
    viewer = await Client.connect(node.ws_url(mint(REHEARSAL_ROOM, "viewer", user)))
    try:
        frame = {"t": "buy", "id": 1, "sale": sale, "qty": qty, "key": f"press-{user}-0001"}
        return await viewer.request(frame, seconds=10)
    finally:
        await viewer.close()


async def test_prompter_alarms(browser: Browser, rehearsal_node: Node) -> None:
    """Auto cues queue up, low stock shows the urgency lines, over time turns red,
    sold out says so, Space acknowledges without stepping, pause and end show."""
    errors: list[str] = []
    page = await open_prompter(browser, rehearsal_node, REHEARSAL_ROOM, errors)
    overlay = page.locator(".cue")
    more = page.locator(".cue-more")
    async with controlling(rehearsal_node, REHEARSAL_ROOM) as controller:
        await controller.script("start")
        sale = (await controller.event("sale_started", product="tea"))["sale"]
        # 3 s planned: "ending soon" at once, an info cue
        await expect(overlay).to_be_visible()
        await expect(overlay).to_have_attribute("data-level", "info")
        await expect(page.locator(".cue-level")).to_have_text("提示 · 系统提醒")

        # 2 of 4 sold: stock is low, the urgency lines show, an urgent cue queues
        assert (await buy(rehearsal_node, "v1", sale, 2))["outcome"] == "accepted"
        await expect(page.locator(".stock")).to_have_text("只剩 2 件")
        await expect(page.locator(".stock")).to_have_class(re.compile(r"\blow\b"))
        await expect(page.locator(".urgency-list li")).to_have_text(["红茶只剩 2 份了，要的抓紧！"])
        await expect(more).to_have_text(re.compile(r"^后面还有 [12] 条$"))

        # over time: the clock counts up in red; the overtime cue queues
        await expect(page.locator(".timer")).to_have_attribute("data-mode", "over")
        await expect(page.locator(".timer-value")).to_have_text(re.compile(r"^\+0:\d\d$"))
        await expect(more).to_have_text("后面还有 2 条")

        # sold out: the notice replaces the stock; the sold-out cue queues
        assert (await buy(rehearsal_node, "v2", sale, 2))["outcome"] == "accepted"
        await expect(page.locator(".soldout")).to_be_visible()
        await expect(page.locator(".soldout-title")).to_have_text("已售罄")
        await expect(page.locator(".stock")).to_be_hidden()
        await expect(page.locator(".urgency")).to_be_hidden()
        await expect(more).to_have_text("后面还有 3 条")
        await page.screenshot(path=str(artifact("prompter-cue.png")))

        # Space acknowledges one cue at a time, oldest first; it does not step
        shown: list[tuple[str, str]] = []
        for number in range(1, 5):
            text = await page.locator(".cue-text").text_content() or ""
            shown.append((await overlay.get_attribute("data-level") or "", text))
            await page.keyboard.press(" ")
            acked = await controller.event("cue_ack", by="阿豆")
            assert acked["cue"].startswith("auto-"), acked
            if number < 4:  # the next cue comes up
                await expect(page.locator(".cue-text")).not_to_have_text(text)
        sent = [(cue["level"], cue["text"]) for cue in controller.events if cue["type"] == "cue"]
        assert shown == sent  # in the order the show raised them
        keys = {cue["key"] for cue in controller.events if cue["type"] == "cue"}
        assert keys == {"ending_soon", "urgency", "overtime", "sold_out"}
        assert shown[0][0] == "info"
        assert sorted(level for level, _ in shown) == ["info", "urgent", "urgent", "warning"]
        await expect(overlay).to_be_hidden()
        await expect(page.locator(".title")).to_have_text("红茶小样")
        assert controller.find("segment", {"index": 1}) is None

        # paused: the clock stops and says so; stepping is refused with the reason
        await controller.script("pause")
        await expect(page.locator(".phase")).to_have_text("已暂停")
        await expect(page.locator(".timer-label")).to_have_text("已暂停")
        await expect(page.locator(".timer-value")).to_have_text(re.compile(r"^\+0:\d\d$"))
        await expect(page.locator(".sale")).to_be_hidden()  # sold out: no countdown
        await page.keyboard.press("PageDown")
        toast = page.locator(".toast")
        await expect(toast).to_have_attribute("data-kind", "error")
        await expect(toast).to_contain_text("无法切换：")

        # the toolbar hides; the connection dot stays
        await page.locator(".tb-hide").click()
        await expect(page.locator(".tb-tools")).to_be_hidden()
        await expect(page.locator(".dot")).to_be_visible()
        await page.screenshot(path=str(artifact("prompter-sold-out.png")))
        await page.locator(".tb-hide").click()
        await expect(page.locator(".tb-mirror")).to_be_visible()

        await controller.script("end")
        await expect(page.locator(".ended-title")).to_have_text("直播已结束")
        await page.screenshot(path=str(artifact("prompter-ended.png")))

    assert errors == []
    await page.context.close()

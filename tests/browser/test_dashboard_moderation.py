"""Moderation, FAQ replies, the lottery and the room audit log on the dashboard.

A node runs the beauty show with the serum on air; viewers post a clean comment, a
held one, a question and one with extreme words; a controller works them from the
page (approve, flagged filter, hide, mute, pin, reply with pin, slow mode), runs a
keyword lottery and reads the audit log; customer service gets the moderation
controls but no lottery or sale controls. Every wait is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import ROOT, artifact
from tests.browser.test_dashboard import ms, watch_errors
from tests.support import Client, Node, mint

ROOM: Final = "beauty"
SCRIPT: Final = ROOT / "scripts" / "beauty-night.toml"
SETTINGS: Final = {"rate_per_s": {"viewer": 1000}, "burst": 1000}
PRODUCT_SEGMENT: Final = 3
KEYWORD: Final = "抽礼盒"


@pytest.fixture
def beauty_node(tmp_path: Path) -> Iterator[Node]:
    env = {
        "LIVECON_SCRIPTS": f"{ROOM}={SCRIPT}",
        "LIVECON_HUB_SETTINGS": json.dumps(SETTINGS),
    }
    node = Node.start(data_dir=tmp_path, env=env)
    try:
        yield node
    finally:
        node.stop()


async def viewer(node: Node, user: str, name: str) -> Client:
    return await Client.connect(node.ws_url(mint(ROOM, "viewer", user, name=name)))


async def comment(client: Client, text: str, frame_id: str) -> dict[str, Any]:
    answer = await client.request({"t": "comment", "id": frame_id, "text": text})
    assert answer["t"] == "ack", answer
    return answer


async def first_match(
    client: Client, pick: Callable[[dict[str, Any]], Any], seconds: float = 5
) -> Any:
    """The first non-empty ``pick(frame)`` among the frames the client receives."""
    found: list[Any] = []

    def match(frame: dict[str, Any]) -> bool:
        value = pick(frame)
        if value:
            found.append(value)
        return bool(value)

    await client.receive_until(match, seconds)
    return found[0]


def chat_item(text: str) -> Callable[[dict[str, Any]], Any]:
    return lambda frame: next((i for i in frame.get("chat", []) if i.get("text") == text), None)


def event(kind: str, **fields: Any) -> Callable[[dict[str, Any]], Any]:
    def pick(frame: dict[str, Any]) -> Any:
        for one in frame.get("ev", []):
            if one.get("type") == kind and all(one.get(k) == v for k, v in fields.items()):
                return one
        return None

    return pick


def state(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda frame: (frame.get("st") or {}).get(key)


async def open_dashboard(browser: Browser, node: Node, role: str, user: str) -> Page:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1100})
    page = await context.new_page()
    await page.goto(f"{node.base}/dashboard/{ROOM}?token={mint(ROOM, role, user, name=user)}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "open", timeout=ms(10))
    return page


def row(page: Page, text: str) -> Locator:
    return page.locator(".chat-list .msg", has_text=text).first


async def test_controller_moderates_replies_and_runs_a_lottery(
    browser: Browser, beauty_node: Node
) -> None:
    node = beauty_node
    controller = await Client.connect(node.ws_url(mint(ROOM, "controller", "ops", name="Ops")))
    started = await controller.request(
        {"t": "script", "id": "s1", "command": "start", "confirm": True}
    )
    assert started["t"] == "ack", started
    moved = await controller.request(
        {"t": "script", "id": "s2", "command": "goto", "target": PRODUCT_SEGMENT}
    )
    assert moved["t"] == "ack", moved

    page = await open_dashboard(browser, node, "controller", "mia")
    errors = watch_errors(page)
    await page.reload()
    await expect(page.locator(".conn")).to_have_attribute("data-state", "open", timeout=ms(10))
    mei = await viewer(node, "v-mei", "小美")
    qiang = await viewer(node, "v-qiang", "阿强")
    watcher = await viewer(node, "v-watch", "路人")
    host = await Client.connect(node.ws_url(mint(ROOM, "host", "anchor", name="主播")))
    try:
        clean = await comment(mei, "主播今天好美", "c1")
        await comment(qiang, "加微信 123", "c2")
        question = "这个精华敏感肌能用吗？"
        await comment(mei, question, "c3")
        extreme = "这款精华绝对是全网第一"
        await comment(mei, extreme, "c4")
        await expect(row(page, extreme)).to_be_visible(timeout=ms(5))

        # held → approve publishes it to viewers
        await page.get_by_role("button", name="待审核").click()
        held = row(page, "加微信 123")
        await expect(held.locator(".badge.held")).to_have_text("hold")
        await expect(page.locator(".chat-list .msg", has_text="主播今天好美")).to_have_count(0)
        await held.get_by_role("button", name="通过").click()
        approved = await first_match(watcher, chat_item("加微信 123"))
        assert approved["user"] == "v-qiang"
        await expect(held).to_have_class(_has("approved"))

        # flagged: only the extreme-word comment
        await page.get_by_role("button", name="违规词").click()
        await expect(page.locator(".chat-list .msg")).to_have_count(1)
        await expect(row(page, extreme)).to_be_visible()
        await page.get_by_role("button", name="全部").click()

        # FAQ suggestions under the question; reply with pin reaches viewers
        asked = row(page, question)
        await expect(asked.locator(".suggestions")).to_contain_text("配方不含酒精", timeout=ms(5))
        await asked.get_by_role("button", name="置顶到提词器").click()
        pinned = await first_match(host, state("pinned"))
        assert pinned["items"][0]["text"] == question
        strip = page.locator(".pinned-list li.pinned")
        await expect(strip).to_have_count(1, timeout=ms(5))
        await expect(strip).to_contain_text(question)

        await asked.get_by_role("button", name="回复").click()
        composer = asked.locator(".reply-form")
        await expect(composer.locator("textarea")).to_have_value(_contains("配方不含酒精"))
        await composer.get_by_label("置顶回复给观众").check()
        await composer.get_by_role("button", name="发送回复").click()
        reply = await first_match(
            watcher, lambda f: next((i for i in f.get("chat", []) if i.get("reply")), None)
        )
        assert "配方不含酒精" in reply["text"]
        await expect(composer).to_have_count(0, timeout=ms(5))

        await strip.get_by_role("button", name="取消置顶").click()
        await expect(strip).to_have_count(0, timeout=ms(5))

        # hide removes the clean comment for viewers
        await row(page, "主播今天好美").get_by_role("button", name="隐藏").click()
        await first_match(watcher, event("comment_hidden", comment=clean["comment"]))
        await expect(row(page, "主播今天好美")).to_have_class(_has("removed"), timeout=ms(5))

        # mute marks the user; their next comment is held as muted; unmute
        await row(page, "加微信 123").get_by_role("button", name="禁言10分").click()
        await expect(page.locator(".muted-list li")).to_contain_text("阿强", timeout=ms(5))
        await comment(qiang, "我又来了", "c5")
        muted_row = row(page, "我又来了")
        await expect(muted_row).to_have_class(_has("moderated"), timeout=ms(5))
        await expect(muted_row.locator(".who")).to_have_class(_has("muted"))
        await page.locator(".muted-list").get_by_role("button", name="解除禁言").click()
        await expect(page.locator(".muted-list li")).to_have_count(0, timeout=ms(5))
        await expect(muted_row.locator(".who")).not_to_have_class(_has("muted"))

        # slow mode 10 s: a viewer's second comment is refused
        await page.locator(".slow-chip", has_text="10 秒").click()
        await expect(page.locator(".slow-chip", has_text="10 秒")).to_have_attribute(
            "aria-pressed", "true", timeout=ms(5)
        )
        slow = await viewer(node, "v-slow", "慢慢")
        try:
            await comment(slow, "第一条", "s1")
            refused = await slow.request({"t": "comment", "id": "s2", "text": "第二条"})
            assert refused["t"] == "error", refused
            assert refused["code"] == "rate_limited", refused
        finally:
            await slow.close()
        await page.locator(".slow-chip", has_text="关闭").click()
        await expect(page.locator(".slow-chip", has_text="关闭")).to_have_attribute(
            "aria-pressed", "true", timeout=ms(5)
        )

        await run_lottery(page, node)
        await check_audit(page)

        await page.evaluate("document.querySelector('.toasts').replaceChildren()")
        await page.screenshot(path=str(artifact("dashboard-moderation-zh.png")), full_page=True)
        await page.locator(".lang-switch").click()
        await expect(page.locator("#moderation-heading")).to_have_text("Moderation")
        await expect(page.locator("#lottery-heading")).to_have_text("Lottery")
        await expect(page.locator("#room-audit-heading")).to_have_text("Audit log")
        await expect(page.locator(".chip-held")).to_have_text("Held")
        await expect(page.locator(".slow-chip", has_text="10 s")).to_be_visible()
        await expect(row(page, question).locator(".mod-pin")).to_have_text("Pin to prompter")
        await expect(page.locator(".raudit-export")).to_have_attribute(
            "title", _contains("format=csv")
        )
        assert errors == []
    finally:
        for client in (mei, qiang, watcher, host, controller):
            await client.close()
        await page.context.close()

    await check_support(browser, node)


async def run_lottery(page: Page, node: Node) -> None:
    panel = page.locator(".panel-lottery")
    await panel.get_by_label("奖品").fill("体验礼盒")
    await panel.get_by_label("口令").fill(KEYWORD)
    await panel.get_by_label("中奖人数").fill("2")
    await panel.get_by_label("参与时长（秒）").fill("60")
    await panel.get_by_role("button", name="开始抽奖").click()
    await expect(panel.locator(".lot-status")).to_contain_text("进行中", timeout=ms(5))
    await expect(panel.locator(".lot-countdown")).to_contain_text("剩余")
    await expect(panel.locator(".lot-seed")).to_contain_text("种子哈希")
    fans = [await viewer(node, f"fan{index}", f"粉丝{index}") for index in range(2)]
    try:
        for index, fan in enumerate(fans):
            await comment(fan, f"{KEYWORD}！", f"k{index}")
    finally:
        for fan in fans:
            await fan.close()
    await expect(panel.locator(".lot-entrants")).to_have_text("参与 2 人", timeout=ms(5))
    await panel.get_by_role("button", name="开奖").click()
    await page.locator("dialog.confirm").get_by_role("button", name="确认").click()
    winners = panel.locator(".lot-winner")
    await expect(winners).to_have_count(2, timeout=ms(5))
    names = sorted(await winners.locator(".lot-winner-name").all_text_contents())
    assert names == ["粉丝0", "粉丝1"]
    await expect(winners.locator(".lot-winner-user")).to_have_count(2, timeout=ms(5))
    await expect(panel.locator(".lot-seed-value")).to_contain_text("种子")


async def check_audit(page: Page) -> None:
    audit = page.locator(".log-room-audit")
    for action in ("comment.approve", "comment.hide", "comment.reply", "room.slow_mode"):
        await expect(audit.locator(f'li[data-audit-action^="{action}"]').first).to_be_attached(
            timeout=ms(12)
        )
    await expect(audit.locator('li[data-audit-action^="lottery.draw"]')).to_have_count(
        1, timeout=ms(12)
    )
    first = await audit.locator("li").first.get_attribute("data-audit-action")
    assert first is not None
    assert first.startswith("lottery."), first


async def check_support(browser: Browser, node: Node) -> None:
    page = await open_dashboard(browser, node, "support", "kefu")
    errors = watch_errors(page)
    try:
        await expect(page.locator(".role-badge")).to_have_text("客服")
        await expect(page.locator(".panel-moderation .slow-chip")).to_have_count(4)
        await expect(page.locator(".chip-held")).to_be_visible()
        await expect(page.locator(".log-room-audit li").first).to_be_attached(timeout=ms(5))
        reader = await viewer(node, "v-late", "晚到")
        try:
            await comment(reader, "这个精华多少钱？", "q")
        finally:
            await reader.close()
        late = row(page, "这个精华多少钱")
        await expect(late.locator(".mod-reply")).to_be_visible(timeout=ms(5))
        await expect(late.locator(".mod-hide")).to_be_visible()
        for forbidden in (".panel-lottery", "[data-command]", "[data-action]", ".sale-controls"):
            assert await page.locator(forbidden).count() == 0, forbidden
        assert errors == []
    finally:
        await page.context.close()


def _has(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(name)}\b")


def _contains(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text))

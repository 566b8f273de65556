"""What the dashboard says when its link cannot work, and while Redis is down.

- a link whose token belongs to another room is refused (4005) and the page says so,
  in Chinese and in English, instead of showing that room under this room's name;
- on a node on Redis, stopping Redis raises the "bus" banner on the controller's
  dashboard as soon as the room publishes (a comment), and it goes away once Redis
  is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import ROOT
from tests.browser.test_dashboard import ms, watch_errors
from tests.support import Client, Node, RedisProcess, eventually, mint

SCRIPT = ROOT / "scripts" / "snack-party.toml"


@pytest.fixture
def redis_node(tmp_path: Path) -> Iterator[tuple[Node, RedisProcess]]:
    redis = RedisProcess.start(["--appendonly", "yes", "--appendfsync", "always"])
    node = Node.start(redis.url, data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"snack={SCRIPT}"})
    try:
        yield node, redis
    finally:
        node.stop()
        redis.stop()


async def test_a_link_for_another_room_says_so(browser: Browser, snack_node: Node) -> None:
    for locale, words in (("zh-CN", "另一个直播间"), ("en-US", "another room")):
        context = await browser.new_context(locale=locale)
        try:
            page = await context.new_page()
            errors = watch_errors(page)
            token = mint("other-room", "controller", "amy")
            await page.goto(f"{snack_node.base}/dashboard/snack?token={token}")
            connection = page.locator(".conn")
            await expect(connection).to_have_attribute("data-state", "refused", timeout=ms(10))
            await expect(page.locator(".conn-why")).to_contain_text(words, timeout=ms(5))
            assert not [e for e in errors if "4005" not in e], errors
        finally:
            await context.close()


async def test_the_dashboard_shows_when_redis_is_down(
    browser: Browser, redis_node: tuple[Node, RedisProcess]
) -> None:
    node, redis = redis_node
    context = await browser.new_context(locale="en-US", viewport={"width": 1600, "height": 1000})
    try:
        page = await context.new_page()
        token = mint("snack", "controller", "amy")
        await page.goto(f"{node.base}/dashboard/snack?token={token}")
        await expect(page.locator(".conn")).to_have_attribute("data-state", "open", timeout=ms(10))
        banner = page.locator(".bus")
        await expect(banner).to_be_hidden()
        viewer = await Client.connect(node.ws_url(mint("snack", "viewer", "v1", name="Vee")))
        try:
            redis.stop()
            # the next thing the room publishes (here a comment) meets the bus down
            await viewer.request({"t": "comment", "text": "还在吗", "id": 1})
            await expect(banner).to_be_visible(timeout=ms(10))
        finally:
            await viewer.close()
        await expect(banner).to_contain_text("Redis unreachable")
        await page.locator(".lang-switch").click()
        await expect(banner).to_contain_text("Redis 连接中断")
        redis.restart()
        await expect(banner).to_be_hidden(timeout=ms(20))  # reader backoff is capped at 5 s
        await eventually(
            lambda: asyncio.to_thread(lambda: node.health()["status"] == "ok"), 20, "node healthy"
        )
    finally:
        await context.close()

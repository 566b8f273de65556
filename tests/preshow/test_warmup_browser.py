"""The warm-up page (预热) in real Chromium: countdown, products, benefits, zh/en, the
remind-me form, no console errors, no inline script or style (the CSP forbids them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import artifact, browser, chromium  # noqa: F401
from tests.preshow._helpers import write_script
from tests.support import ADMIN_KEY, Node, timeout

ROOM = "warm"
STARTS_IN_S = 2 * 3600 + 5 * 60


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    script = write_script(tmp_path, starts_in_s=STARTS_IN_S)
    started = Node.start(data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"{ROOM}={script}"})
    try:
        yield started
    finally:
        started.stop()


def _watch(page: Any, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))


async def test_warmup_page_counts_down_lists_products_and_takes_reminders(
    browser: Any,  # noqa: F811
    node: Node,
) -> None:
    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        page_response = await http.get(f"/warmup/{ROOM}")
        missing = await http.get("/warmup/nowhere")
    csp = page_response.headers["content-security-policy"]
    assert "frame-ancestors *" in csp
    assert "script-src 'self'" in csp
    assert "<script>" not in page_response.text
    assert "style=" not in page_response.text
    assert "<b>30ml</b>" not in page_response.text  # script text is escaped
    assert missing.status_code == 404

    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    errors: list[str] = []
    try:
        page = await context.new_page()
        _watch(page, errors)
        await page.goto(f"{node.base}/warmup/{ROOM}?viewer=fan-42")
        assert await page.text_content("#title") == "初禾预热夜 Warm-up <night>"
        countdown = page.locator("#countdown")
        await expect(countdown).to_have_text(re.compile(r"^距开播 02:0\d:\d\d$"))
        first = await countdown.text_content()
        await expect(countdown).not_to_have_text(first or "", timeout=timeout(3) * 1000)
        names = await page.locator(".product .name").all_text_contents()
        assert names == ["玻尿酸精华 <b>30ml</b>", "面霜 Cream"]
        assert await page.locator(".product .anchor").all_text_contents() == ["¥299.00", "¥199.00"]
        assert await page.locator(".product .live").all_text_contents() == ["¥159.00", "¥99.00"]
        assert await page.locator("#benefits li").count() == 2
        assert await page.text_content("#remind-heading") == "开播提醒我"

        await page.fill("input[name=name]", "小王")
        await page.fill("input[name=contact]", "wang@example.com")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#remind-result[data-state=error]")
        assert await page.text_content("#remind-result") == "留下联系方式需要勾选同意"
        await page.check("input[name=consent]")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#remind-result[data-state=ok]")
        assert await page.text_content("#remind-result") == "已登记，开播前提醒你"

        await page.click("#lang")
        assert await page.text_content("#remind-heading") == "Remind me"
        assert (await countdown.text_content() or "").startswith("Starts in 02:0")
        assert await page.text_content("#lang") == "中文"
        await page.click("button[type=submit]")
        await page.wait_for_selector("#remind-result[data-state=ok]")
        await expect(page.locator("#remind-result")).to_have_text("Your reminder was updated")
        await page.screenshot(path=str(artifact("warmup-en.png")), full_page=True)
    finally:
        await context.close()
    assert not errors, errors

    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        listed = await http.get(
            f"/api/rooms/{ROOM}/reminders", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    answer = listed.json()
    assert answer["count"] == 1
    assert answer["reminders"][0] == {
        **answer["reminders"][0],
        "viewer": "fan-42",
        "name": "小王",
        "contact": "wang@example.com",
    }


async def test_warmup_page_in_english_by_query(browser: Any, node: Node) -> None:  # noqa: F811
    context = await browser.new_context(locale="zh-CN")
    errors: list[str] = []
    try:
        page = await context.new_page()
        _watch(page, errors)
        await page.goto(f"{node.base}/warmup/{ROOM}?lang=en")
        assert await page.text_content("#products-heading") == "On the show"
        assert await page.text_content("#benefits-heading") == "Live-only benefits"
        assert await page.get_attribute(".product .live", "title") == "Live price"
        assert await page.evaluate("document.documentElement.lang") == "en"
    finally:
        await context.close()
    assert not errors, errors

"""The three screens of one show together: prompter, dashboard and two widgets.

One browser, one room with a small snack show (a product segment whose sale starts
by itself with stock 3, limit 2): a widget's comment reaches the dashboard, Next on
the dashboard moves the prompter, two widgets sell the stock out and every screen
agrees, a cue from the dashboard reaches the prompter and its acknowledgement comes
back, and every screen switches to English. Every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import artifact
from tests.browser.test_dashboard import ms, watch_errors
from tests.support import Node, mint

ROOM: Final = "snack"
STOCK: Final = 3
LIMIT: Final = 2
SHOW: Final = f"""\
[show]
title = "零食派对 · 三屏联调"
host = "阿豆"
starts_at = 2026-12-10T19:30:00+08:00
currency = "CNY"

[[products]]
id = "jerky"
name = "手撕风干牛肉干 200g"
anchor_price = 8900
live_price = 4990
stock = 100
limit_per_buyer = 2
selling_points = ["内蒙古风干，越嚼越香"]

[[segments]]
kind = "opening"
title = "开场"
duration_s = 120
talking_points = ["欢迎来到{{{{ title }}}}"]

[[segments]]
kind = "product"
title = "牛肉干秒杀"
duration_s = 300
product = "jerky"
talking_points = ["{{{{ product }}}} 只要 {{{{ price }}}} 元"]

[segments.sale]
auto_start = true
duration_s = 300
stock = {STOCK}
limit_per_buyer = {LIMIT}

[[segments]]
kind = "closing"
title = "下播"
duration_s = 60
step = "recap"
talking_points = ["谢谢大家"]
"""


async def open_page(
    context: BrowserContext, url: str, errors: dict[str, list[str]], name: str
) -> Page:
    page = await context.new_page()
    errors[name] = watch_errors(page)
    await page.goto(url)
    return page


async def buy_one(widget: Page, expected: int) -> None:
    """Press buy once (one unit) and wait until the widget counts ``expected`` units."""
    button = widget.locator(".w-buy-btn")
    await expect(button).to_have_attribute("data-action", "buy", timeout=ms(5))
    await expect(button).to_be_enabled(timeout=ms(5))
    await button.click()
    await expect(widget.locator(".w-orders")).to_have_attribute(
        "data-bought", str(expected), timeout=ms(10)
    )


async def sell_out(widgets: list[Page]) -> None:
    """One unit each, then the first widget takes its second: 3 units, the stock."""
    await buy_one(widgets[0], 1)
    await buy_one(widgets[1], 1)
    await buy_one(widgets[0], LIMIT)


async def test_prompter_dashboard_and_widgets_agree(browser: Browser, tmp_path: Path) -> None:
    script = tmp_path / "three.toml"
    script.write_text(SHOW, encoding="utf-8")
    data = tmp_path / "node"
    data.mkdir()
    node = Node.start(data_dir=data, env={"LIVECON_SCRIPTS": f"{ROOM}={script}"})
    desk = await browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000})
    phones = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    errors: dict[str, list[str]] = {}
    try:
        base = f"{node.base}"
        prompter = await open_page(
            desk,
            f"{base}/prompter/{ROOM}?token={mint(ROOM, 'host', 'adou', name='阿豆')}",
            errors,
            "prompter",
        )
        dash = await open_page(
            desk,
            f"{base}/dashboard/{ROOM}?token={mint(ROOM, 'controller', 'mia', name='Mia')}",
            errors,
            "dashboard",
        )
        widgets = [
            await open_page(
                phones,
                f"{base}/widget/{ROOM}?token={mint(ROOM, 'viewer', user, name=name)}",
                errors,
                user,
            )
            for user, name in (("w1", "小王"), ("w2", "小李"))
        ]
        await expect(prompter.locator(".dot")).to_have_attribute(
            "data-status", "open", timeout=ms(10)
        )
        await expect(dash.locator(".conn")).to_have_attribute("data-state", "open", timeout=ms(10))
        for widget in widgets:
            await expect(widget.locator("#status")).to_be_hidden(timeout=ms(10))

        # a widget's comment on the dashboard
        await widgets[0].locator(".w-input").fill("牛肉干辣不辣？")
        await widgets[0].locator(".w-input").press("Enter")
        row = dash.locator(".chat-list .msg", has_text="牛肉干辣不辣？")
        await expect(row).to_be_visible(timeout=ms(5))
        await expect(row.locator(".who")).to_have_text("小王")

        # start and Next on the dashboard move the prompter; the sale starts by itself
        await dash.locator('button[data-command="start"]').click()
        await expect(prompter.locator(".title")).to_have_text("开场", timeout=ms(5))
        await dash.locator('button[data-command="next"]').click()
        await expect(prompter.locator(".title")).to_have_text("牛肉干秒杀", timeout=ms(5))
        sale = dash.locator("li.sale").first
        await expect(sale.locator(".sale-stock")).to_have_text(
            f"剩余 {STOCK} / {STOCK}", timeout=ms(5)
        )
        for widget in widgets:
            await expect(widget.locator(".w-buy-btn")).to_have_attribute(
                "data-action", "buy", timeout=ms(5)
            )

        # two widgets sell it out; every screen agrees
        await sell_out(widgets)
        await expect(sale.locator(".stock-bar")).to_have_attribute(
            "aria-valuenow", "0", timeout=ms(5)
        )
        await expect(sale.locator(".sold-out-badge")).to_be_visible()
        await expect(sale.locator(".sale-stock")).to_have_text(f"剩余 0 / {STOCK}")
        await expect(prompter.locator(".soldout")).to_be_visible(timeout=ms(5))
        await expect(prompter.locator(".soldout-title")).to_have_text("已售罄")
        for widget in widgets:
            await expect(widget.locator(".w-stock-text")).to_have_text("已抢光")

        # a cue from the dashboard's composer; the prompter acknowledges it
        await dash.get_by_label("提醒内容").fill("展示一下牛肉干的撕开效果")
        await dash.get_by_role("button", name="发送提醒").click()
        overlay = prompter.locator(".cue")
        cue_text = prompter.locator(".cue-text")
        ours = "展示一下牛肉干的撕开效果"
        sent = dash.locator(".cues li", has_text=ours)
        await expect(sent).to_contain_text("等待主播确认", timeout=ms(5))
        # automatic cues (urgency, sold out) may be queued before ours: acknowledge them
        for _ in range(10):
            if await overlay.is_visible() and await cue_text.text_content() == ours:
                break
            if await overlay.is_visible():
                await prompter.keyboard.press("Enter")
            await prompter.wait_for_timeout(ms(0.3))
        await expect(cue_text).to_have_text(ours, timeout=ms(5))
        await prompter.keyboard.press("Enter")
        await expect(sent).to_contain_text("阿豆 已确认", timeout=ms(5))
        for _ in range(10):  # acknowledge the automatic cues still queued (sold out, urgency)
            if not await overlay.is_visible():
                break
            await prompter.keyboard.press("Enter")
            await prompter.wait_for_timeout(ms(0.3))
        await expect(overlay).to_be_hidden(timeout=ms(5))

        for name, page in (("prompter", prompter), ("dashboard", dash)):
            await page.screenshot(path=str(artifact(f"three-{name}.png")))
        for index, widget in enumerate(widgets, 1):
            await widget.screenshot(path=str(artifact(f"three-widget-{index}.png")))

        # English on every screen
        await dash.locator(".lang-switch").click()
        await expect(dash.locator("#show-heading")).to_have_text("Run of show")
        await expect(dash.locator("#moderation-heading")).to_have_text("Moderation")
        # a later automatic cue (overtime, dead room) may cover the toolbar: click the switch itself
        await prompter.locator(".tb-lang").dispatch_event("click")
        await expect(prompter.locator(".soldout-title")).to_have_text("Sold out")
        for widget in widgets:
            await widget.locator(".w-lang").click()
            await expect(widget.locator("html")).to_have_attribute("lang", "en")
            await expect(widget.locator(".w-lang")).to_have_text("中文")
        await dash.screenshot(path=str(artifact("three-dashboard-en.png")))
        assert {name: found for name, found in errors.items() if found} == {}
    finally:
        await phones.close()
        await desk.close()
        node.stop()

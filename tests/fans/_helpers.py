"""A small show of the channel ``chuhe`` with a returning-fans sale and a new-fans lottery,
and the steps every fan test takes on a real node."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import ADMIN_KEY, Client, Node, mint, timeout

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def fan_script(
    channel: str = "chuhe", sale_fans: str = "returning", lottery_fans: str = "new"
) -> str:
    channel_line = f'channel = "{channel}"' if channel else ""
    return f"""[show]
title = "初禾老粉回馈夜 Fan night"
host = "小鹿"
starts_at = 2026-11-24T20:00:00+08:00
currency = "CNY"
{channel_line}

[[products]]
id = "serum"
name = "玻尿酸精华 30ml"
anchor_price = 29900
live_price = 15900
stock = 20
limit_per_buyer = 2

[[segments]]
kind = "opening"
duration_s = 60

[[segments]]
kind = "product"
product = "serum"
duration_s = 300

[segments.sale]
auto_start = false
duration_s = 300
price = 12900
fans = "{sale_fans}"

[[segments]]
kind = "lottery"
prize = "新粉福袋"
keyword = "新粉"
winners = 3
window_s = 60
duration_s = 120
fans = "{lottery_fans}"

[[segments]]
kind = "closing"
step = "thanks"
duration_s = 30
"""


def load(node: Node, room: str, source: str) -> None:
    response = httpx.put(
        f"{node.base}/api/rooms/{room}/script",
        content=source.encode(),
        headers=HEADERS,
        timeout=timeout(5),
    )
    assert response.status_code == 200, response.text


def is_fan_frame(frame: dict[str, Any]) -> bool:
    return frame.get("t") == "direct" and frame.get("kind") == "fan"


async def viewer(node: Node, room: str, user: str, name: str) -> tuple[Client, str]:
    """A viewer's socket and the tier the hub told them."""
    client = await Client.connect(node.ws_url(mint(room, "viewer", user, name=name)))
    frame = await client.receive_until(is_fan_frame, 10)
    return client, str(frame["tier"])

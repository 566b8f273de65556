"""Shared pieces of the flash-sale end-to-end tests.

- the hub settings these tests need (thousands of sockets from one address, a
  rate limit that lets a buyer retry) and :func:`started_nodes`;
- :func:`open_room` and :func:`start_sale`: a script loaded, a sale opened by a controller;
- :class:`Buy`, one buy frame's fields; :func:`wait_for_orders`; :func:`get_json`
  for the admin HTTP API.

Screens, scripts and the HTTP API come from :mod:`tests.e2e_show._helpers`.
Every wait is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.e2e_show._helpers import ADMIN_HEADERS, Screen, load, running_node, script_text
from tests.support import Node, timeout

ROOM: Final = "flash"
PRODUCT: Final = "tea"
LIMIT: Final = 2
"""The sample script's ``limit_per_buyer``."""

HUB_ENV: Final = {
    "LIVECON_HUB_SETTINGS": json.dumps(
        {"rate_per_s": {"viewer": 1000}, "burst": 1000, "max_connections_per_address": 100_000}
    )
}
"""Every test socket comes from 127.0.0.1, and a retrying buyer sends a burst."""


@contextlib.contextmanager
def started_nodes(tmp_path: Path, redis_url: str, count: int = 1) -> Iterator[list[Node]]:
    """``count`` nodes (:data:`HUB_ENV`) sharing ``redis_url`` (embedded: one, no URL)."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                running_node(tmp_path / f"n{index}", f"n{index}", redis_url, HUB_ENV)
            )
            for index in range(1, count + 1)
        ]


async def open_room(node: Node, controller: Screen, stock: int) -> None:
    """Load the sample script with ``stock`` units and wait until ``node`` has read it.

    The wait is needed: a sale started before the node's next housekeeping pass
    is refused (see ``test_a_sale_starts_right_after_the_script_is_loaded``).
    """
    await load(node, ROOM, script_text(stock=stock))
    await controller.wait(lambda: controller.state.get("timeline"), "the show's timeline")


async def start_sale(controller: Screen) -> str:
    """Start a sale of :data:`PRODUCT` from the controller's screen; return its id."""
    answer = await controller.request({"t": "sale", "command": "start", "product": PRODUCT})
    assert answer.get("t") == "ack", answer
    assert answer["status"] == "open", answer
    sale: str = answer["sale"]
    return sale


def sale_key(sale: str) -> str:
    return f"sale:{sale}"


@dataclass(frozen=True, slots=True)
class Buy:
    key: str
    quantity: int

    def frame(self, sale: str) -> dict[str, Any]:
        return {"t": "buy", "sale": sale, "qty": self.quantity, "key": self.key}


async def get_json(node: Node, path: str) -> tuple[int, dict[str, Any]]:
    """``GET path`` on ``node`` with the admin key: the status and the JSON body."""

    def fetch() -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(node.base + path, headers=ADMIN_HEADERS)
        try:
            with urllib.request.urlopen(request, timeout=timeout(10)) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    return await asyncio.to_thread(fetch)


async def wait_for_orders(dashboard: Screen, order_ids: set[str], seconds: float = 15) -> None:
    """Return once the dashboard has received an ``order`` event for every id."""

    def arrived() -> bool | None:
        seen = {str(event["id"]) for event in dashboard.events("order")}
        return True if order_ids <= seen else None

    await dashboard.wait(arrived, f"{len(order_ids)} order events", seconds)

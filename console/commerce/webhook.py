"""Orders out to the shop's backend: a signed webhook, at least once, in log order.

The sender walks each sale's durable order log from a stored cursor and POSTs
every order to the configured URL::

    POST <url>
    Content-Type: application/json
    X-Livecon-Event: order.created
    X-Livecon-Delivery: <order id>
    X-Livecon-Timestamp: <unix seconds>
    X-Livecon-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

    {"event": "order.created", "order": {...}}

The cursor moves only after a 2xx answer, so an order is delivered at least
once; the receiver drops duplicates by the order id (``X-Livecon-Delivery``).
Failures back off exponentially up to ``max_backoff_s``. With several nodes a
lease (one holder at a time) decides which node sends. Other events (the
viewers' ``reminder.due``, :mod:`console.reminders`) go out signed the same way
through :meth:`WebhookSender.post_event`.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Final

import httpx
import redis.asyncio as aioredis

from ..redis_client import redis_client
from ..sqlite import open_database
from .stock import Order, StockStore

__all__ = ["CursorStore", "RedisCursorStore", "SqliteCursorStore", "WebhookSender", "sign"]

log = logging.getLogger("livecon.webhook")

LEASE_S: Final = 15.0


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Livecon-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class CursorStore(abc.ABC):
    """How many orders of each sale were delivered, and who may send now."""

    @abc.abstractmethod
    async def cursor(self, sale_id: str) -> int: ...

    @abc.abstractmethod
    async def advance(self, sale_id: str, delivered: int) -> None: ...

    @abc.abstractmethod
    async def hold_lease(self, holder: str, seconds: float) -> bool:
        """Take or renew the sender lease; ``False`` while another holder has it."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class SqliteCursorStore(CursorStore):
    """Embedded: one process, so the lease is always this process's."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS webhook_cursor (sale TEXT PRIMARY KEY, delivered INTEGER)",
        )

    async def cursor(self, sale_id: str) -> int:
        row = self._db.execute(
            "SELECT delivered FROM webhook_cursor WHERE sale = ?", (sale_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    async def advance(self, sale_id: str, delivered: int) -> None:
        self._db.execute(
            "INSERT INTO webhook_cursor (sale, delivered) VALUES (?, ?)"
            " ON CONFLICT (sale) DO UPDATE SET delivered = MAX(delivered, excluded.delivered)",
            (sale_id, delivered),
        )

    async def hold_lease(self, holder: str, seconds: float) -> bool:
        return True

    async def close(self) -> None:
        self._db.close()


_RENEW: Final = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


_ADVANCE: Final = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


class RedisCursorStore(CursorStore):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._renew = self._redis.register_script(_RENEW)
        self._advance = self._redis.register_script(_ADVANCE)

    async def cursor(self, sale_id: str) -> int:
        value = await self._redis.hget("lc:webhook:cursor", sale_id)
        return int(value) if value else 0

    async def advance(self, sale_id: str, delivered: int) -> None:
        await self._advance(keys=["lc:webhook:cursor"], args=[sale_id, delivered])

    async def hold_lease(self, holder: str, seconds: float) -> bool:
        taken = await self._renew(keys=["lc:webhook:lease"], args=[holder, int(seconds * 1000)])
        return bool(taken)

    async def close(self) -> None:
        await self._redis.aclose()


class WebhookSender:
    """Delivers every order of every sale of every room; see the module docstring."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        stock: StockStore,
        cursors: CursorStore,
        rooms: list[str] | None = None,
        max_backoff_s: float = 60.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.secret = secret
        self.stock = stock
        self.cursors = cursors
        self.max_backoff_s = max_backoff_s
        self.holder = secrets.token_hex(6)
        self.delivered = 0
        self.failures = 0
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def run(self) -> None:
        """Deliver forever; cancel to stop."""
        backoff = 0.5
        while True:
            try:
                sent = await self.deliver_once()
                backoff = 0.5
                if not sent:
                    await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("webhook delivery failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def deliver_once(self) -> int:
        """Send what is pending once, if this node holds the lease; return how many were sent."""
        if not await self.cursors.hold_lease(self.holder, LEASE_S):
            return 0
        sent = 0
        for room in await self.stock.rooms():
            for sale in await self.stock.sales(room):
                cursor = await self.cursors.cursor(sale.id)
                for order in await self.stock.orders(sale.id, cursor, 200):
                    if not await self.cursors.hold_lease(self.holder, LEASE_S):
                        return sent  # another node took over mid-batch
                    await self._post(order)
                    cursor += 1
                    await self.cursors.advance(sale.id, cursor)
                    sent += 1
        self.delivered += sent
        return sent

    async def _post(self, order: Order) -> None:
        await self.post_event(
            "order.created", order.id, {"event": "order.created", "order": order.to_dict()}
        )

    async def post_event(self, event: str, delivery: str, payload: dict[str, Any]) -> None:
        """POST one signed event (headers as in the module docstring); raise unless 2xx."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        response = await self._client.post(
            self.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Livecon-Event": event,
                "X-Livecon-Delivery": delivery,
                "X-Livecon-Timestamp": str(timestamp),
                "X-Livecon-Signature": sign(self.secret, timestamp, body),
            },
        )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{self.url} answered {response.status_code} for {delivery}")

    async def close(self) -> None:
        await self._client.aclose()

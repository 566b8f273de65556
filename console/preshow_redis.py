"""The pre-show store on Redis, shared by every node (see :mod:`console.preshow_store`)."""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from .preshow_store import PreshowStore, Reminder, Tick
from .redis_client import redis_client

__all__ = ["RedisPreshowStore"]

ROOMS_KEY: Final = "lc:reminder:rooms"
SENT_KEY: Final = "lc:reminder:sent"

# KEYS[1] the room's reminder hash, KEYS[2] the rooms set. ARGV: room, viewer, new JSON,
# JSON of the same reminder keeping the first created_at (written when one exists).
_ADD: Final = """
local first = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if first then
  local kept = cjson.decode(first)
  local new = cjson.decode(ARGV[3])
  new['created_at'] = kept['created_at']
  redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(new))
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
"""


def _ticks_key(room: str) -> str:
    return f"lc:{{{room}}}:checklist"


def _reminders_key(room: str) -> str:
    return f"lc:{{{room}}}:reminders"


class RedisPreshowStore(PreshowStore):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._add = self._redis.register_script(_ADD)

    async def ticks(self, room: str) -> dict[str, Tick]:
        data = await self._redis.hgetall(_ticks_key(room))
        return {str(item): Tick.from_json(str(value)) for item, value in data.items()}

    async def set_tick(self, room: str, tick: Tick) -> None:
        await self._redis.hset(_ticks_key(room), tick.item, tick.to_json())

    async def add_reminder(self, reminder: Reminder) -> bool:
        args = [reminder.room, reminder.viewer, reminder.to_json()]
        added = await self._add(keys=[_reminders_key(reminder.room), ROOMS_KEY], args=args)
        return bool(added)

    async def reminders(self, room: str) -> list[Reminder]:
        data = await self._redis.hgetall(_reminders_key(room))
        found = [Reminder.from_json(str(value)) for value in data.values()]
        return sorted(found, key=lambda r: (r.created_at, r.viewer))

    async def reminder_rooms(self) -> list[str]:
        return sorted(str(room) for room in await self._redis.smembers(ROOMS_KEY))

    async def mark_sent(self, delivery: str) -> None:
        await self._redis.sadd(SENT_KEY, delivery)

    async def was_sent(self, delivery: str) -> bool:
        return bool(await self._redis.sismember(SENT_KEY, delivery))

    async def close(self) -> None:
        await self._redis.aclose()

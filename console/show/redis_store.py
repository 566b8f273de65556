"""The show store on Redis: one hash per room, changed by a compare-and-set script."""

from __future__ import annotations

import json
from typing import Final

import redis.asyncio as aioredis

from ..redis_client import redis_client
from .engine import ShowState, state_from_dict, state_to_dict
from .store import ShowStore, StoredShow

__all__ = ["RedisShowStore"]

# KEYS[1] the room's show hash. ARGV: expected version ('' = no script yet),
# new version, new state, then optionally file and script to replace.
CAS_SCRIPT: Final = """
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
if ARGV[4] then
  redis.call('HSET', KEYS[1], 'file', ARGV[4], 'script', ARGV[5])
end
return 1
"""


def _key(room: str) -> str:
    return f"lc:{{{room}}}:show"


class RedisShowStore(ShowStore):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._cas = self._redis.register_script(CAS_SCRIPT)

    async def load(self, room: str) -> StoredShow | None:
        data = await self._redis.hgetall(_key(room))
        if not data or "script" not in data:
            return None
        state = state_from_dict(json.loads(data["state"]))
        return StoredShow(str(data["file"]), str(data["script"]), state)

    async def replace_script(
        self, room: str, file: str, script: str, state: ShowState, expected_version: int | None
    ) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        encoded = json.dumps(state_to_dict(state))
        args = [expected, str(state.version), encoded, file, script]
        return bool(await self._cas(keys=[_key(room)], args=args))

    async def compare_and_set(self, room: str, expected_version: int, state: ShowState) -> bool:
        encoded = json.dumps(state_to_dict(state))
        args = [str(expected_version), str(state.version), encoded]
        return bool(await self._cas(keys=[_key(room)], args=args))

    async def close(self) -> None:
        await self._redis.aclose()

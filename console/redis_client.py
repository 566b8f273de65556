"""The Redis client every store of the show side uses.

A blocking pool (a burst of thousands of buys waits for a connection instead
of failing with "too many connections") and retries on connection errors
only: every script that changes state returns its stored answer when replayed
(a buy by its request id, a restock by its operation id), so replaying after a
lost reply is safe, and a connection left stale by a Redis restart reconnects.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["redis_client"]

MAX_CONNECTIONS: Final = 256
POOL_TIMEOUT_S: Final = 5.0


def redis_client(url: str) -> aioredis.Redis:
    """A client with decoded responses, a blocking pool and connection-error retries."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_TIMEOUT_S,
        decode_responses=True,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it

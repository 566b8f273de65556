from __future__ import annotations

from collections.abc import Iterator

import pytest

from realtime.brokers.memory import MemoryBroker
from tests.support import RedisProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A private redis-server on a free port for the whole session."""
    server = RedisProcess.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """A clean database on the private server."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(autouse=True)
def _fresh_memory_bus() -> Iterator[None]:
    MemoryBroker.forget_all()
    yield
    MemoryBroker.forget_all()

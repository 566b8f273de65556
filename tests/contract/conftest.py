"""The ``make_broker`` fixture: every contract test runs on ``memory://`` and ``redis://``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.contract._nodes import NodeFactory


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def bus_url(request: pytest.FixtureRequest) -> str:
    """A bus of its own for this test: a fresh memory bus name or a flushed Redis."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"memory://contract-{secrets.token_hex(6)}"


@pytest.fixture
async def make_broker(bus_url: str) -> AsyncIterator[NodeFactory]:
    """``await make_broker(count, history_size)`` gives ``count`` connected nodes on one bus."""
    factory = NodeFactory(bus_url)
    yield factory
    await factory.disconnect_all()

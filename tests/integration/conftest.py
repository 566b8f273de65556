from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration._helpers import Clients


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Websocket clients that are closed after the test, whether it passed or not."""
    async with Clients() as opened:
        yield opened

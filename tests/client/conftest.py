from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.client.fakes import FakeCluster


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    """One fake leader master and four fake file nodes on loopback."""
    c = FakeCluster()
    await c.start()
    try:
        yield c
    finally:
        await c.stop()

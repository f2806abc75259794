"""SyncClient: the same calls, blocking, on a private event loop thread."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import pytest

from fahadfs import errors
from fahadfs.client import SyncClient
from tests.client.fakes import FakeCluster


@pytest.fixture
def served_cluster() -> FakeCluster:
    """Fakes served from their own loop thread, so the test body can block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    c = FakeCluster()
    asyncio.run_coroutine_threadsafe(c.start(), loop).result()
    yield c
    asyncio.run_coroutine_threadsafe(c.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def test_sync_client_round_trip(served_cluster: FakeCluster, tmp_path: Path) -> None:
    local = tmp_path / "in"
    local.write_bytes(b"x" * 3_000_000)
    with SyncClient(served_cluster.config(), deadline=5) as c:
        c.mkdir("/d")
        res = c.put(local, "/d/f")
        assert res.size == 3_000_000 and res.chunks == 3
        assert c.stat("/d/f")["size"] == 3_000_000
        assert c.read_bytes("/d/f") == local.read_bytes()
        c.get("/d/f", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == local.read_bytes()
        c.put(io.BytesIO(b"abc"), "/d/g")
        assert c.read_bytes("/d/g") == b"abc"
        assert c.exists("/d") and not c.exists("/nope")
        with pytest.raises(errors.NotFound):
            c.rm("/nope")
        assert c.leader == served_cluster.leader.address
    c.close()  # idempotent

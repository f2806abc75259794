"""The scrubber finds rotten copies, quarantines and reports them, at the configured rate."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import structlog

from fahadfs.storage.chunkstore import ChunkInfo, ChunkStore, DiskChunkStore, MemoryChunkStore
from fahadfs.storage.scrubber import Scrubber

from .conftest import StartNode, make_config


async def stored(store: ChunkStore, chunk_id: int, data: bytes) -> ChunkInfo:
    async with await store.open_writer(chunk_id, len(data)) as w:
        await w.write(data)
        return await w.finish(None, 1)


class Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    async def __call__(self, info: ChunkInfo, reason: str) -> bool:
        self.calls.append((info.id, reason))
        return True


def scrubber(store: ChunkStore, report: Reports, **kwargs: Any) -> Scrubber:
    kwargs.setdefault("rate", 0)
    return Scrubber(store, interval=3600, report=report, log=structlog.get_logger(), **kwargs)


async def test_scrub_finds_a_flipped_bit_on_disk_quarantines_and_reports_it(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path, 1 << 30)
    for cid in (1, 2, 3):
        await stored(store, cid, os.urandom(100_000))
    path = store.path_of(2)
    raw = bytearray(path.read_bytes())
    raw[54_321] ^= 0x10
    path.write_bytes(bytes(raw))
    reports = Reports()

    stats = await scrubber(store, reports).run_once()

    assert stats == {"checked": 3, "bytes": 300_000, "bad": 1, "gone": 0, "errors": 0}
    assert reports.calls == [(2, "scrub")]
    assert [i.id for i in store.list()] == [1, 3]
    assert len(list(store.quarantine_dir.iterdir())) == 1
    await store.close()


async def test_one_failing_chunk_does_not_stop_the_pass() -> None:
    class Flaky(MemoryChunkStore):
        async def verify(self, chunk_id: int) -> bool:
            if chunk_id == 1:
                raise RuntimeError("disk hiccup")
            return await super().verify(chunk_id)

    store = Flaky()
    for cid in (1, 2):
        await stored(store, cid, b"data")
    stats = await scrubber(store, Reports()).run_once()
    assert stats["errors"] == 1 and stats["checked"] == 1


async def test_scrub_keeps_to_its_byte_rate() -> None:
    store = MemoryChunkStore()
    for cid in range(4):
        await stored(store, cid, b"x" * 1000)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    s = scrubber(store, Reports(), rate=2000, sleep=sleep, clock=lambda: 0.0)
    await s.run_once()
    assert slept == [0.5, 1.0, 1.5, 2.0]  # 4000 bytes at 2000 B/s with no time passing


async def test_node_scrubber_reports_bad_chunks_to_the_master(
    start_node: StartNode, fake_masters: Any
) -> None:
    (master,) = await fake_masters(1)
    store = MemoryChunkStore()
    await stored(store, 0x1F, b"bits that will rot")
    n1 = await start_node("n1", store, config=make_config([master.port]))
    store.flip_bit(0x1F, 3)
    stats = await n1.node.scrubber.run_once()
    assert stats["bad"] == 1
    for _ in range(100):
        if master.bad:
            break
        await asyncio.sleep(0.01)
    assert [b for b, _ in master.bad] == [
        {"chunk": "000000000000001f", "node": "n1", "reason": "scrub"}
    ]
    assert 0x1F in store.quarantined
    text = n1.node.metrics.render().decode()
    assert 'fahadfs_node_checksum_failures_total{source="scrub"} 1.0' in text

"""Heartbeats and chunk reports to the masters, and bad-chunk reports."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

from fahadfs import auth
from fahadfs.storage.chunkstore import MemoryChunkStore
from fahadfs.storage.heartbeat import Heartbeat, report_bad

from .conftest import SECRET, StartNode, free_port, make_config, now_ms


async def stored(store: MemoryChunkStore, chunk_id: int, data: bytes, generation: int) -> None:
    async with await store.open_writer(chunk_id, len(data)) as w:
        await w.write(data)
        await w.finish(None, generation)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def heartbeat(
    store: MemoryChunkStore, master_url: str, session: aiohttp.ClientSession, clock: Clock
) -> Heartbeat:
    return Heartbeat(
        node_id="n1",
        address="127.0.0.1:7301",
        master_url=master_url,
        store=store,
        session=session,
        secret=SECRET,
        interval=0.5,
        report_every=30.0,
        inflight=lambda: 2,
        log=structlog.get_logger(),
        clock=clock,
    )


async def test_first_heartbeat_carries_a_chunk_report_then_every_report_interval(
    fake_masters: Any, http: aiohttp.ClientSession
) -> None:
    (master,) = await fake_masters(1)
    store = MemoryChunkStore(capacity=1000)
    await stored(store, 0xAB, b"12345", generation=3)
    clock = Clock()
    hb = heartbeat(store, master.url, http, clock)

    assert await hb.run_once() == {"ok": True, "report": True}
    clock.now += 0.5
    assert await hb.run_once() == {"ok": True, "report": False}
    clock.now += 30.0
    assert await hb.run_once() == {"ok": True, "report": True}

    bodies = [b for b, _ in master.heartbeats]
    assert bodies[0] == {
        "node": "n1",
        "address": "127.0.0.1:7301",
        "capacity": 1000,
        "used": 5,
        "free": 995,
        "inflight": 2,
        "chunks": [["00000000000000ab", 3]],
    }
    assert "chunks" not in bodies[1] and bodies[2]["chunks"] == [["00000000000000ab", 3]]
    scheme, token = master.heartbeats[0][1].split(" ")
    assert scheme == "Fahadfs"
    assert auth.verify(SECRET, "node", token, int(clock.now * 1000))["node"] == "n1"


async def test_unreachable_master_does_not_raise_and_report_is_retried(
    fake_masters: Any, http: aiohttp.ClientSession
) -> None:
    store = MemoryChunkStore()
    clock = Clock()
    hb = heartbeat(store, f"http://127.0.0.1:{free_port()}", http, clock)
    assert await hb.run_once() == {"ok": False}
    assert hb.reachable is False and hb.last_report is None  # the report is still owed


async def test_node_app_heartbeats_every_master_with_a_report(
    start_node: StartNode, fake_masters: Any
) -> None:
    masters = await fake_masters(2)
    cfg = make_config([m.port for m in masters], heartbeat="50ms", dead_node="1s")
    store = MemoryChunkStore()
    await stored(store, 7, b"x", generation=1)
    await start_node("n1", store, config=cfg, background=True)
    for _ in range(500):
        if all(len(m.heartbeats) >= 2 for m in masters):
            break
        await asyncio.sleep(0.01)
    for m in masters:
        assert len(m.heartbeats) >= 2
        assert m.heartbeats[0][0]["chunks"] == [["0000000000000007", 1]]
        assert "chunks" not in m.heartbeats[1][0]


async def test_report_bad_tries_masters_in_order_until_one_accepts(
    fake_masters: Any, http: aiohttp.ClientSession
) -> None:
    (master,) = await fake_masters(1)
    dead = f"http://127.0.0.1:{free_port()}"
    ok = await report_bad(
        http,
        [dead, master.url],
        secret=SECRET,
        node_id="n1",
        chunk_hex="00000000000000ff",
        reason="scrub",
        log=structlog.get_logger(),
    )
    assert ok is True
    assert [b for b, _ in master.bad] == [
        {"chunk": "00000000000000ff", "node": "n1", "reason": "scrub"}
    ]
    token = master.bad[0][1].removeprefix("Fahadfs ")
    assert auth.verify(SECRET, "node", token, now_ms()) ["node"] == "n1"  # fmt: skip
    nobody = await report_bad(
        http, [dead], secret=SECRET, node_id="n1", chunk_hex="00000000000000ff",
        reason="scrub", log=structlog.get_logger(),
    )  # fmt: skip
    assert nobody is False

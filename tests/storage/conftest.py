"""Shared fixtures: a cluster config, real file node apps on 127.0.0.1 ports, token helpers."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fahadfs import auth, config
from fahadfs.config import Config
from fahadfs.storage.chunkstore import ChunkStore, MemoryChunkStore
from fahadfs.storage.server import NODE, Node, make_app

SECRET = "test-secret-1234"


def make_config(masters: list[int] | None = None, **timeouts: Any) -> Config:
    """A config whose masters listen on ``masters`` ports (default: one nobody listens on)."""
    ports = masters or [free_port()]
    raw: dict[str, Any] = {
        "cluster": {"secret": SECRET, "replication": 3},
        "master": [
            {"id": f"m{i + 1}", "host": "127.0.0.1", "raft_port": free_port(), "http_port": p}
            for i, p in enumerate(ports)
        ],
    }
    if timeouts:
        raw["timeouts"] = timeouts
    return config.from_dict(raw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_ms() -> int:
    return int(time.time() * 1000)


def write_token(chunk: int | str, max_bytes: int, ttl_ms: int = 60_000, **extra: Any) -> str:
    return auth.sign(SECRET, "write", {"chunk": chunk, "max": max_bytes, **extra}, now_ms(), ttl_ms)


def admin_token(op: str, chunk: int | str | None = None, ttl_ms: int = 60_000) -> str:
    payload: dict[str, Any] = {"op": op}
    if chunk is not None:
        payload["chunk"] = chunk
    return auth.sign(SECRET, "admin", payload, now_ms(), ttl_ms)


@dataclass
class RunningNode:
    id: str
    address: str
    store: ChunkStore
    app: web.Application
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def node(self) -> Node:
        return self.app[NODE]


StartNode = Callable[..., Awaitable[RunningNode]]


@pytest.fixture
def cfg() -> Config:
    return make_config()


@pytest.fixture
async def start_node(cfg: Config) -> AsyncIterator[StartNode]:
    """Start file node apps on real loopback ports; all are stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(
        node_id: str = "n1",
        store: ChunkStore | None = None,
        *,
        config: Config | None = None,
        **kwargs: Any,
    ) -> RunningNode:
        store = store if store is not None else MemoryChunkStore()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        kwargs.setdefault("background", False)
        app = make_app(node_id, config or cfg, store, address=address, **kwargs)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.SockSite(runner, sock).start()
        return RunningNode(node_id, address, store, app, runner)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class FakeMaster:
    """A master stand-in that records what nodes post to it."""

    url: str
    port: int
    heartbeats: list[tuple[dict[str, Any], str]]
    bad: list[tuple[dict[str, Any], str]]


@pytest.fixture
async def fake_masters() -> AsyncIterator[Callable[[int], Awaitable[list[FakeMaster]]]]:
    runners: list[web.AppRunner] = []

    async def start(count: int = 1) -> list[FakeMaster]:
        import cbor2

        out = []
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            master = FakeMaster(f"http://127.0.0.1:{port}", port, [], [])

            async def heartbeat(request: web.Request, m: FakeMaster = master) -> web.Response:
                m.heartbeats.append(
                    (cbor2.loads(await request.read()), request.headers["Authorization"])
                )
                return web.Response(
                    body=cbor2.dumps({"index": 0, "leader": "m1"}), content_type="application/cbor"
                )

            async def report_bad(request: web.Request, m: FakeMaster = master) -> web.Response:
                m.bad.append((cbor2.loads(await request.read()), request.headers["Authorization"]))
                return web.Response(body=cbor2.dumps({}), content_type="application/cbor")

            app = web.Application()
            app.router.add_post("/v1/node/heartbeat", heartbeat)
            app.router.add_post("/v1/report_bad", report_bad)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
            out.append(master)
        return out

    yield start
    for runner in runners:
        await runner.cleanup()

"""What the file node's handlers share: the ``Node`` context (``app[NODE]``) and the wire
helpers (CBOR/JSON replies, headers, admin tokens). Private to fahadfs.storage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import cbor2
from aiohttp import web

from fahadfs import auth
from fahadfs.config import Config
from fahadfs.errors import FahadfsError, Forbidden, InvalidArgument
from fahadfs.storage import pipeline as pl
from fahadfs.storage.chunkstore import ChunkInfo, ChunkStore, format_chunk_id, parse_chunk_id
from fahadfs.storage.heartbeat import master_urls, report_bad
from fahadfs.storage.metrics import NodeMetrics
from fahadfs.storage.scrubber import Scrubber


class Node:
    """Everything the handlers of one file node share (``app[NODE]``)."""

    def __init__(
        self,
        node_id: str,
        config: Config,
        store: ChunkStore,
        *,
        address: str,
        log: Any,
        clock: Callable[[], float],
        ack_before_store: bool,
    ) -> None:
        self.id = node_id
        self.config = config
        self.store = store
        self.address = address
        self.log = log
        self.clock = clock
        self.ack_before_store = ack_before_store
        self.inflight = 0
        self.started = time.monotonic()
        self.metrics = NodeMetrics(store, lambda: self.inflight)
        self.session: aiohttp.ClientSession | None = None
        self.masters = master_urls(config)
        self.timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=min(5.0, config.timeouts.request),
            sock_read=config.timeouts.request,
        )
        self.scrubber = Scrubber(
            store,
            rate=config.scrub.rate,
            interval=config.scrub.interval,
            report=self.report_bad,
            log=log,
            metrics=self.metrics,
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @contextmanager
    def transfer(self) -> Iterator[None]:
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1

    def client(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise FahadfsError("file node is not started")
        return self.session

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def report_bad(self, info: ChunkInfo, reason: str) -> bool:
        return await report_bad(
            self.client(),
            self.masters,
            secret=self.config.secret,
            node_id=self.id,
            chunk_hex=info.hex,
            reason=reason,
            log=self.log,
            clock=self.clock,
        )

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "used": self.store.used(),
            "free": self.store.free(),
            "capacity": self.store.capacity,
            "reserved": self.store.reserved(),
            "chunks": self.store.count(),
            "inflight": self.inflight,
            "uptime": round(time.monotonic() - self.started, 3),
        }


NODE = web.AppKey("fahadfs_node", Node)


def wants_cbor(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if accept is not None:
        return pl.CBOR in accept
    return request.headers.get("Content-Type", "").startswith(pl.CBOR)


def reply(request: web.Request, body: Any, status: int = 200) -> web.Response:
    """CBOR if the caller accepts it (or sent CBOR without an Accept), else JSON."""
    if wants_cbor(request):
        return web.Response(body=cbor2.dumps(body), status=status, content_type=pl.CBOR)
    return web.json_response(body, status=status)


async def read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = cbor2.loads(raw) if request.content_type == pl.CBOR else json.loads(raw or b"{}")
    except (ValueError, cbor2.CBORDecodeError):
        raise InvalidArgument("request body is not valid CBOR or JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a map")
    return body


def int_header(request: web.Request, name: str, bits: int) -> int | None:
    text = request.headers.get(name)
    if text is None:
        return None
    if not text.isdigit() or int(text) >= 1 << bits:
        raise InvalidArgument(f"{name} must be a decimal integer below 2^{bits}, got {text!r}")
    return int(text)


def same_chunk(value: object, chunk_id: int) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value == chunk_id
    return value == format_chunk_id(chunk_id)


def chunk_arg(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    return parse_chunk_id(value)  # type: ignore[arg-type]


def check_admin(node: Node, request: web.Request, op: str, chunk_id: int | None = None) -> None:
    """Check an admin token (``{"op", "chunk"?}``) for this operation and chunk."""
    grant = auth.verify(
        node.config.secret, "admin", request.headers.get(pl.TOKEN_HEADER), node.now_ms()
    )
    if grant.get("op") != op:
        raise Forbidden(f"admin token is for {grant.get('op')!r}, not {op!r}")
    if chunk_id is not None and not same_chunk(grant.get("chunk"), chunk_id):
        raise Forbidden(f"admin token is not for chunk {format_chunk_id(chunk_id)}")


def chunk_headers(info: ChunkInfo) -> dict[str, str]:
    return {
        pl.CHECKSUM_HEADER: str(info.checksum),
        pl.GENERATION_HEADER: str(info.generation),
        pl.SIZE_HEADER: str(info.size),
    }

"""The file node's HTTP API (docs/API.md, "File node"): chunk PUT with chain replication, GET
with sendfile, HEAD, DELETE, replicate, list, /status and /metrics.

PUT reads the body once: each piece is staged into the local chunk writer and passed on to the
next node of the pipeline within the same request (``pipeline.send_chunk`` with the body as an
async generator). At the end of the body this node makes its copy durable (``prepare``) while
the downstream nodes do the same; the copy becomes visible (``commit``) only once every node
below has acknowledged, and the acks of the whole chain are returned. If anything below fails,
the local temp file is dropped and the answer is 502 naming the failed node.

``FAHADFS_TEST_ACK_BEFORE_STORE=1`` (TESTS ONLY, never in production) makes PUT acknowledge a
chunk it holds only in memory and store it about a second later, without the usual guarantees:
the chaos harness uses it to prove that its checkers catch a node that loses acked writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import contextmanager
from typing import Any

import aiohttp
import cbor2
import structlog
from aiohttp import web

from fahadfs import auth, checksum, periodic
from fahadfs.config import Config
from fahadfs.errors import FahadfsError, Forbidden, IntegrityError, InvalidArgument
from fahadfs.storage import pipeline as pl
from fahadfs.storage.chunkstore import (
    ChunkHandle,
    ChunkInfo,
    ChunkStore,
    ChunkWriter,
    format_chunk_id,
    parse_chunk_id,
)
from fahadfs.storage.heartbeat import Heartbeat, master_urls, report_bad
from fahadfs.storage.metrics import NodeMetrics
from fahadfs.storage.scrubber import Scrubber

SMALL_CHUNK = 256 << 10  # served from a plain read; larger ones with sendfile
READ_BUFSIZE = 1 << 20  # server read buffer: 64 KiB (the default) -> 1 MiB raised PUT throughput
ACK_BEFORE_STORE_ENV = "FAHADFS_TEST_ACK_BEFORE_STORE"
ACK_BEFORE_STORE_DELAY = 1.0


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
    def transfer(self) -> Any:
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


# ----- wire helpers -------------------------------------------------------------------------


def _wants_cbor(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if accept is not None:
        return pl.CBOR in accept
    return request.headers.get("Content-Type", "").startswith(pl.CBOR)


def reply(request: web.Request, body: Any, status: int = 200) -> web.Response:
    """CBOR if the caller accepts it (or sent CBOR without an Accept), else JSON."""
    if _wants_cbor(request):
        return web.Response(body=cbor2.dumps(body), status=status, content_type=pl.CBOR)
    return web.json_response(body, status=status)


async def _read_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = cbor2.loads(raw) if request.content_type == pl.CBOR else json.loads(raw or b"{}")
    except (ValueError, cbor2.CBORDecodeError):
        raise InvalidArgument("request body is not valid CBOR or JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a map")
    return body


def _int_header(request: web.Request, name: str, bits: int) -> int | None:
    text = request.headers.get(name)
    if text is None:
        return None
    if not text.isdigit() or int(text) >= 1 << bits:
        raise InvalidArgument(f"{name} must be a decimal integer below 2^{bits}, got {text!r}")
    return int(text)


def _same_chunk(value: object, chunk_id: int) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value == chunk_id
    return value == format_chunk_id(chunk_id)


def _chunk_arg(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    return parse_chunk_id(value)  # type: ignore[arg-type]


def _admin(node: Node, request: web.Request, op: str, chunk_id: int | None = None) -> None:
    """Check an admin token (``{"op", "chunk"?}``) for this operation and chunk."""
    grant = auth.verify(
        node.config.secret, "admin", request.headers.get(pl.TOKEN_HEADER), node.now_ms()
    )
    if grant.get("op") != op:
        raise Forbidden(f"admin token is for {grant.get('op')!r}, not {op!r}")
    if chunk_id is not None and not _same_chunk(grant.get("chunk"), chunk_id):
        raise Forbidden(f"admin token is not for chunk {format_chunk_id(chunk_id)}")


def _chunk_headers(info: ChunkInfo) -> dict[str, str]:
    return {
        pl.CHECKSUM_HEADER: str(info.checksum),
        pl.GENERATION_HEADER: str(info.generation),
        pl.SIZE_HEADER: str(info.size),
    }


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """FahadfsError -> ``{code, message, node, ...}`` with its status; anything else -> 500."""
    node = request.app[NODE]
    op = request.match_info.route.name
    started = time.perf_counter()
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except FahadfsError as err:
        status = err.status
        return reply(request, {**err.to_wire(), "node": node.id}, status)
    except web.HTTPException as exc:
        status = exc.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        node.log.exception("request.failed", method=request.method, path=request.path)
        body = {"code": "EIO", "message": f"internal error: {type(exc).__name__}", "node": node.id}
        return reply(request, body, 500)
    finally:
        if op is not None:
            node.metrics.observe(op, status, time.perf_counter() - started)


# ----- PUT ----------------------------------------------------------------------------------


class _Feed:
    """The request body, read once: each piece goes into the local writer, then downstream.

    At the end of the body the local copy starts becoming durable (``prepared``) while the
    downstream nodes still work. A local failure is kept in ``error`` so that it wins over
    the downstream failure it causes.
    """

    def __init__(
        self,
        request: web.Request,
        writer: ChunkWriter,
        limit: int,
        expected: int | None,
        generation: int,
    ) -> None:
        self._request = request
        self._writer = writer
        self._limit = limit
        self.expected = expected
        self.generation = generation
        self.received = 0
        self.error: BaseException | None = None
        self.prepared: asyncio.Task[ChunkInfo] | None = None

    async def pieces(self) -> AsyncIterator[bytes]:
        length = self._request.content_length
        try:
            async for piece in self._request.content.iter_any():
                self.received += len(piece)
                if self.received > self._limit:
                    raise InvalidArgument(
                        f"body exceeds the write token's max of {self._limit} bytes"
                    )
                await self._writer.write(piece)
                yield piece
            if length is not None and self.received != length:
                raise InvalidArgument(f"body ended after {self.received} of {length} bytes")
        except Exception as exc:
            self.error = exc
            raise
        self.prepared = asyncio.create_task(self._writer.prepare(self.expected, self.generation))

    async def local(self) -> ChunkInfo:
        """The prepared local copy, or the local error that stopped it."""
        if self.error is not None:
            raise self.error
        if self.prepared is None:
            raise FahadfsError("chunk body was not read to its end")
        return await self.prepared


def _grant(node: Node, request: web.Request, chunk_id: int) -> tuple[int, int | None]:
    """Check the write token; return (max bytes, generation it names or None)."""
    grant = auth.verify(
        node.config.secret, "write", request.headers.get(pl.TOKEN_HEADER), node.now_ms()
    )
    if not _same_chunk(grant.get("chunk"), chunk_id):
        raise Forbidden(f"write token is not for chunk {format_chunk_id(chunk_id)}")
    limit, gen = grant.get("max"), grant.get("gen")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise Forbidden("write token carries no valid max")
    return limit, gen if isinstance(gen, int) and not isinstance(gen, bool) else None


async def put_chunk(request: web.Request) -> web.Response:
    node = request.app[NODE]
    chunk_id = parse_chunk_id(request.match_info["id"])
    limit, token_gen = _grant(node, request, chunk_id)
    length = request.content_length
    if length is not None and length > limit:
        raise InvalidArgument(f"body of {length} bytes exceeds the write token's max of {limit}")
    expected = _int_header(request, pl.CHECKSUM_HEADER, 32)
    header_gen = _int_header(request, pl.GENERATION_HEADER, 32)
    generation = token_gen if token_gen is not None else header_gen or 0
    downstream = pl.parse_pipeline(request.headers.get(pl.PIPELINE_HEADER))
    with node.transfer():
        if node.ack_before_store:
            acks = await _put_ack_first(node, request, chunk_id, limit, generation, downstream)
            return reply(request, {"acks": acks})
        writer = await node.store.open_writer(chunk_id, length)
        try:
            feed = _Feed(request, writer, limit, expected, generation)
            acks = await _store_and_forward(node, request, feed, chunk_id, downstream)
            info = await writer.commit()
        except IntegrityError:
            node.metrics.checksum_failures.labels("put").inc()
            raise
        finally:
            await writer.abort()  # no-op once committed
    node.metrics.bytes_received.inc(info.size)
    own = {"node": node.id, "checksum": info.checksum, "size": info.size}
    return reply(request, {"acks": [own, *acks]})


async def _store_and_forward(
    node: Node, request: web.Request, feed: _Feed, chunk_id: int, downstream: list[str]
) -> list[dict[str, Any]]:
    """Read the body into the local writer (and down the pipeline); return downstream acks."""
    if not downstream:
        async for _ in feed.pieces():
            pass
        await feed.local()
        return []
    send = pl.send_chunk(
        node.client(),
        chunk_id,
        downstream,
        feed.pieces(),
        token=request.headers[pl.TOKEN_HEADER],
        checksum=feed.expected,
        generation=feed.generation,
        length=request.content_length,
        timeout=node.timeout,
    )
    try:
        acks = await send
    except Exception:
        if feed.error is not None or feed.prepared is not None:
            await feed.local()  # a local failure explains this one better
        raise
    await feed.local()
    node.metrics.bytes_sent.labels("forward").inc(feed.received)
    return acks


async def _put_ack_first(
    node: Node,
    request: web.Request,
    chunk_id: int,
    limit: int,
    generation: int,
    downstream: list[str],
) -> list[dict[str, Any]]:
    """TEST-ONLY broken PUT: ack from memory, store a second later (see module docstring)."""
    data = bytearray()
    async for piece in request.content.iter_any():
        data += piece
        if len(data) > limit:
            raise InvalidArgument(f"body exceeds the write token's max of {limit} bytes")
    body = bytes(data)
    acks: list[dict[str, Any]] = []
    if downstream:
        acks = await pl.send_chunk(
            node.client(),
            chunk_id,
            downstream,
            body,
            token=request.headers[pl.TOKEN_HEADER],
            checksum=_int_header(request, pl.CHECKSUM_HEADER, 32),
            generation=generation,
            length=len(body),
            timeout=node.timeout,
        )
    node.spawn(_store_later(node, chunk_id, body, generation))
    return [{"node": node.id, "checksum": checksum.of(body), "size": len(body)}, *acks]


async def _store_later(node: Node, chunk_id: int, body: bytes, generation: int) -> None:
    await asyncio.sleep(ACK_BEFORE_STORE_DELAY)
    try:
        async with await node.store.open_writer(chunk_id, len(body)) as writer:
            await writer.write(body)
            await writer.finish(None, generation)
    except Exception:
        node.log.exception("chunk.late_store_failed", chunk=format_chunk_id(chunk_id))


# ----- GET, HEAD, DELETE, list ---------------------------------------------------------------


class ChunkFileResponse(web.StreamResponse):
    """Streams an opened chunk file with sendfile (the data is at ``[0, size)`` of the file)."""

    def __init__(self, handle: ChunkHandle, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.content_type = "application/octet-stream"
        self.content_length = handle.info.size
        self._handle = handle

    async def prepare(self, request: web.BaseRequest) -> Any:
        try:
            writer = await super().prepare(request)
            file = self._handle.file
            transport = request.transport
            if file is None or transport is None or self.compression:
                raise ConnectionResetError("connection lost")
            loop = asyncio.get_running_loop()
            try:
                await loop.sendfile(transport, file, 0, self._handle.info.size, fallback=False)
            except NotImplementedError:  # e.g. TLS: read and write in pieces instead
                await self._copy(writer, file)
            await super().write_eof()
            return writer
        finally:
            self._handle.close()

    async def _copy(self, writer: Any, file: Any) -> None:
        pos, size = 0, self._handle.info.size
        while pos < size:
            data = await asyncio.to_thread(os.pread, file.fileno(), min(1 << 20, size - pos), pos)
            if not data:
                raise ConnectionResetError("chunk file truncated")
            await writer.write(data)
            pos += len(data)


async def get_chunk(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    chunk_id = parse_chunk_id(request.match_info["id"])
    info = node.store.get(chunk_id)
    node.metrics.bytes_sent.labels("get").inc(info.size)
    if info.size < SMALL_CHUNK:
        info, data = await node.store.read(chunk_id)
        return web.Response(
            body=data, headers=_chunk_headers(info), content_type="application/octet-stream"
        )
    handle = await node.store.open(chunk_id)
    return ChunkFileResponse(handle, _chunk_headers(handle.info))


async def head_chunk(request: web.Request) -> web.Response:
    node = request.app[NODE]
    info = node.store.get(parse_chunk_id(request.match_info["id"]))
    return web.Response(headers=_chunk_headers(info))


async def delete_chunk(request: web.Request) -> web.Response:
    node = request.app[NODE]
    chunk_id = parse_chunk_id(request.match_info["id"])
    _admin(node, request, "delete", chunk_id)
    existed = await node.store.delete(chunk_id)
    node.log.info("chunk.deleted", chunk=format_chunk_id(chunk_id), existed=existed)
    return reply(request, {"deleted": existed})


async def list_chunks(request: web.Request) -> web.Response:
    node = request.app[NODE]
    _admin(node, request, "list")
    chunks = [[i.hex, i.generation, i.size, i.checksum] for i in node.store.list()]
    return reply(request, {"chunks": chunks})


# ----- replicate ------------------------------------------------------------------------------


async def replicate(request: web.Request) -> web.Response:
    """Stream a local chunk to a target pipeline (a repair ordered by the leader)."""
    node = request.app[NODE]
    body = await _read_body(request)
    chunk_id = _chunk_arg(body.get("chunk"))
    _admin(node, request, "replicate", chunk_id)
    targets, token = body.get("targets"), body.get("token")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise InvalidArgument("targets must be a non-empty list of host:port")
    if not isinstance(token, str):
        raise InvalidArgument("token must be the write token for the targets")
    targets = pl.parse_pipeline(",".join(targets))
    info = node.store.get(chunk_id)
    crc, sent = checksum.Checksum(), [0]

    async def pieces() -> AsyncIterator[bytes]:
        async for piece in node.store.iter_read(chunk_id):
            crc.update(piece)
            sent[0] += len(piece)
            yield piece

    with node.transfer():
        try:
            acks = await pl.send_chunk(
                node.client(), chunk_id, targets, pieces(), token=token,
                checksum=info.checksum, generation=info.generation, length=info.size,
                timeout=node.timeout,
            )  # fmt: skip
        except pl.PipelineFailed:
            if sent[0] == info.size and crc.value != info.checksum:
                await node.scrubber.condemn(info, "replicate")
                raise IntegrityError(
                    f"local copy of chunk {info.hex} on {node.id} is corrupt; quarantined",
                    chunk=info.hex,
                ) from None
            raise
    node.metrics.bytes_sent.labels("replicate").inc(info.size)
    node.log.info("chunk.replicated", chunk=info.hex, targets=targets)
    return reply(request, {"acks": acks})


# ----- status, metrics, app -------------------------------------------------------------------


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[NODE].status())


async def metrics(request: web.Request) -> web.Response:
    body = request.app[NODE].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    node = app[NODE]
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=64)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        node.session = session
        yield
        for task in list(node._tasks):
            task.cancel()
        await asyncio.gather(*node._tasks, return_exceptions=True)
        node.session = None


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Heartbeats to every master and the scrubber, for the life of the app."""
    node = app[NODE]
    beats = [
        Heartbeat(
            node_id=node.id,
            address=node.address,
            master_url=url,
            store=node.store,
            session=node.client(),
            secret=node.config.secret,
            interval=node.config.timeouts.heartbeat,
            report_every=node.config.timeouts.chunk_report,
            inflight=lambda: node.inflight,
            log=node.log,
            metrics=node.metrics,
            report_timeout=node.config.timeouts.request,
            clock=node.clock,
        )
        for url in node.masters
    ]
    async for _ in periodic.background([*beats, node.scrubber], node.log)(app):
        yield


def make_app(
    node_id: str,
    config: Config,
    store: ChunkStore,
    *,
    address: str | None = None,
    log: Any = None,
    background: bool = True,
    clock: Callable[[], float] = time.time,
    ack_before_store: bool | None = None,
) -> web.Application:
    """The file node app. ``background=False`` leaves out heartbeats and the scrubber."""
    if address is None:
        node_cfg = config.node(node_id)
        address = node_cfg.address if node_cfg else "127.0.0.1:0"
    if ack_before_store is None:
        ack_before_store = os.environ.get(ACK_BEFORE_STORE_ENV) == "1"
    log = log if log is not None else structlog.get_logger().bind(node=node_id)
    if ack_before_store:
        log.warning("node.test_mode", mode=ACK_BEFORE_STORE_ENV, detail="acks before storing")
    node = Node(
        node_id, config, store, address=address, log=log, clock=clock,
        ack_before_store=ack_before_store,
    )  # fmt: skip
    app = web.Application(
        middlewares=[error_middleware],
        handler_args={"read_bufsize": READ_BUFSIZE},
        client_max_size=4 << 20,
    )
    app[NODE] = node
    app.cleanup_ctx.append(_client_session)
    if background:
        app.cleanup_ctx.append(_background)
    r = app.router
    r.add_put("/v1/chunk/{id}", put_chunk, name="put")
    r.add_get("/v1/chunk/{id}", get_chunk, name="get", allow_head=False)
    r.add_head("/v1/chunk/{id}", head_chunk, name="head")
    r.add_delete("/v1/chunk/{id}", delete_chunk, name="delete")
    r.add_post("/v1/replicate", replicate, name="replicate")
    r.add_get("/v1/chunks", list_chunks, name="list")
    r.add_get("/status", status)
    r.add_get("/metrics", metrics)
    return app


from fahadfs.storage._main import main_node, run_node  # noqa: E402  (CLI entry points)

__all__ = ["NODE", "Node", "main_node", "make_app", "run_node"]

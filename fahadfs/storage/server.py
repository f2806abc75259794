"""The file node's HTTP API (docs/API.md, "File node"): chunk PUT with chain replication
(``_put.py``), GET with sendfile, HEAD, DELETE, replicate, list, /status and /metrics, the
error middleware and the app factory; ``main_node`` is the ``fahadfs node`` entry point.

``FAHADFS_TEST_ACK_BEFORE_STORE=1`` (TESTS ONLY, never in production) makes PUT acknowledge a
chunk it holds only in memory and store it about a second later, without the usual guarantees:
the chaos harness uses it to prove that its checkers catch a node that loses acked writes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from fahadfs import checksum, periodic
from fahadfs.config import Config
from fahadfs.errors import FahadfsError, IntegrityError, InvalidArgument
from fahadfs.storage import pipeline as pl
from fahadfs.storage._node import (
    NODE,
    Node,
    check_admin,
    chunk_arg,
    chunk_headers,
    read_body,
    reply,
)
from fahadfs.storage._put import put_chunk
from fahadfs.storage.chunkstore import ChunkHandle, ChunkStore, format_chunk_id, parse_chunk_id
from fahadfs.storage.heartbeat import Heartbeat

SMALL_CHUNK = 256 << 10  # served from a plain read; larger ones with sendfile
READ_BUFSIZE = 1 << 20  # server read buffer: 64 KiB (the default) -> 1 MiB raised PUT throughput
ACK_BEFORE_STORE_ENV = "FAHADFS_TEST_ACK_BEFORE_STORE"


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """FahadfsError -> ``{code, message, ...}`` with its status; anything else -> 500.

    A 5xx of this node's own (full disk, I/O error) names it as ``node``; a 502 names the
    failed node further down as ``failed``/``failed_node`` instead, and a 4xx is the request's
    fault, naming nobody: clients exclude the named nodes when they plan again.
    """
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
        body = err.to_wire()
        if err.status >= 500 and not isinstance(err, pl.PipelineFailed):
            body.setdefault("node", node.id)  # this node itself failed (full, disk error...)
        return reply(request, body, status)
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
            transport = request.transport
            if self._handle.file is None or transport is None:
                raise ConnectionResetError("connection lost")
            # asyncio itself falls back to reads and writes where sendfile is unavailable (TLS)
            loop = asyncio.get_running_loop()
            await loop.sendfile(transport, self._handle.file, 0, self._handle.info.size)
            await super().write_eof()
            return writer
        finally:
            self._handle.close()


async def get_chunk(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    chunk_id = parse_chunk_id(request.match_info["id"])
    info = node.store.get(chunk_id)
    node.metrics.bytes_sent.labels("get").inc(info.size)
    if info.size < SMALL_CHUNK:
        info, data = await node.store.read(chunk_id)
        return web.Response(
            body=data, headers=chunk_headers(info), content_type="application/octet-stream"
        )
    handle = await node.store.open(chunk_id)
    return ChunkFileResponse(handle, chunk_headers(handle.info))


async def head_chunk(request: web.Request) -> web.Response:
    node = request.app[NODE]
    info = node.store.get(parse_chunk_id(request.match_info["id"]))
    return web.Response(headers=chunk_headers(info))


async def delete_chunk(request: web.Request) -> web.Response:
    node = request.app[NODE]
    chunk_id = parse_chunk_id(request.match_info["id"])
    check_admin(node, request, "delete", chunk_id)
    existed = await node.store.delete(chunk_id)
    node.log.info("chunk.deleted", chunk=format_chunk_id(chunk_id), existed=existed)
    return reply(request, {"deleted": existed})


async def list_chunks(request: web.Request) -> web.Response:
    node = request.app[NODE]
    check_admin(node, request, "list")
    chunks = [[i.hex, i.generation, i.size, i.checksum] for i in node.store.list()]
    return reply(request, {"chunks": chunks})


# ----- replicate ------------------------------------------------------------------------------


async def replicate(request: web.Request) -> web.Response:
    """Stream a local chunk to a target pipeline (a repair ordered by the leader)."""
    node = request.app[NODE]
    body = await read_body(request)
    chunk_id = chunk_arg(body.get("chunk"))
    check_admin(node, request, "replicate", chunk_id)
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

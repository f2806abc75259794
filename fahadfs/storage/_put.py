"""``PUT /v1/chunk/{id}``: store a chunk while forwarding it down the pipeline.

The body is read once: each piece is staged into the local chunk writer and passed on to the
next node within the same request (``pipeline.send_chunk`` with the body as an async
generator). At the end of the body this node makes its copy durable (``prepare``) while the
downstream nodes do the same; the copy becomes visible (``commit``) only once every node below
has acknowledged, and the acks of the whole chain are returned. If anything below fails, the
local temp file is dropped and the answer is 502 naming the failed node; a failure of this
node's own (full, checksum mismatch, body over the token's max) wins over the downstream
error it causes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from fahadfs import auth, checksum
from fahadfs.errors import FahadfsError, Forbidden, IntegrityError, InvalidArgument
from fahadfs.storage import pipeline as pl
from fahadfs.storage._node import NODE, Node, int_header, reply, same_chunk
from fahadfs.storage.chunkstore import ChunkInfo, ChunkWriter, format_chunk_id, parse_chunk_id

ACK_BEFORE_STORE_DELAY = 1.0


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
        self.prepared.add_done_callback(_retrieve)

    def cancel(self) -> None:
        """Stop a prepare still running (the request failed or was cancelled)."""
        if self.prepared is not None and not self.prepared.done():
            self.prepared.cancel()

    async def local(self) -> ChunkInfo:
        """The prepared local copy, or the local error that stopped it."""
        if self.error is not None:
            raise self.error
        if self.prepared is None:
            raise FahadfsError("chunk body was not read to its end")
        return await self.prepared


def _retrieve(task: asyncio.Task[ChunkInfo]) -> None:
    """Mark a prepare's failure as seen: the handler reports it, or has already failed."""
    if not task.cancelled():
        task.exception()


def _grant(node: Node, request: web.Request, chunk_id: int) -> tuple[int, int | None]:
    """Check the write token; return (max bytes, generation it names or None)."""
    grant = auth.verify(
        node.config.secret, "write", request.headers.get(pl.TOKEN_HEADER), node.now_ms()
    )
    if not same_chunk(grant.get("chunk"), chunk_id):
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
    expected = int_header(request, pl.CHECKSUM_HEADER, 32)
    header_gen = int_header(request, pl.GENERATION_HEADER, 32)
    generation = token_gen if token_gen is not None else header_gen or 0
    downstream = pl.parse_pipeline(request.headers.get(pl.PIPELINE_HEADER))
    with node.transfer():
        if node.ack_before_store:
            acks = await _put_ack_first(node, request, chunk_id, limit, generation, downstream)
            return reply(request, {"acks": acks})
        writer = await node.store.open_writer(chunk_id, length)
        feed = _Feed(request, writer, limit, expected, generation)
        try:
            acks = await _store_and_forward(node, request, feed, chunk_id, downstream)
            info = await writer.commit()
        except IntegrityError:
            node.metrics.checksum_failures.labels("put").inc()
            raise
        finally:
            feed.cancel()
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
            checksum=int_header(request, pl.CHECKSUM_HEADER, 32),
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

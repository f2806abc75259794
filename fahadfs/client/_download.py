"""get: strict stat -> fetch chunks in parallel from the least-busy replica -> verify -> write.

Each chunk is streamed (1 MiB pieces, never whole in memory for a path target) from the replica
with the fewest in-flight transfers of this client (live nodes first, ties at random) and its
CRC32C checked against the one recorded at commit. On an error the next replica is tried; a
checksum mismatch is also reported to the master (``POST /v1/report_bad``) so the healer
replaces that copy. When every replica fails: IntegrityError if one returned bad bytes,
ChunkNotFound if none has it, else Unavailable (worth retrying later).

A path target is written through a temp file next to it (``pwrite`` at each chunk's offset)
and renamed on success, so a failed get never leaves a partial file under the target name.
A stream target receives the bytes in order: chunks are fetched ahead (at most ``parallel``)
into spools (memory, then a temp file) and copied out one after another.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import aiohttp

from fahadfs import errors
from fahadfs.checksum import Checksum
from fahadfs.client import _http
from fahadfs.client._discovery import base_url
from fahadfs.client._transfer import (
    MIN_RATE,
    PIECE,
    SPOOL_MEMORY,
    STALL_SECONDS,
    ProgressTracker,
    run_bounded,
)

if TYPE_CHECKING:
    from fahadfs.client.core import Client, Progress

# A local path, or a writable binary stream (``write`` may be sync or async).
Dest: TypeAlias = "str | os.PathLike[str] | IO[bytes] | Any"

RESTARTS = 2  # fresh starts when the file was replaced during the download
Sink = Callable[[int, bytes], Awaitable[None]]  # (position in chunk, data)


class _BadCopy(errors.IntegrityError):
    """One replica's bytes did not match the recorded checksum or size."""


class Download:
    """One ``get``: its stat, chunk fetches and output."""

    def __init__(
        self,
        client: Client,
        path: str,
        *,
        parallel: int,
        progress: Progress | None,
        deadline: _http.Deadline,
    ) -> None:
        self.client, self.path, self.parallel = client, path, parallel
        self.progress = ProgressTracker(progress)
        self.deadline = deadline
        self.nodes: dict[str, dict[str, Any]] = {}
        self.failed: set[str] = set()  # nodes that failed a transfer of this get: tried last
        self.written = 0  # bytes handed to a stream target (a restart is impossible after)

    def _step(self) -> _http.Deadline:
        return _http.Deadline(self.deadline.cap(self.client.deadline))

    async def run(self, dest: Dest) -> tuple[int, int]:
        """Download into ``dest``; returns ``(size, version)``.

        If chunks vanish because the file was replaced meanwhile (a new version, its old chunks
        collected), the download starts again on the new version, while nothing has been
        written to a stream target yet.
        """
        for attempt in range(RESTARTS + 1):
            st = await self._stat()
            try:
                await self._once(dest, st)
                return int(st["size"]), int(st.get("version", 0))
            except errors.ChunkNotFound:
                if attempt == RESTARTS or self.written or self.deadline.expired:
                    raise
                now = await self._stat()
                if now.get("version") == st.get("version"):
                    raise
        raise AssertionError("unreachable")

    async def _stat(self) -> dict[str, Any]:
        st = await self.client.stat(self.path, deadline=self._step().remaining())
        if st.get("type") != "file":
            raise errors.IsADirectory(f"get {self.path}: is a directory")
        return st

    async def _once(self, dest: Dest, st: dict[str, Any]) -> None:
        chunks = list(st.get("chunks") or [])
        offsets, offset = [], 0
        for c in chunks:
            offsets.append(offset)
            offset += int(c["size"])
        if offset != st["size"]:
            raise errors.IntegrityError(
                f"get {self.path}: chunks hold {offset} bytes, the file {st['size']}"
            )
        needed = {r for c in chunks for r in c.get("replicas", [])}
        if needed:
            self.nodes = await self.client.node_addresses(needed, self._step())
        if isinstance(dest, str | os.PathLike):
            await self._to_path(os.fspath(dest), chunks, offsets, st["size"])
        else:
            await self._to_stream(dest, chunks)

    # -- targets

    async def _to_path(
        self, target: str, chunks: list[dict[str, Any]], offsets: list[int], size: int
    ) -> None:
        if os.path.isdir(target):
            target = os.path.join(target, self.path.rsplit("/", 1)[-1])
        folder, name = os.path.split(os.path.abspath(target))
        tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.fahadfs-part")
        fd = await asyncio.to_thread(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            await asyncio.to_thread(os.ftruncate, fd, size)

            def job(i: int) -> Callable[[], Awaitable[None]]:
                base = offsets[i]

                async def sink(pos: int, data: bytes) -> None:
                    await asyncio.to_thread(_pwrite_all, fd, data, base + pos)

                return lambda: self._fetch(i, chunks[i], sink)

            await run_bounded([job(i) for i in range(len(chunks))], self.parallel)
            await asyncio.to_thread(os.close, fd)
            fd = -1
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def _to_stream(self, stream: Any, chunks: list[dict[str, Any]]) -> None:
        write = getattr(stream, "write", None)
        if write is None:
            raise errors.InvalidArgument(f"get: cannot write to {type(stream).__name__}")
        window: collections.deque[asyncio.Task[Any]] = collections.deque()
        started = 0
        try:
            for _ in range(len(chunks)):
                while started < len(chunks) and len(window) < self.parallel:
                    window.append(
                        asyncio.create_task(self._fetch_spooled(started, chunks[started]))
                    )
                    started += 1
                spool = await window.popleft()
                try:
                    self.written += await _copy_out(spool, write)
                finally:
                    spool.close()
            drain = getattr(stream, "drain", None)
            if drain is not None and inspect.iscoroutinefunction(drain):
                await drain()
        finally:
            for t in window:
                t.cancel()
            for r in await asyncio.gather(*window, return_exceptions=True):
                if hasattr(r, "close"):
                    r.close()

    async def _fetch_spooled(self, index: int, chunk: dict[str, Any]) -> Any:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115

        async def sink(pos: int, data: bytes) -> None:
            if pos == 0:
                spool.seek(0)
                spool.truncate()
            await asyncio.to_thread(spool.write, data)

        try:
            await self._fetch(index, chunk, sink)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    # -- one chunk, every replica

    async def _fetch(self, index: int, chunk: dict[str, Any], sink: Sink) -> None:
        cid = int(chunk["id"])
        hexid = f"{cid:016x}"
        failures: list[tuple[str, errors.FahadfsError]] = []
        replicas = list(chunk.get("replicas") or [])
        for node in self.client.pick_order(replicas, self.nodes, avoid=self.failed):
            try:
                await self._fetch_from(index, node, chunk, sink)
                return
            except _BadCopy as exc:
                failures.append((node, exc))
                await self._report_bad(cid, node, exc.message)
            except errors.FahadfsError as exc:
                failures.append((node, exc))
                if isinstance(exc, errors.Unavailable):
                    self.failed.add(node)
            if self.deadline.expired:
                break
        tried = "; ".join(f"{node}: {exc.message}" for node, exc in failures) or "no replicas"
        message = f"get {self.path}: chunk {hexid} could not be read from any replica ({tried})"
        kinds = {type(exc) for _, exc in failures}
        cause = failures[-1][1] if failures else None
        if any(issubclass(k, errors.IntegrityError) for k in kinds):
            raise errors.IntegrityError(message, chunk=hexid) from cause
        if kinds <= {errors.NotFound, errors.ChunkNotFound}:
            raise errors.ChunkNotFound(message, chunk=hexid) from cause
        raise errors.Unavailable(message, chunk=hexid) from cause

    async def _fetch_from(self, index: int, node: str, chunk: dict[str, Any], sink: Sink) -> None:
        size, expected = int(chunk["size"]), int(chunk["checksum"])
        hexid = f"{int(chunk['id']):016x}"
        address = self.nodes.get(node, {}).get("address")
        if not address:
            raise errors.Unavailable(f"node {node} has no known address")
        what = f"get chunk {hexid} from {node} ({address})"
        limit = self.deadline.cap((self.client.deadline or 30.0) + size / MIN_RATE)
        self.client.begin(node)
        try:
            async with (
                _http.network_errors(what),
                self.client.session.get(
                    f"{base_url(address)}/v1/chunk/{hexid}",
                    timeout=_http.timeout(limit, idle=STALL_SECONDS),
                ) as resp,
            ):
                if resp.status != 200:
                    await _http.result(resp, what)
                    raise errors.FahadfsError(f"{what}: HTTP {resp.status}")
                claimed = resp.headers.get("X-Fahadfs-Checksum")
                if claimed is not None and claimed.isdigit() and int(claimed) != expected:
                    raise _BadCopy(f"node reports checksum {claimed}, the file records {expected}")
                await self._stream_body(index, resp, size, expected, sink)
        finally:
            self.client.end(node)

    async def _stream_body(
        self, index: int, resp: aiohttp.ClientResponse, size: int, expected: int, sink: Sink
    ) -> None:
        summer, pos = Checksum(), 0
        while pos < size:
            try:  # whole 1 MiB pieces: one disk write (and thread hop) per MiB
                piece = await resp.content.readexactly(min(PIECE, size - pos))
            except asyncio.IncompleteReadError as exc:
                raise _BadCopy(f"{pos + len(exc.partial)} bytes, the file records {size}") from None
            summer.update(piece)
            await sink(pos, piece)
            pos += len(piece)
            self.progress.update(index, pos)
        if await resp.content.read(1):
            raise _BadCopy(f"more than the recorded {size} bytes")
        if summer.value != expected:
            raise _BadCopy(f"checksum mismatch: got {summer.value}, the file records {expected}")

    async def _report_bad(self, chunk_id: int, node: str, reason: str) -> None:
        """Tell the master a replica is bad (best effort: never fails the get)."""
        with contextlib.suppress(errors.FahadfsError):
            await self.client.call(
                "POST",
                "/v1/report_bad",
                body={"chunk": chunk_id, "node": node, "reason": reason},
                deadline=_http.Deadline(min(5.0, self.client.deadline or 5.0)),
                what=f"report_bad {chunk_id:016x} on {node}",
            )


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


async def _copy_out(spool: Any, write: Callable[[bytes], Any]) -> int:
    total = 0
    while True:
        data = await asyncio.to_thread(spool.read, PIECE)
        if not data:
            return total
        total += len(data)
        out = write(data)
        if inspect.isawaitable(out):
            await out

"""Pieces shared by put and get: chunk payloads, stream readers, progress, bounded parallelism.

A payload is the bytes of one chunk, readable again for every send attempt: a memoryview slice
(bytes sources), a file range (local paths; read in fresh 1 MiB pieces, never a whole chunk in
memory) or a spool (streams of unknown length: memory up to SPOOL_MEMORY, then a temp file).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from fahadfs import errors
from fahadfs.checksum import Checksum

if TYPE_CHECKING:
    from fahadfs.client.core import Progress

PIECE = 1 << 20  # bytes per read / send piece
SPOOL_MEMORY = 8 << 20  # a stream chunk is kept in memory up to this, then on disk
MIN_RATE = 1 << 20  # bytes/s a chunk transfer may not fall below (sizes its timeout)
STALL_SECONDS = 10.0  # no bytes from a replica for this long: try the next one

# A local path, bytes, a binary file object (sync or async ``read``), or an (async) iterable of
# bytes. Streams of unknown length are spooled one chunk at a time.
Source: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] "
    "| AsyncIterable[bytes] | Iterable[bytes]"
)


# -- chunk payloads --------------------------------------------------------------------------


class Payload:
    """The bytes of one chunk, readable again for every send attempt."""

    size: int
    checksum: int | None  # known before sending (then sent as X-Fahadfs-Checksum)

    def pieces(self) -> AsyncIterator[bytes | memoryview]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemoryPayload(Payload):
    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.size = len(view)
        self.checksum = _checksum_of(view)

    async def pieces(self) -> AsyncIterator[bytes | memoryview]:
        for i in range(0, self.size, PIECE):
            yield self.view[i : i + PIECE]


class FilePayload(Payload):
    def __init__(self, path: str, offset: int, size: int) -> None:
        self.path, self.offset, self.size = path, offset, size
        self.checksum = None

    async def pieces(self) -> AsyncIterator[bytes | memoryview]:
        f = await asyncio.to_thread(open, self.path, "rb", buffering=0)
        try:
            await asyncio.to_thread(f.seek, self.offset)
            left = self.size
            while left > 0:
                # A fresh buffer per piece: the transport may keep a reference to what we yield.
                data = await asyncio.to_thread(f.read, min(PIECE, left))
                if not data:
                    raise SourceChanged(f"{self.path}: file shrank while being uploaded")
                left -= len(data)
                yield data
        finally:
            await asyncio.to_thread(f.close)


class SpoolPayload(Payload):
    """One chunk of a stream of unknown length, spooled (memory, then a temp file)."""

    def __init__(self) -> None:
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
        self.size = 0
        self._sum = Checksum()
        self.checksum = 0

    async def fill(self, read: Callable[[int], Awaitable[bytes]], limit: int) -> None:
        while self.size < limit:
            data = await read(min(PIECE, limit - self.size))
            if not data:
                break
            self._sum.update(data)
            await asyncio.to_thread(self.spool.write, data)
            self.size += len(data)
        self.checksum = self._sum.value

    async def pieces(self) -> AsyncIterator[bytes | memoryview]:
        await asyncio.to_thread(self.spool.seek, 0)
        left = self.size
        while left > 0:
            data = await asyncio.to_thread(self.spool.read, min(PIECE, left))
            left -= len(data)
            yield data

    def close(self) -> None:
        self.spool.close()


class SourceChanged(errors.FahadfsError):
    """The local source changed under the upload: not retryable."""


def _checksum_of(view: memoryview) -> int:
    c = Checksum()
    c.update(view)
    return c.value


def stream_reader(source: Any) -> Callable[[int], Awaitable[bytes]]:
    """``read(n) -> up to n bytes, b"" at the end`` over any supported stream."""
    read = getattr(source, "read", None)
    if read is not None:
        if inspect.iscoroutinefunction(read):
            return read  # type: ignore[no-any-return]

        async def read_sync(n: int) -> bytes:
            data = await asyncio.to_thread(read, n)
            return bytes(data) if data else b""

        return read_sync
    if hasattr(source, "__aiter__"):
        return _IterReader(source.__aiter__(), is_async=True).read
    if hasattr(source, "__iter__"):
        return _IterReader(iter(source), is_async=False).read
    raise errors.InvalidArgument(
        f"put: cannot read from {type(source).__name__}: give a path, bytes or a byte stream"
    )


class _IterReader:
    def __init__(self, it: Any, *, is_async: bool) -> None:
        self.it, self.is_async = it, is_async
        self.rest = memoryview(b"")

    async def read(self, n: int) -> bytes:
        while not self.rest:
            try:
                piece = await self.it.__anext__() if self.is_async else next(self.it)
            except (StopAsyncIteration, StopIteration):
                return b""
            self.rest = memoryview(piece).cast("B")
        out, self.rest = bytes(self.rest[:n]), self.rest[n:]
        return out


# -- progress --------------------------------------------------------------------------------


class ProgressTracker:
    """Calls ``progress(bytes_done)`` monotonically; a resent chunk is not counted twice."""

    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.done = 0
        self.best: dict[int, int] = {}

    def update(self, key: int, position: int) -> None:
        if self.callback is None:
            return
        prev = self.best.get(key, 0)
        if position > prev:
            self.best[key] = position
            self.done += position - prev
            self.callback(self.done)


# -- bounded parallel work -------------------------------------------------------------------


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[Any]]], parallel: int) -> list[Any]:
    """Run jobs with at most ``parallel`` at once, results in order; the first error cancels
    the others and is raised."""
    jobs = list(jobs)
    results: list[Any] = [None] * len(jobs)
    it = iter(enumerate(jobs))

    async def worker() -> None:
        for i, job in it:
            results[i] = await job()

    if not jobs:
        return results
    tasks = [asyncio.create_task(worker()) for _ in range(min(parallel, len(jobs)))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results

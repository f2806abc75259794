"""Chunk storage of one file node: the ``ChunkStore`` interface and its in-memory twin.

A chunk is an immutable blob named by a u64 id (16 lowercase hex digits on the wire and on disk)
with a CRC32C checksum and a generation number. Writes go through a ``ChunkWriter``:

    writer = await store.open_writer(chunk_id, size_hint)   # space reserved, or NoSpace
    await writer.write(piece) ...                            # checksummed as it goes
    info = await writer.finish(expected_checksum, generation)  # durable + visible, atomically

``finish`` is ``prepare`` (data durable in a temp file, checksum checked: IntegrityError and
nothing kept on mismatch) followed by ``commit`` (atomic rename, directory synced). The file
node's pipelined PUT prepares its copy while the next node stores its own, and commits only
once the downstream copies are acknowledged. ``abort`` (or leaving ``async with``) drops
everything of an unfinished write. A chunk is never visible half-written.

``DiskChunkStore`` (in ``fahadfs.storage._disk``, re-exported here) keeps chunks as files;
the on-disk format is in docs/FORMAT.md. ``MemoryChunkStore`` keeps them in dicts for tests.
"""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from fahadfs import checksum
from fahadfs.errors import ChunkNotFound, IntegrityError, InvalidArgument, NoSpace

CHUNK_ID_RE = re.compile(r"^[0-9a-f]{16}$")
MAX_CHUNK_ID = (1 << 64) - 1
MAX_GENERATION = (1 << 32) - 1


def parse_chunk_id(text: str) -> int:
    """``"00000000000000ff"`` -> 255; anything but 16 lowercase hex digits is InvalidArgument."""
    if not isinstance(text, str) or not CHUNK_ID_RE.match(text):
        raise InvalidArgument(f"bad chunk id {text!r}: expected 16 lowercase hex digits")
    return int(text, 16)


def format_chunk_id(chunk_id: int) -> str:
    return f"{chunk_id:016x}"


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """What a store knows about one stored chunk."""

    id: int
    generation: int
    size: int
    checksum: int

    @property
    def hex(self) -> str:
        return format_chunk_id(self.id)


@dataclass(slots=True)
class ChunkHandle:
    """An opened chunk to serve: an open file holding the data at ``[0, size)``, or bytes.

    The file is opened before the handle is returned, so a concurrent delete or replace never
    changes what a reader sends. ``close()`` releases it.
    """

    info: ChunkInfo
    file: BinaryIO | None = None
    data: bytes | None = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class ChunkWriter(abc.ABC):
    """One chunk being written. Use as ``async with``: leaving without ``finish`` aborts."""

    chunk_id: int

    @property
    @abc.abstractmethod
    def written(self) -> int:
        """Bytes accepted so far."""

    @abc.abstractmethod
    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append a piece (copied before returning; the caller may reuse its buffer)."""

    @abc.abstractmethod
    async def prepare(self, expected_checksum: int | None, generation: int) -> ChunkInfo:
        """Make the data durable, not yet visible. IntegrityError (write aborted) on mismatch."""

    @abc.abstractmethod
    async def commit(self) -> ChunkInfo:
        """Make the prepared chunk visible, atomically and durably (replaces an older copy)."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop an unfinished write; nothing of it stays. Idempotent; no-op after commit."""

    async def finish(self, expected_checksum: int | None, generation: int) -> ChunkInfo:
        """prepare + commit: the chunk is durable and visible when this returns."""
        await self.prepare(expected_checksum, generation)
        return await self.commit()

    async def __aenter__(self) -> ChunkWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.abort()


def check_generation(generation: int) -> None:
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise InvalidArgument(f"generation must be an integer, got {generation!r}")
    if not 0 <= generation <= MAX_GENERATION:
        raise InvalidArgument(f"generation {generation} out of range 0..2^32-1")


def checksum_mismatch(chunk_id: int, expected: int, actual: int) -> IntegrityError:
    return IntegrityError(
        f"chunk {format_chunk_id(chunk_id)}: checksum {actual} of the received bytes "
        f"differs from the expected {expected}; nothing stored",
        chunk=format_chunk_id(chunk_id),
        expected=expected,
        actual=actual,
    )


class ChunkStore(abc.ABC):
    """Where a file node keeps its chunks. Space is reserved when a write opens.

    Not thread-safe: call it from one event loop (implementations use threads internally).
    """

    #: bytes of bookkeeping stored beside each chunk's data (counted in ``used()``)
    overhead: int = 0

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise InvalidArgument(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._index: dict[int, ChunkInfo] = {}
        self._used = 0
        self._reservations: dict[object, int] = {}

    # ----- queries (from the in-memory index, no I/O) -----

    def info(self, chunk_id: int) -> ChunkInfo | None:
        return self._index.get(chunk_id)

    def exists(self, chunk_id: int) -> bool:
        return chunk_id in self._index

    def get(self, chunk_id: int) -> ChunkInfo:
        info = self._index.get(chunk_id)
        if info is None:
            raise ChunkNotFound(
                f"no chunk {format_chunk_id(chunk_id)}", chunk=format_chunk_id(chunk_id)
            )
        return info

    def list(self) -> list[ChunkInfo]:
        """Every stored chunk, sorted by id."""
        return [self._index[k] for k in sorted(self._index)]

    def count(self) -> int:
        return len(self._index)

    def used(self) -> int:
        """Bytes of committed chunks (data plus per-chunk overhead)."""
        return self._used

    def reserved(self) -> int:
        """Bytes promised to writes in progress."""
        return sum(self._reservations.values())

    def free(self) -> int:
        """Bytes a new chunk may still use: capacity left, bounded by the real disk."""
        left = self.capacity - self._used - self.reserved()
        return max(0, min(left, self._disk_free()))

    def _disk_free(self) -> int:
        """Real free space minus what open writes will still add; unbounded for memory."""
        return 1 << 62

    # ----- space reservations, shared by the implementations -----

    def _reserve(self, owner: object, size_hint: int | None) -> None:
        need = (size_hint or 0) + self.overhead
        free = self.free()
        if need > free:
            raise NoSpace(
                f"not enough space for a chunk of {need} bytes: {free} bytes free", free=free
            )
        self._reservations[owner] = need

    def _grow(self, owner: object, total: int) -> None:
        """A write outgrew its reservation (no or wrong size hint): reserve more or NoSpace."""
        have = self._reservations.get(owner, 0)
        need = total + self.overhead
        if need <= have:
            return
        free = self.free()
        if need - have > free:
            raise NoSpace(
                f"out of space after {total} bytes of a chunk: {free} bytes free", free=free
            )
        self._reservations[owner] = need

    def _release(self, owner: object) -> None:
        self._reservations.pop(owner, None)

    def _index_put(self, info: ChunkInfo) -> None:
        old = self._index.get(info.id)
        if old is not None:
            self._used -= old.size + self.overhead
        self._index[info.id] = info
        self._used += info.size + self.overhead

    def _index_drop(self, chunk_id: int) -> ChunkInfo | None:
        old = self._index.pop(chunk_id, None)
        if old is not None:
            self._used -= old.size + self.overhead
        return old

    # ----- operations -----

    @abc.abstractmethod
    async def open_writer(self, chunk_id: int, size_hint: int | None = None) -> ChunkWriter:
        """Start writing a chunk; NoSpace if ``size_hint`` bytes do not fit."""

    @abc.abstractmethod
    async def read(self, chunk_id: int) -> tuple[ChunkInfo, bytes]:
        """The whole chunk in memory (for small chunks). ChunkNotFound if absent."""

    @abc.abstractmethod
    async def open(self, chunk_id: int) -> ChunkHandle:
        """An opened chunk for streaming (sendfile). ChunkNotFound if absent."""

    @abc.abstractmethod
    def iter_read(self, chunk_id: int, piece: int = 1 << 20) -> AsyncIterator[bytes]:
        """The chunk's bytes in pieces (fresh ``bytes`` each), for forwarding."""

    @abc.abstractmethod
    async def delete(self, chunk_id: int) -> bool:
        """Remove a chunk; False if it was not there."""

    @abc.abstractmethod
    async def quarantine(self, chunk_id: int, reason: str) -> bool:
        """Move a chunk aside (kept for inspection, no longer served); False if absent."""

    @abc.abstractmethod
    async def verify(self, chunk_id: int) -> bool:
        """Re-read the chunk and recompute its checksum; False if it no longer matches."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, descriptors)."""


# ---------------------------------------------------------------------------------------------
# In memory


class _MemoryWriter(ChunkWriter):
    def __init__(self, store: MemoryChunkStore, chunk_id: int) -> None:
        self.chunk_id = chunk_id
        self._store = store
        self._parts: list[bytes] = []
        self._written = 0
        self._crc = checksum.Checksum()
        self._info: ChunkInfo | None = None
        self._state = "open"

    @property
    def written(self) -> int:
        return self._written

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._state != "open":
            raise RuntimeError(f"write on a {self._state} chunk writer")
        self._store._grow(self, self._written + len(data))
        self._crc.update(data)
        self._parts.append(bytes(data))
        self._written += len(data)

    async def prepare(self, expected_checksum: int | None, generation: int) -> ChunkInfo:
        if self._state != "open":
            raise RuntimeError(f"prepare on a {self._state} chunk writer")
        check_generation(generation)
        if expected_checksum is not None and expected_checksum != self._crc.value:
            await self.abort()
            raise checksum_mismatch(self.chunk_id, expected_checksum, self._crc.value)
        self._info = ChunkInfo(self.chunk_id, generation, self._written, self._crc.value)
        self._state = "prepared"
        return self._info

    async def commit(self) -> ChunkInfo:
        if self._state != "prepared" or self._info is None:
            raise RuntimeError(f"commit on a {self._state} chunk writer")
        self._store._blobs[self.chunk_id] = b"".join(self._parts)
        self._store._index_put(self._info)
        self._store._release(self)
        self._state = "committed"
        return self._info

    async def abort(self) -> None:
        if self._state in ("open", "prepared"):
            self._state = "aborted"
            self._parts = []
            self._store._release(self)


class MemoryChunkStore(ChunkStore):
    """Chunks in dicts: same behaviour as the disk store, no durability. For tests."""

    def __init__(self, capacity: int = 1 << 30) -> None:
        super().__init__(capacity)
        self._blobs: dict[int, bytes] = {}
        self.quarantined: dict[int, tuple[bytes, str]] = {}

    async def open_writer(self, chunk_id: int, size_hint: int | None = None) -> ChunkWriter:
        writer = _MemoryWriter(self, chunk_id)
        self._reserve(writer, size_hint)
        return writer

    async def read(self, chunk_id: int) -> tuple[ChunkInfo, bytes]:
        info = self.get(chunk_id)
        return info, self._blobs[chunk_id]

    async def open(self, chunk_id: int) -> ChunkHandle:
        info, data = await self.read(chunk_id)
        return ChunkHandle(info, data=data)

    async def iter_read(self, chunk_id: int, piece: int = 1 << 20) -> AsyncIterator[bytes]:
        _, data = await self.read(chunk_id)
        for pos in range(0, len(data), piece):
            yield data[pos : pos + piece]
            await asyncio.sleep(0)

    async def delete(self, chunk_id: int) -> bool:
        self._blobs.pop(chunk_id, None)
        return self._index_drop(chunk_id) is not None

    async def quarantine(self, chunk_id: int, reason: str) -> bool:
        if self._index_drop(chunk_id) is None:
            return False
        self.quarantined[chunk_id] = (self._blobs.pop(chunk_id), reason)
        return True

    async def verify(self, chunk_id: int) -> bool:
        info, data = await self.read(chunk_id)
        return len(data) == info.size and checksum.of(data) == info.checksum

    def flip_bit(self, chunk_id: int, bit: int) -> None:
        """Test helper: rot one bit of a stored chunk (its recorded checksum stays)."""
        data = bytearray(self._blobs[chunk_id])
        data[bit // 8] ^= 1 << (bit % 8)
        self._blobs[chunk_id] = bytes(data)


from fahadfs.storage._disk import DiskChunkStore  # noqa: E402  (re-export)
from fahadfs.storage._diskio import DiskIO  # noqa: E402

__all__ = [
    "CHUNK_ID_RE",
    "ChunkHandle",
    "ChunkInfo",
    "ChunkStore",
    "ChunkWriter",
    "DiskChunkStore",
    "DiskIO",
    "MemoryChunkStore",
    "format_chunk_id",
    "parse_chunk_id",
]

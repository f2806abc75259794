"""DiskChunkStore: each chunk is one file ``<root>/chunks/<2 hex>/<16 hex id>`` (docs/FORMAT.md).

The file holds the chunk's bytes followed by a 40-byte footer (size, crc32c, generation), so a
chunk and its metadata appear together in one atomic rename. Writes go to a temp file in the
same directory, are fsynced, renamed into place and the directory fsynced. With
``sync="group"`` every writer waiting at the same moment shares one ``syncfs`` instead of two
fsyncs each. Blocking calls run in the store's own thread pool; the event loop never waits on
the disk. Import it through ``fahadfs.storage.chunkstore``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import secrets
import struct
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog

from fahadfs import checksum
from fahadfs.errors import ChunkNotFound, FahadfsError, IntegrityError, InvalidArgument, NoSpace
from fahadfs.storage._diskio import DiskIO, GroupSync, fsync_dir
from fahadfs.storage.chunkstore import (
    CHUNK_ID_RE,
    ChunkHandle,
    ChunkInfo,
    ChunkStore,
    ChunkWriter,
    check_generation,
    checksum_mismatch,
    format_chunk_id,
)

T = TypeVar("T")

FOOTER_MAGIC = b"FDFC"
FOOTER_VERSION = 1
_FOOTER_BODY = struct.Struct("<4sB3xQQII4x")  # magic, version, id, size, crc32c, generation
_FOOTER_CRC = struct.Struct("<I")
FOOTER_SIZE = _FOOTER_BODY.size + _FOOTER_CRC.size  # 40
BUFFER_SIZE = 1 << 20  # staging buffer per writer (two when large); pooled for reuse
_POOL_MAX = 32
_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class BadChunkFile(Exception):
    """A chunk file that cannot be trusted (bad footer, wrong size or id)."""


def pack_footer(info: ChunkInfo) -> bytes:
    body = _FOOTER_BODY.pack(
        FOOTER_MAGIC, FOOTER_VERSION, info.id, info.size, info.checksum, info.generation
    )
    return body + _FOOTER_CRC.pack(checksum.of(body))


def unpack_footer(raw: bytes, file_size: int, chunk_id: int) -> ChunkInfo:
    """Parse and check a footer read from the end of a file of ``file_size`` bytes."""
    if len(raw) != FOOTER_SIZE:
        raise BadChunkFile("shorter than its footer")
    body, (crc,) = raw[: _FOOTER_BODY.size], _FOOTER_CRC.unpack(raw[_FOOTER_BODY.size :])
    magic, version, cid, size, crc32c, generation = _FOOTER_BODY.unpack(body)
    if magic != FOOTER_MAGIC:
        raise BadChunkFile("no footer magic")
    if checksum.of(body) != crc:
        raise BadChunkFile("footer checksum mismatch")
    if version != FOOTER_VERSION:
        raise BadChunkFile(f"unknown footer version {version}")
    if cid != chunk_id:
        raise BadChunkFile(f"footer names chunk {cid:016x}")
    if size + FOOTER_SIZE != file_size:
        raise BadChunkFile(f"footer says {size} bytes, file holds {file_size - FOOTER_SIZE}")
    return ChunkInfo(chunk_id, generation, size, crc32c)


def read_footer(fd: int, chunk_id: int) -> ChunkInfo:
    size = os.fstat(fd).st_size
    if size < FOOTER_SIZE:
        raise BadChunkFile("shorter than its footer")
    return unpack_footer(os.pread(fd, FOOTER_SIZE, size - FOOTER_SIZE), size, chunk_id)


class _DiskWriter(ChunkWriter):
    """Stages pieces in a reused buffer; a full buffer goes to a thread while the next fills."""

    def __init__(self, store: DiskChunkStore, chunk_id: int, size_hint: int | None) -> None:
        self.chunk_id = chunk_id
        self._store = store
        self._final = store.path_of(chunk_id)
        self._tmp = self._final.with_name(f".{self._final.name}.{secrets.token_hex(4)}.tmp")
        self._fd = -1
        self._buf = store._take_buffer(size_hint)
        self._spare: bytearray | None = None
        self._fill = 0
        self._pending: asyncio.Future[Any] | None = None  # the one thread call in flight
        self._crc = checksum.Checksum()
        self._written = 0
        self.on_disk = 0
        self._info: ChunkInfo | None = None
        self._renamed = False
        self._state = "open"

    @property
    def written(self) -> int:
        return self._written

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._state != "open":
            raise RuntimeError(f"write on a {self._state} chunk writer")
        n = len(data)
        if n == 0:
            return
        self._store._grow(self, self._written + n)
        self._written += n
        view = memoryview(data).cast("B")
        pos = 0
        while pos < n:
            if self._fill == len(self._buf):
                await self._flush()
            k = min(len(self._buf) - self._fill, n - pos)
            self._buf[self._fill : self._fill + k] = view[pos : pos + k]
            self._fill += k
            pos += k
        if self._fill == len(self._buf):
            await self._flush()

    async def _flush(self) -> None:
        """Hand the full buffer to a thread and continue into the spare one."""
        await self._settle()
        view = memoryview(self._buf)[: self._fill]
        self._pending = self._store._submit(self._write_out, view)
        spare = self._spare if self._spare is not None else self._store._take_buffer(len(self._buf))
        self._buf, self._spare, self._fill = spare, self._buf, 0

    async def _settle(self) -> None:
        """Wait for the thread call in flight; a cancelled caller leaves it to ``abort``."""
        pending = self._pending
        if pending is None:
            return
        try:
            await asyncio.shield(pending)
        except OSError as exc:
            self._pending = None
            await self.abort()
            raise self._store._disk_error(exc, self.chunk_id) from exc
        self._pending = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in a thread as this writer's one call in flight."""
        await self._settle()
        pending: asyncio.Future[T] = self._store._submit(fn, *args)
        self._pending = pending
        await self._settle()
        return pending.result()

    def _ensure_fd(self) -> int:
        if self._fd < 0:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            self._fd = os.open(self._tmp, flags, 0o644)
        return self._fd

    def _write_out(self, view: memoryview) -> None:  # in a thread
        try:
            fd = self._ensure_fd()
            self._crc.update(view)
            self._store._io.write(fd, view)
            self.on_disk += len(view)
        finally:
            view.release()

    def _seal(self, tail: memoryview, expected: int | None, generation: int) -> ChunkInfo | None:
        """In a thread: last bytes, checksum check, footer, fsync. None on a mismatch."""
        self._write_out(tail)
        if expected is not None and self._crc.value != expected:
            return None
        info = ChunkInfo(self.chunk_id, generation, self._written, self._crc.value)
        self._store._io.write(self._fd, pack_footer(info))
        if self._store._group is None:
            self._store._io.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        return info

    async def prepare(self, expected_checksum: int | None, generation: int) -> ChunkInfo:
        if self._state != "open":
            raise RuntimeError(f"prepare on a {self._state} chunk writer")
        check_generation(generation)
        await self._settle()
        tail = memoryview(self._buf)[: self._fill]
        info = await self._call(self._seal, tail, expected_checksum, generation)
        self._fill = 0
        self._return_buffers()
        self._check_not_aborted()
        if info is None:
            await self.abort()
            raise checksum_mismatch(self.chunk_id, expected_checksum or 0, self._crc.value)
        await self._group_barrier()
        self._check_not_aborted()
        self._info = info
        self._state = "prepared"
        return info

    def _check_not_aborted(self) -> None:
        """An ``abort`` may run while this writer waits on a thread (its caller cancelled)."""
        if self._state == "aborted":
            raise FahadfsError(f"write of chunk {format_chunk_id(self.chunk_id)} was aborted")

    async def _group_barrier(self) -> None:
        if self._store._group is None:
            return
        try:
            await self._store._group.barrier()
        except OSError as exc:
            await self.abort()
            raise self._store._disk_error(exc, self.chunk_id) from exc

    def _install(self) -> None:  # in a thread
        os.rename(self._tmp, self._final)
        self._renamed = True
        if self._store._group is None:
            fsync_dir(self._store._io, self._final.parent)

    async def commit(self) -> ChunkInfo:
        if self._state != "prepared" or self._info is None:
            raise RuntimeError(f"commit on a {self._state} chunk writer")
        await self._call(self._install)
        await self._group_barrier()
        self._installed()
        return self._info

    def _installed(self) -> None:
        assert self._info is not None
        self._store._index_put(self._info)
        self._store._release(self)
        self._state = "committed"

    def _discard(self) -> None:  # in a thread
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    async def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        pending, self._pending = self._pending, None
        if pending is not None:
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: the caller already saw or will not care
        if self._renamed:  # cancelled after the rename: the chunk is whole and visible
            self._installed()
            return
        try:
            await self._store._run(self._discard)
        finally:
            self._return_buffers()
            self._store._release(self)

    def _return_buffers(self) -> None:
        for buf in (self._buf, self._spare):
            if buf is not None:
                self._store._give_buffer(buf)
        self._buf, self._spare = bytearray(0), None


class DiskChunkStore(ChunkStore):
    """Chunks as files under ``root`` (see the module docstring and docs/FORMAT.md)."""

    overhead = FOOTER_SIZE

    def __init__(
        self,
        root: Path | str,
        capacity: int,
        *,
        sync: str = "file",
        io_threads: int = 16,
        io: DiskIO | None = None,
        log: Any = None,
    ) -> None:
        super().__init__(capacity)
        if sync not in ("file", "group"):
            raise InvalidArgument(f"sync must be 'file' or 'group', got {sync!r}")
        self.root = Path(root)
        self.chunks_dir = self.root / "chunks"
        self.quarantine_dir = self.root / "quarantine"
        self.sync_mode = sync
        self._io = io or DiskIO()
        self._log = log if log is not None else structlog.get_logger()
        self._buffers: list[bytearray] = []
        self._executor = ThreadPoolExecutor(io_threads, thread_name_prefix="chunkstore")
        self._make_dirs()
        self._group: GroupSync | None = None
        self._root_fd = -1
        if sync == "group":
            self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._group = GroupSync(functools.partial(self._run, self._io.syncfs, self._root_fd))
        self.startup = self._scan()

    # ----- layout and start-up -----

    def path_of(self, chunk_id: int) -> Path:
        name = format_chunk_id(chunk_id)
        return self.chunks_dir / name[:2] / name

    def _make_dirs(self) -> None:
        created = False
        for d in (self.root, self.chunks_dir, self.quarantine_dir):
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                created = True
        for i in range(256):
            sub = self.chunks_dir / f"{i:02x}"
            if not sub.is_dir():
                sub.mkdir(exist_ok=True)
                created = True
        if created:
            fsync_dir(self._io, self.chunks_dir)
            fsync_dir(self._io, self.root)

    def _scan(self) -> dict[str, int]:
        """Index every chunk file; remove temp leftovers; quarantine files that fail checks."""
        stats = {"chunks": 0, "temp_removed": 0, "quarantined": 0, "ignored": 0}
        for i in range(256):
            sub = self.chunks_dir / f"{i:02x}"
            with os.scandir(sub) as entries:
                names = [e.name for e in entries]
            for name in names:
                path = sub / name
                if name.startswith(".") and name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
                    stats["temp_removed"] += 1
                elif CHUNK_ID_RE.match(name) and name.startswith(sub.name):
                    stats[self._scan_one(path, int(name, 16))] += 1
                else:
                    self._log.warning("chunkstore.unknown_file", path=str(path))
                    stats["ignored"] += 1
        return stats

    def _scan_one(self, path: Path, chunk_id: int) -> str:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                info = read_footer(fd, chunk_id)
            finally:
                os.close(fd)
        except (BadChunkFile, OSError) as exc:
            self._log.warning("chunk.quarantined", chunk=format_chunk_id(chunk_id), reason=str(exc))
            self._move_aside(path, chunk_id)
            return "quarantined"
        self._index_put(info)
        return "chunks"

    def _move_aside(self, path: Path, chunk_id: int) -> None:
        dest = self.quarantine_dir / f"{format_chunk_id(chunk_id)}.{time.time_ns()}"
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            pass

    # ----- threads, buffers, errors -----

    def _submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _take_buffer(self, size_hint: int | None) -> bytearray:
        if size_hint is not None and size_hint < BUFFER_SIZE:
            return bytearray(max(size_hint, 4096))
        return self._buffers.pop() if self._buffers else bytearray(BUFFER_SIZE)

    def _give_buffer(self, buf: bytearray) -> None:
        if len(buf) == BUFFER_SIZE and len(self._buffers) < _POOL_MAX:
            self._buffers.append(buf)

    def _disk_error(self, exc: OSError, chunk_id: int) -> FahadfsError:
        name = format_chunk_id(chunk_id)
        if exc.errno in _SPACE_ERRNOS:
            return NoSpace(
                f"disk full while writing chunk {name}: {exc.strerror}", free=self.free()
            )
        self._log.error("chunkstore.disk_error", chunk=name, error=str(exc))
        return FahadfsError(f"disk error on chunk {name}: {exc}")

    def _disk_free(self) -> int:
        try:
            avail = self._io.available(self.root)
        except OSError:
            return 0
        unwritten = sum(
            max(0, need - getattr(owner, "on_disk", 0))
            for owner, need in self._reservations.items()
        )
        return avail - unwritten

    # ----- operations -----

    async def open_writer(self, chunk_id: int, size_hint: int | None = None) -> ChunkWriter:
        writer = _DiskWriter(self, chunk_id, size_hint)
        try:
            self._reserve(writer, size_hint)
        except NoSpace:
            writer._return_buffers()
            raise
        return writer

    def _missing(self, chunk_id: int) -> ChunkNotFound:
        self._index_drop(chunk_id)
        name = format_chunk_id(chunk_id)
        return ChunkNotFound(f"no chunk {name}", chunk=name)

    def _open_checked(self, chunk_id: int) -> tuple[int, ChunkInfo]:  # in a thread
        fd = os.open(self.path_of(chunk_id), os.O_RDONLY | os.O_CLOEXEC)
        try:
            return fd, read_footer(fd, chunk_id)
        except BadChunkFile as exc:
            os.close(fd)
            name = format_chunk_id(chunk_id)
            raise IntegrityError(f"chunk {name} is damaged: {exc}", chunk=name) from None
        except BaseException:
            os.close(fd)
            raise

    def _read_sync(self, chunk_id: int) -> tuple[ChunkInfo, bytes]:
        fd, info = self._open_checked(chunk_id)
        try:
            parts, pos = [], 0
            while pos < info.size:
                part = os.pread(fd, info.size - pos, pos)
                if not part:
                    raise IntegrityError(f"chunk {format_chunk_id(chunk_id)} is truncated")
                parts.append(part)
                pos += len(part)
            return info, parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)

    async def read(self, chunk_id: int) -> tuple[ChunkInfo, bytes]:
        self.get(chunk_id)
        try:
            return await self._run(self._read_sync, chunk_id)
        except FileNotFoundError:
            raise self._missing(chunk_id) from None

    def _open_sync(self, chunk_id: int) -> ChunkHandle:
        fd, info = self._open_checked(chunk_id)
        return ChunkHandle(info, file=os.fdopen(fd, "rb", buffering=0))

    async def open(self, chunk_id: int) -> ChunkHandle:
        self.get(chunk_id)
        try:
            return await self._run(self._open_sync, chunk_id)
        except FileNotFoundError:
            raise self._missing(chunk_id) from None

    async def iter_read(self, chunk_id: int, piece: int = 1 << 20) -> AsyncIterator[bytes]:
        handle = await self.open(chunk_id)
        assert handle.file is not None
        fd, size, pos = handle.file.fileno(), handle.info.size, 0
        try:
            while pos < size:
                data = await self._run(os.pread, fd, min(piece, size - pos), pos)
                if not data:
                    raise IntegrityError(f"chunk {format_chunk_id(chunk_id)} is truncated")
                pos += len(data)
                yield data
        finally:
            handle.close()

    async def delete(self, chunk_id: int) -> bool:
        old = self._index_drop(chunk_id)
        await self._run(self.path_of(chunk_id).unlink, missing_ok=True)
        return old is not None

    async def quarantine(self, chunk_id: int, reason: str) -> bool:
        if self._index_drop(chunk_id) is None:
            return False
        await self._run(self._move_aside, self.path_of(chunk_id), chunk_id)
        self._log.warning("chunk.quarantined", chunk=format_chunk_id(chunk_id), reason=reason)
        return True

    def _verify_sync(self, chunk_id: int, buf: bytearray) -> bool:
        try:
            fd, info = self._open_checked(chunk_id)
        except IntegrityError:
            return False
        try:
            crc, pos, view = checksum.Checksum(), 0, memoryview(buf)
            while pos < info.size:
                n = os.preadv(fd, [view[: min(len(buf), info.size - pos)]], pos)
                if n == 0:
                    return False
                crc.update(view[:n])
                pos += n
            return crc.value == info.checksum
        finally:
            view.release()
            os.close(fd)

    async def verify(self, chunk_id: int) -> bool:
        self.get(chunk_id)
        buf = self._take_buffer(None)
        try:
            return await self._run(self._verify_sync, chunk_id, buf)
        except FileNotFoundError:
            raise self._missing(chunk_id) from None
        finally:
            self._give_buffer(buf)

    async def close(self) -> None:
        if self._group is not None:
            self._group.close()
        await asyncio.to_thread(self._executor.shutdown, True)
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

"""The chunk store's disk system calls (a seam for fault-injecting tests) and group sync.
Private to fahadfs.storage."""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Awaitable, Callable
from pathlib import Path


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    return fn


_SYNCFS = _load_syncfs()


class DiskIO:
    """The system calls whose failures matter: tests pass a subclass that fails on purpose."""

    def write(self, fd: int, data: memoryview | bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def syncfs(self, fd: int) -> None:
        """Flush everything written to the file system holding ``fd`` (Linux syncfs)."""
        if _SYNCFS is None:
            os.sync()
        elif _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def available(self, path: Path) -> int:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize


def fsync_dir(io: DiskIO, path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        io.fsync(fd)
    finally:
        os.close(fd)


class GroupSync:
    """One flush (``syncfs`` in a thread) shared by every caller waiting at the same time.

    A caller arriving while a flush runs waits for the next one: its data may be newer.
    """

    def __init__(self, flush: Callable[[], Awaitable[None]]) -> None:
        self._flush = flush
        self._waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.syncs = 0

    async def barrier(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="chunkstore.group_sync")
        await fut

    async def _drain(self) -> None:
        batch: list[asyncio.Future[None]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                error: OSError | None = None
                try:
                    await self._flush()
                    self.syncs += 1
                except OSError as exc:
                    error = exc
                for fut in batch:
                    if fut.done():
                        continue
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error)
        finally:  # cancelled (store closing): nobody may wait forever
            for fut in [*batch, *self._waiting]:
                if not fut.done():
                    fut.cancel()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

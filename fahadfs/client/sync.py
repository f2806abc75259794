"""A blocking twin of :class:`~fahadfs.client.core.Client` for scripts and the CLI.

    with SyncClient(config) as c:
        c.put("local.bin", "/remote.bin")

The async Client runs on a private event loop in a daemon thread; every method submits the same
coroutine there and waits for it. Interrupting a call (Ctrl-C) cancels it on the loop.
Progress callbacks run on that thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from fahadfs.client import _download, _upload
from fahadfs.client.core import _UNSET, Client, GetResult, Progress, PutResult
from fahadfs.config import Config

T = TypeVar("T")


class SyncClient:
    """Same methods and arguments as Client, blocking. Use as ``with SyncClient(config) as c``."""

    def __init__(
        self, config: Config, deadline: float | None = 30.0, client_id: str | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fahadfs-client", daemon=True
        )
        self._thread.start()
        self.client = Client(config, deadline, client_id)
        self._run(self.client.open())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def leader(self) -> str | None:
        return self.client.leader

    def mkdir(
        self,
        path: str,
        parents: bool = False,
        *,
        rid: str | None = None,
        deadline: float | None = _UNSET,
    ) -> None:
        self._run(self.client.mkdir(path, parents, rid=rid, deadline=deadline))

    def stat(self, path: str, *, deadline: float | None = _UNSET) -> dict[str, Any]:
        return self._run(self.client.stat(path, deadline=deadline))

    def exists(self, path: str, *, deadline: float | None = _UNSET) -> bool:
        return self._run(self.client.exists(path, deadline=deadline))

    def ls(self, path: str, *, deadline: float | None = _UNSET) -> list[dict[str, Any]]:
        return self._run(self.client.ls(path, deadline=deadline))

    def walk(
        self, path: str, *, deadline: float | None = _UNSET
    ) -> list[tuple[str, dict[str, Any]]]:
        return self._run(self.client.walk(path, deadline=deadline))

    def rm(self, path: str, *, rid: str | None = None, deadline: float | None = _UNSET) -> None:
        self._run(self.client.rm(path, rid=rid, deadline=deadline))

    def rmdir(
        self,
        path: str,
        recursive: bool = False,
        *,
        rid: str | None = None,
        deadline: float | None = _UNSET,
    ) -> None:
        self._run(self.client.rmdir(path, recursive, rid=rid, deadline=deadline))

    def mv(
        self, src: str, dst: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> None:
        self._run(self.client.mv(src, dst, rid=rid, deadline=deadline))

    def cp(
        self, src: str, dst: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> int:
        return self._run(self.client.cp(src, dst, rid=rid, deadline=deadline))

    def nodes(self, *, deadline: float | None = _UNSET) -> list[dict[str, Any]]:
        return self._run(self.client.nodes(deadline=deadline))

    def set_node_state(
        self, node_id: str, state: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> None:
        self._run(self.client.set_node_state(node_id, state, rid=rid, deadline=deadline))

    def status(self, *, deadline: float | None = 5.0) -> dict[str, Any]:
        return self._run(self.client.status(deadline=deadline))

    def put(
        self,
        source: _upload.Source,
        remote: str,
        *,
        chunk_size: int | None = None,
        replication: int | None = None,
        parallel: int = 4,
        progress: Progress | None = None,
        deadline: float | None = None,
    ) -> PutResult:
        """Upload a path, bytes, a binary file object or an iterable of bytes (not an async
        stream: it would belong to another event loop)."""
        return self._run(
            self.client.put(
                source,
                remote,
                chunk_size=chunk_size,
                replication=replication,
                parallel=parallel,
                progress=progress,
                deadline=deadline,
            )
        )

    def get(
        self,
        remote: str,
        dest: _download.Dest,
        *,
        parallel: int = 4,
        progress: Progress | None = None,
        deadline: float | None = None,
    ) -> GetResult:
        return self._run(
            self.client.get(remote, dest, parallel=parallel, progress=progress, deadline=deadline)
        )

    def read_bytes(self, remote: str, *, deadline: float | None = None) -> bytes:
        return self._run(self.client.read_bytes(remote, deadline=deadline))

"""The async fahadfs client: namespace calls, put and get.

    async with Client(config) as c:
        await c.mkdir("/data", parents=True)
        await c.put("big.iso", "/data/big.iso", progress=print)
        await c.get("/data/big.iso", "copy.iso")

Every call has a deadline (the Client's, or ``deadline=`` per call); master calls go to the leader
through :class:`~fahadfs.client._discovery.Masters`, retried with backoff until then. Every
mutation carries a request id made once per call and reused on each retry, so the leader applies
it once. Remote failures raise ``fahadfs.errors`` classes; local file problems raise ``OSError``.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from fahadfs import errors, paths
from fahadfs.client import _download, _http, _upload
from fahadfs.client._discovery import Masters
from fahadfs.client._http import Deadline
from fahadfs.config import Config

Progress = Callable[[int], object]
_NODE_CACHE_SECONDS = 5.0
_UNSET: Any = object()


@dataclass(frozen=True)
class PutResult:
    path: str
    size: int
    version: int
    chunks: int


@dataclass(frozen=True)
class GetResult:
    path: str
    size: int
    version: int


WALK_ATTEMPT_TIMEOUT = 30.0  # a walk of a large tree is computed in one answer


def new_rid() -> str:
    """A request id: made once per mutation, reused by every retry of it."""
    return uuid.uuid4().hex


class Client:
    """Async client of one fahadfs cluster. Use as ``async with Client(config) as c``."""

    def __init__(
        self,
        config: Config,
        deadline: float | None = 30.0,
        client_id: str | None = None,
        *,
        connector_limit: int = 100,
    ) -> None:
        self.config = config
        self.deadline = deadline
        self.client_id = client_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connector_limit = connector_limit
        self._session: aiohttp.ClientSession | None = None
        self._masters: Masters | None = None
        self._rng = random.Random()
        self._inflight: dict[str, int] = {}  # node id -> chunk transfers of this client
        self._nodes: dict[str, dict[str, Any]] = {}
        self._nodes_at = -_NODE_CACHE_SECONDS

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connector_limit)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            self._masters = Masters(self._session, [m.http_address for m in self.config.masters])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._masters = None

    @property
    def leader(self) -> str | None:
        """``host:port`` of the last known leader master (``None`` before the first call)."""
        if self._masters is None or self._masters.leader is None:
            return None
        return self._masters.leader.split("://", 1)[-1]

    # -- plumbing shared with _upload / _download ---------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("fahadfs client is closed: use `async with Client(config)`")
        return self._session

    def deadline_for(self, deadline: float | None = _UNSET) -> Deadline:
        return Deadline(self.deadline if deadline is _UNSET else deadline)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        deadline: Deadline | None = None,
        what: str | None = None,
        attempt_timeout: float | None = None,
    ) -> Any:
        """One master call through leader discovery."""
        if self._masters is None:
            raise RuntimeError("fahadfs client is closed: use `async with Client(config)`")
        return await self._masters.call(
            method,
            path,
            body=body,
            params=params,
            deadline=deadline or self.deadline_for(),
            what=what,
            attempt_timeout=attempt_timeout,
        )

    async def mutate(
        self,
        op: str,
        args: dict[str, Any],
        *,
        rid: str | None = None,
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/meta/{op}`` with one request id for all retries; returns the result."""
        body = {**args, "rid": rid or new_rid()}
        where = args.get("path") or args.get("src") or ""
        out = await self.call(
            "POST", f"/v1/meta/{op}", body=body, deadline=deadline, what=f"{op} {where}".strip()
        )
        return dict(out or {})

    async def node_addresses(self, ids: set[str], deadline: Deadline) -> dict[str, dict[str, Any]]:
        """Node records by id (cached a few seconds; refreshed when an id is unknown)."""
        fresh = time.monotonic() - self._nodes_at < _NODE_CACHE_SECONDS
        if not fresh or not ids <= self._nodes.keys():
            try:
                listed = await self.nodes(deadline=deadline.remaining())
                self._nodes = {n["id"]: n for n in listed}
                self._nodes_at = time.monotonic()
            except errors.ClusterError:
                if not self._nodes:  # fall back to cluster.toml addresses
                    self._nodes = {
                        n.id: {"id": n.id, "address": n.address, "alive": True}
                        for n in self.config.nodes
                    }
        return self._nodes

    # -- namespace ----------------------------------------------------------------------------

    async def mkdir(
        self,
        path: str,
        parents: bool = False,
        *,
        rid: str | None = None,
        deadline: float | None = _UNSET,
    ) -> None:
        await self.mutate(
            "mkdir",
            {"path": paths.normalize(path), "parents": parents},
            rid=rid,
            deadline=self.deadline_for(deadline),
        )

    async def stat(self, path: str, *, deadline: float | None = _UNSET) -> dict[str, Any]:
        """The strict (read-barrier) stat of a file or directory; file stats list chunks."""
        path = paths.normalize(path)
        return dict(
            await self.call(
                "GET",
                "/v1/stat",
                params={"path": path},
                deadline=self.deadline_for(deadline),
                what=f"stat {path}",
            )
        )

    async def exists(self, path: str, *, deadline: float | None = _UNSET) -> bool:
        try:
            await self.stat(path, deadline=deadline)
        except errors.NotFound:
            return False
        return True

    async def ls(self, path: str, *, deadline: float | None = _UNSET) -> list[dict[str, Any]]:
        """Entries ``{"name", "type", "size", "mtime"}`` sorted by name (a file lists itself)."""
        path = paths.normalize(path)
        out = await self.call(
            "GET",
            "/v1/ls",
            params={"path": path},
            deadline=self.deadline_for(deadline),
            what=f"ls {path}",
        )
        return list(out["entries"])

    async def walk(
        self, path: str, *, deadline: float | None = _UNSET
    ) -> list[tuple[str, dict[str, Any]]]:
        """``(path, stat without chunks)`` for ``path`` and everything below it, depth-first."""
        path = paths.normalize(path)
        out = await self.call(
            "GET",
            "/v1/walk",
            params={"path": path},
            deadline=self.deadline_for(deadline),
            what=f"walk {path}",
            attempt_timeout=WALK_ATTEMPT_TIMEOUT,
        )
        return [(p, s) for p, s in out["entries"]]

    async def rm(
        self, path: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> None:
        await self.mutate(
            "rm", {"path": paths.normalize(path)}, rid=rid, deadline=self.deadline_for(deadline)
        )

    async def rmdir(
        self,
        path: str,
        recursive: bool = False,
        *,
        rid: str | None = None,
        deadline: float | None = _UNSET,
    ) -> None:
        await self.mutate(
            "rmdir",
            {"path": paths.normalize(path), "recursive": recursive},
            rid=rid,
            deadline=self.deadline_for(deadline),
        )

    async def mv(
        self, src: str, dst: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> None:
        await self.mutate(
            "mv",
            {"src": paths.normalize(src), "dst": paths.normalize(dst)},
            rid=rid,
            deadline=self.deadline_for(deadline),
        )

    async def cp(
        self, src: str, dst: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> int:
        """Copy a file by sharing its chunks; returns the new file's version."""
        out = await self.mutate(
            "cp",
            {"src": paths.normalize(src), "dst": paths.normalize(dst)},
            rid=rid,
            deadline=self.deadline_for(deadline),
        )
        return int(out["version"])

    # -- cluster ------------------------------------------------------------------------------

    async def nodes(self, *, deadline: float | None = _UNSET) -> list[dict[str, Any]]:
        """File nodes as the leader sees them: ``{"id", "address", "state", "alive", ...}``."""
        out = await self.call("GET", "/v1/nodes", deadline=self.deadline_for(deadline))
        return list(out["nodes"])

    async def set_node_state(
        self, node_id: str, state: str, *, rid: str | None = None, deadline: float | None = _UNSET
    ) -> None:
        """Set a node's admin state: ``active``, ``draining`` or ``decommissioned``."""
        await self.call(
            "POST",
            f"/v1/node/{node_id}/state",
            body={"state": state, "rid": rid or new_rid()},
            deadline=self.deadline_for(deadline),
            what=f"node {node_id} state {state}",
        )

    async def status(self, *, deadline: float | None = 5.0) -> dict[str, Any]:
        """``GET /status`` of every configured master (unreachable ones: ``alive: False``)."""

        async def one(address: str) -> dict[str, Any]:
            what = f"status of {address}"
            try:
                async with (
                    _http.network_errors(what),
                    self.session.get(
                        f"http://{address}/status", timeout=_http.timeout(deadline)
                    ) as resp,
                ):
                    body = await _http.result(resp, what)
                return {"address": address, "alive": True, **(body or {})}
            except errors.FahadfsError as exc:
                return {"address": address, "alive": False, "error": exc.message}

        masters = await asyncio.gather(*(one(m.http_address) for m in self.config.masters))
        leaders = [m.get("leader") for m in masters if m.get("role") == "leader"]
        return {"leader": leaders[0] if leaders else None, "masters": list(masters)}

    # -- data ---------------------------------------------------------------------------------

    async def put(
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
        """Upload a local path, bytes, or a (sync or async) byte stream to ``remote``.

        Replaces an existing file atomically at commit. ``deadline`` bounds the whole upload
        (``None``: each step is bounded by the Client's deadline, the total is not).
        """
        if parallel < 1:
            raise errors.InvalidArgument(f"parallel must be at least 1, got {parallel}")
        if chunk_size is not None and chunk_size < 1:
            raise errors.InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
        up = _upload.Upload(
            self,
            paths.normalize(remote),
            chunk_size=chunk_size or self.config.chunk_size,
            replication=replication,
            parallel=parallel,
            progress=progress,
            deadline=Deadline(deadline),
        )
        version, size, chunks = await up.run(source)
        return PutResult(path=up.path, size=size, version=version, chunks=chunks)

    async def get(
        self,
        remote: str,
        dest: _download.Dest,
        *,
        parallel: int = 4,
        progress: Progress | None = None,
        deadline: float | None = None,
    ) -> GetResult:
        """Download ``remote`` to a local path (written to a temp file, renamed when complete;
        a directory receives the remote base name) or to a writable stream (in order)."""
        if parallel < 1:
            raise errors.InvalidArgument(f"parallel must be at least 1, got {parallel}")
        down = _download.Download(
            self,
            paths.normalize(remote),
            parallel=parallel,
            progress=progress,
            deadline=Deadline(deadline),
        )
        size, version = await down.run(dest)
        return GetResult(path=down.path, size=size, version=version)

    async def read_bytes(self, remote: str, *, deadline: float | None = None) -> bytes:
        """The whole content of a (small) remote file."""
        buf = io.BytesIO()
        await self.get(remote, buf, deadline=deadline)
        return buf.getvalue()

    # -- load accounting for replica choice ---------------------------------------------------

    def pick_order(
        self,
        replicas: list[str],
        nodes: dict[str, dict[str, Any]],
        avoid: set[str] | frozenset[str] = frozenset(),
    ) -> list[str]:
        """Replicas to try: not ``avoid``-ed, live, fewest in-flight transfers, ties at random."""
        return sorted(
            replicas,
            key=lambda r: (
                r in avoid,
                not nodes.get(r, {}).get("alive", True),
                self._inflight.get(r, 0),
                self._rng.random(),
            ),
        )

    def begin(self, node: str) -> None:
        self._inflight[node] = self._inflight.get(node, 0) + 1

    def end(self, node: str) -> None:
        self._inflight[node] = self._inflight.get(node, 1) - 1

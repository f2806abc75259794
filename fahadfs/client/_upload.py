"""put: plan -> stream chunks down their pipelines -> commit (DESIGN.md "Data path").

A file larger than one chunk is written inside a session (``create`` with a lease, renewed in the
background with the chunk ids sent so far, ``release`` on failure); one that fits in one chunk
(including an empty one) skips the session: plan -> PUT -> commit without a lease, one Raft op.

Checksums: for a local file the CRC32C is computed *while sending* (one read of the file, never a
whole chunk in memory) and ``X-Fahadfs-Checksum`` is not sent; instead the client checks that
every ack carries its checksum (and the master checks it again at commit: the three-way check).
For bytes and spooled stream chunks the checksum is known before sending and the header is sent,
so the first node rejects a corrupted transfer itself.

A chunk whose PUT fails (network error, 5xx, a 502 naming a failed node, a disagreeing ack) is
re-planned alone (``count: 1``, ``exclude``: the failed nodes) and sent again, a few times.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fahadfs import errors
from fahadfs.checksum import Checksum
from fahadfs.client import _http
from fahadfs.client._discovery import base_url
from fahadfs.client._transfer import (
    MIN_RATE,
    FilePayload,
    MemoryPayload,
    Payload,
    ProgressTracker,
    Source,
    SourceChanged,
    SpoolPayload,
    run_bounded,
    stream_reader,
)

if TYPE_CHECKING:
    from fahadfs.client.core import Client, Progress

MAX_ATTEMPTS = 4  # sends of one chunk (the first + re-plans)

__all__ = ["Source", "Upload"]


# -- the upload ------------------------------------------------------------------------------


@dataclass
class _Placed:
    """Where one chunk goes: its id, ordered pipeline and write token (from a plan)."""

    id: int
    pipeline: list[dict[str, Any]]
    token: str


@dataclass
class _Sent:
    index: int
    id: int
    size: int
    checksum: int
    acks: list[dict[str, Any]]


@dataclass
class _Session:
    lease_id: str
    token: int
    sent: list[int] = field(default_factory=list)  # chunk ids sent (pending in the session)


class Upload:
    """One ``put``: owns its plan, session, renewal task and chunk sends."""

    def __init__(
        self,
        client: Client,
        path: str,
        *,
        chunk_size: int,
        replication: int | None,
        parallel: int,
        progress: Progress | None,
        deadline: _http.Deadline,
    ) -> None:
        self.client, self.path = client, path
        self.chunk_size, self.replication, self.parallel = chunk_size, replication, parallel
        self.progress = ProgressTracker(progress)
        self.deadline = deadline
        self.session: _Session | None = None
        self.dead: set[str] = set()  # first nodes found unreachable by any chunk of this put

    def _step(self) -> _http.Deadline:
        """A deadline for one metadata step: the Client's, within the whole upload's."""
        return _http.Deadline(self.deadline.cap(self.client.deadline))

    async def run(self, source: Source) -> tuple[int, int, int]:
        """Upload ``source``; returns ``(version, size, chunk count)``."""
        if isinstance(source, bytes | bytearray | memoryview):
            view = memoryview(source).cast("B")
            return await self._run_known(
                len(view), lambda off, n: MemoryPayload(view[off : off + n])
            )
        if isinstance(source, str | os.PathLike):
            local = os.fspath(source)
            st = await asyncio.to_thread(os.stat, local)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", local)
            size = st.st_size
            return await self._run_known(size, lambda off, n: FilePayload(local, off, n))
        return await self._run_stream(stream_reader(source))

    # -- known size: one plan for the whole file

    async def _run_known(
        self, size: int, payload_at: Callable[[int, int], Payload]
    ) -> tuple[int, int, int]:
        if size > self.chunk_size:
            await self._open_session()
        try:
            chunks = (await self._plan(size))["chunks"] if size else []
            _check_plan(chunks, size, self.path)

            def job(i: int, c: dict[str, Any]) -> Callable[[], Awaitable[_Sent]]:
                placed = _Placed(int(c["id"]), list(c["pipeline"]), c["token"])
                return lambda: self._send_chunk(i, placed, payload_at(c["offset"], c["size"]))

            sent = await self._with_renewal(
                run_bounded([job(i, c) for i, c in enumerate(chunks)], self.parallel)
            )
            version = await self._commit(size, sent)
        except BaseException:
            await self._abort()
            raise
        return version, size, len(sent)

    # -- unknown size: spool chunk by chunk, plan each one

    async def _run_stream(self, read: Callable[[int], Awaitable[bytes]]) -> tuple[int, int, int]:
        first = await self._spool(read)
        second = await self._spool(read) if first.size == self.chunk_size else None
        if second is not None and second.size == 0:
            second.close()
            second = None
        try:
            if second is None:  # fits in one chunk: no session
                sent = [await self._send_chunk(0, None, first)] if first.size else []
                version = await self._commit(first.size, sent)
                return version, first.size, len(sent)
            await self._open_session()
            sent = await self._with_renewal(self._stream_chunks(read, [first, second]))
            size = sum(s.size for s in sent)
            version = await self._commit(size, sent)
            return version, size, len(sent)
        except BaseException:
            await self._abort()
            raise
        finally:
            first.close()
            if second is not None:
                second.close()

    async def _spool(self, read: Callable[[int], Awaitable[bytes]]) -> SpoolPayload:
        p = SpoolPayload()
        try:
            await p.fill(read, self.chunk_size)
        except BaseException:
            p.close()
            raise
        return p

    async def _stream_chunks(
        self, read: Callable[[int], Awaitable[bytes]], ready: list[SpoolPayload]
    ) -> list[_Sent]:
        """Read the stream chunk by chunk with at most ``parallel`` chunks spooled or sending."""
        slots = asyncio.Semaphore(self.parallel)
        tasks: list[asyncio.Task[_Sent]] = []

        async def send(i: int, p: SpoolPayload) -> _Sent:
            try:
                return await self._send_chunk(i, None, p)
            finally:
                p.close()
                slots.release()

        try:
            index, eof = 0, False
            while not eof:
                await slots.acquire()
                if ready:
                    p = ready.pop(0)
                else:
                    p = await self._spool(read)
                    if p.size == 0:
                        p.close()
                        slots.release()
                        break
                eof = p.size < self.chunk_size
                tasks.append(asyncio.create_task(send(index, p)))
                index += 1
                failed = [t for t in tasks if t.done() and t.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
            return list(await asyncio.gather(*tasks))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for p in ready:
                p.close()

    # -- session

    async def _open_session(self) -> None:
        lease_id = uuid.uuid4().hex
        out = await self.client.mutate(
            "create",
            {
                "path": self.path,
                "holder": self.client.client_id,
                "lease_id": lease_id,
                "ttl_ms": self._ttl_ms(),
                "replication": self.replication,
            },
            deadline=self._step(),
        )
        self.session = _Session(lease_id=out.get("lease_id", lease_id), token=int(out["token"]))

    def _ttl_ms(self) -> int:
        return max(1000, int(self.client.config.timeouts.session * 1000))

    async def _with_renewal(self, work: Awaitable[list[_Sent]]) -> list[_Sent]:
        """Await ``work`` while renewing the session; a lost session cancels the work."""
        if self.session is None:
            return await work
        main = asyncio.ensure_future(work)
        renew = asyncio.create_task(self._renew_forever(self.session))
        try:
            await asyncio.wait([main, renew], return_when=asyncio.FIRST_COMPLETED)
            if not main.done():  # renewal only ends by losing the session
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
                renew.result()
            return main.result()
        finally:
            for t in (main, renew):
                t.cancel()
            await asyncio.gather(main, renew, return_exceptions=True)

    async def _renew_forever(self, session: _Session) -> None:
        ttl = self._ttl_ms() / 1000
        loop = asyncio.get_running_loop()
        expires = loop.time() + ttl
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                await self.client.mutate(
                    "renew",
                    {
                        "path": self.path,
                        "lease_id": session.lease_id,
                        "ttl_ms": self._ttl_ms(),
                        "chunks": list(session.sent),
                    },
                    deadline=_http.Deadline(max(0.1, min(ttl / 3, expires - loop.time()))),
                )
                expires = loop.time() + ttl
            except errors.ClusterError:
                if loop.time() >= expires:
                    raise errors.StaleSession(
                        f"put {self.path}: session lost (could not renew before it expired)"
                    ) from None

    async def _abort(self) -> None:
        """Release the session (best effort, never raises): its chunks become garbage."""
        session, self.session = self.session, None
        if session is None:
            return
        release = asyncio.ensure_future(
            self.client.mutate(
                "release",
                {"path": self.path, "lease_id": session.lease_id},
                deadline=_http.Deadline(min(5.0, self.client.deadline or 5.0)),
            )
        )
        # Shielded so a cancelled put still releases; its outcome is read even then.
        release.add_done_callback(lambda t: t.cancelled() or t.exception())
        with contextlib.suppress(errors.FahadfsError):
            await asyncio.shield(release)

    # -- plan / commit

    async def _plan(
        self, size: int, exclude: set[str] | None = None, count: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "size": size, "chunk_size": self.chunk_size}
        if self.replication is not None:
            body["replication"] = self.replication
        if exclude:
            body["exclude"] = sorted(exclude)
        if count is not None:
            body["count"] = count
        return dict(
            await self.client.call(
                "POST", "/v1/plan", body=body, deadline=self._step(), what=f"plan {self.path}"
            )
        )

    async def _replan(self, size: int, exclude: set[str]) -> _Placed:
        plan = await self._plan(size, exclude, count=1)
        if not plan.get("chunks"):
            raise errors.NotEnoughNodes(f"plan {self.path}: no placement for a {size}-byte chunk")
        c = plan["chunks"][0]
        return _Placed(int(c["id"]), list(c["pipeline"]), c["token"])

    async def _commit(self, size: int, sent: list[_Sent]) -> int:
        s = self.session
        body = {
            "path": self.path,
            "rid": uuid.uuid4().hex,
            "lease_id": s.lease_id if s else None,
            "token": s.token if s else None,
            "size": size,
            "chunks": [
                {
                    "id": c.id,
                    "size": c.size,
                    "checksum": c.checksum,
                    "acks": [{"node": a["node"], "checksum": a["checksum"]} for a in c.acks],
                }
                for c in sent
            ],
        }
        if self.replication is not None:
            body["replication"] = self.replication
        out = await self.client.call(
            "POST", "/v1/commit", body=body, deadline=self._step(), what=f"commit {self.path}"
        )
        self.session = None  # closed by the commit
        return int(out["version"])

    # -- one chunk

    async def _send_chunk(self, index: int, placed: _Placed | None, payload: Payload) -> _Sent:
        """Send one chunk, re-planning it away from failed nodes; the last error after
        MAX_ATTEMPTS sends."""
        exclude: set[str] = set()
        attempt = 0
        last: errors.FahadfsError | None = None
        while True:
            if placed is not None and self.dead & {n["id"] for n in placed.pipeline}:
                # Another chunk found a node of this pipeline dead: move before sending.
                with contextlib.suppress(errors.FahadfsError):
                    placed = await self._replan(payload.size, exclude | self.dead)
            if placed is None:
                try:
                    placed = await self._replan(payload.size, exclude)
                except errors.FahadfsError as exc:
                    if last is None:
                        raise
                    # The send error is the root cause; say why no other placement was tried.
                    msg = f"{last.message} (re-planning it failed: {exc.message})"
                    raise type(last)(msg, **last.details) from exc
            attempt += 1
            if self.session is not None:
                self.session.sent.append(placed.id)
            try:
                return await self._put(index, placed, payload)
            except SourceChanged:
                raise
            except errors.FahadfsError as exc:
                if attempt >= MAX_ATTEMPTS or not _chunk_retryable(exc) or self.deadline.expired:
                    raise
                failed = _failed_nodes(exc, placed.pipeline)
                if isinstance(exc, errors.Unavailable) and "http_status" not in exc.details:
                    self.dead |= failed
                exclude |= failed
                last, placed = exc, None

    async def _put(self, index: int, placed: _Placed, payload: Payload) -> _Sent:
        first, rest = placed.pipeline[0], placed.pipeline[1:]
        hexid = f"{placed.id:016x}"
        what = f"put chunk {hexid} of {self.path} to {first['id']} ({first['address']})"
        headers = {
            "X-Fahadfs-Token": placed.token,
            "Content-Length": str(payload.size),
            "Content-Type": "application/octet-stream",
            "Accept": _http.CBOR,
        }
        if rest:
            headers["X-Fahadfs-Pipeline"] = ",".join(n["address"] for n in rest)
        if payload.checksum is not None:
            headers["X-Fahadfs-Checksum"] = str(payload.checksum)
        summer = Checksum()
        source_error: list[BaseException] = []

        async def body() -> AsyncIterator[bytes | memoryview]:
            pos = 0
            try:
                async for piece in payload.pieces():
                    summer.update(piece)
                    yield piece
                    pos += len(piece)
                    self.progress.update(index, pos)
            except SourceChanged as exc:
                source_error.append(exc)
                raise

        limit = self.deadline.cap((self.client.deadline or 30.0) + payload.size / MIN_RATE)
        url = f"{base_url(first['address'])}/v1/chunk/{hexid}"
        self.client.begin(first["id"])
        try:
            async with (
                _http.network_errors(what),
                self.client.session.put(
                    url, data=body(), headers=headers, timeout=_http.timeout(limit)
                ) as resp,
            ):
                out = await _http.result(resp, what)
        except errors.FahadfsError:
            if source_error:
                raise source_error[0] from None
            raise
        finally:
            self.client.end(first["id"])
        acks = list((out or {}).get("acks") or [])
        _check_acks(acks, placed, payload.size, summer.value, what)
        return _Sent(index, placed.id, payload.size, summer.value, acks)


def _check_plan(chunks: list[dict[str, Any]], size: int, path: str) -> None:
    offset = 0
    for c in chunks:
        if c["offset"] != offset or c["size"] <= 0 or not c["pipeline"]:
            raise errors.FahadfsError(f"plan {path}: malformed chunk list at offset {offset}")
        offset += c["size"]
    if offset != size:
        raise errors.FahadfsError(f"plan {path}: chunks cover {offset} of {size} bytes")


def _check_acks(
    acks: list[dict[str, Any]], placed: _Placed, size: int, checksum: int, what: str
) -> None:
    """Every node of the pipeline acked this chunk with the client's checksum and size."""
    by_node = {a.get("node"): a for a in acks}
    bad = [
        n["id"]
        for n in placed.pipeline
        if n["id"] not in by_node
        or by_node[n["id"]].get("checksum") != checksum
        or by_node[n["id"]].get("size", size) != size
    ]
    if bad:
        raise errors.IntegrityError(
            f"{what}: nodes {', '.join(bad)} did not ack checksum {checksum} for {size} bytes",
            nodes=bad,
        )


def _chunk_retryable(exc: errors.FahadfsError) -> bool:
    """A failed chunk send is worth re-planning unless the request itself is wrong."""
    return not isinstance(exc, errors.NamespaceError | errors.SessionError | errors.ConfigError)


def _failed_nodes(exc: errors.FahadfsError, pipeline: list[dict[str, Any]]) -> set[str]:
    """Node ids to exclude after ``exc``: those the error names, else the first node when it
    failed itself (unreachable, full, 5xx of its own); an unnamed 502 excludes nobody."""
    ids = {n["id"] for n in pipeline}
    by_address = {n["address"]: n["id"] for n in pipeline}
    named: set[str] = set()
    for key in ("node", "nodes", "failed", "failed_node", "address"):
        value = exc.details.get(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                if v in ids:
                    named.add(v)
                elif v in by_address:
                    named.add(by_address[v])
    if named:
        return named
    if exc.details.get("http_status") == 502 or isinstance(exc, errors.Forbidden):
        return set()
    return {pipeline[0]["id"]}

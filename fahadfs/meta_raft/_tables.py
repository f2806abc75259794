"""The tables of the metadata state and the helpers every op shares (see docs/STATE.md).

``_Tables`` owns the data; the op mixins (``_namespace_ops``, ``_write_ops``) and ``MetaState``
build on it. Shared rules live here: reference counting and garbage, and the session checks
(busy, stale, reaping expired sessions) that several ops apply to a path or a subtree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

from fahadfs.errors import Busy, ChunkNotFound, InvalidArgument, StaleSession
from fahadfs.meta_raft import _records as rec
from fahadfs.meta_raft._namespace import _Dir
from fahadfs.paths import split

Result = dict[str, Any]
# The request table keeps the results of the last RID_MAX requests (a retry arrives within a
# client deadline, far sooner than this many newer requests).
RID_MAX = 300_000


class _Session(NamedTuple):
    holder: str
    lease_id: str
    token: int
    expires: int
    replication: int | None
    pending: tuple[int, ...]


def _split(op: str, path: str) -> tuple[str, ...]:
    try:
        return split(path)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{op} {path!r}: {exc.message}") from None


def _within(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


def _busy(what: str, path: str, session: _Session) -> Busy:
    where = "" if what.split(" ", 1)[-1] == path else f" {path}"
    return Busy(
        f"{what}:{where} busy, held by {session.holder} until {session.expires}",
        holder=session.holder,
        expires=session.expires,
    )


class _Tables:
    """The replicated data: tree, chunk table, nodes, sessions, request ids, counters."""

    def __init__(self) -> None:
        self._root = _Dir(0)
        self._chunks: dict[int, bytes] = {}
        self._node_ids: list[str] = []
        self._node_index: dict[str, int] = {}
        self._nodes: dict[str, tuple[str, int, str]] = {}
        self._sessions: dict[str, _Session] = {}
        self._rids: dict[str, tuple[int, Result]] = {}
        self._rid_order: deque[str] = deque()
        self._counter = 0
        self._files = 0
        self._dirs = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _own_session(self, what: str, canon: str, lease_id: str, now: int) -> _Session:
        session = self._sessions.get(canon)
        if session is None or session.lease_id != lease_id or session.expires <= now:
            raise StaleSession(f"{what}: no live session with lease {lease_id}")
        return session

    def _check_idle(self, what: str, canon: str, now: int, subtree: bool) -> None:
        """Raise Busy if a live session is on ``canon`` (or below it, with ``subtree``)."""
        if subtree:
            found = [p for p in self._sessions if _within(p, canon)]
            paths = sorted(found)
        else:
            paths = [canon] if canon in self._sessions else []
        for path in paths:
            session = self._sessions[path]
            if session.expires > now:
                raise _busy(what, path, session)

    def _close_expired(self, canon: str, subtree: bool) -> list[int]:
        """Drop the sessions on or below ``canon`` (checked idle first); their pending ids."""
        if subtree:
            paths = sorted(p for p in self._sessions if _within(p, canon))
        else:
            paths = [canon] if canon in self._sessions else []
        pending: list[int] = []
        for path in paths:
            pending.extend(self._sessions.pop(path).pending)
        return pending

    def _unref(self, ids: Iterable[int]) -> list[Result]:
        """Drop one reference to each chunk; the ones that reach zero, as garbage."""
        dropped = []
        for cid in ids:
            chunk = self._chunks.get(cid)
            if chunk is None:
                continue
            refs = rec.chunk_refs(chunk) - 1
            if refs > 0:
                self._chunks[cid] = rec.chunk_with_refs(chunk, refs)
            else:
                del self._chunks[cid]
                dropped.append({"id": cid, "replicas": self._names(rec.chunk_replicas(chunk))})
        return dropped

    def _garbage(self, dropped: list[Result], pending: Iterable[int]) -> list[Result]:
        """Dropped chunks plus pending ids nothing references, sorted by id."""
        out = {item["id"]: item for item in dropped}
        for cid in pending:
            if cid not in out and cid not in self._chunks:
                out[cid] = {"id": cid, "replicas": []}
        return [out[cid] for cid in sorted(out)]

    def _names(self, indices: Iterable[int]) -> list[str]:
        return [self._node_ids[i] for i in indices]

    def _chunk_of(self, what: str, chunk_id: int) -> bytes:
        chunk = self._chunks.get(chunk_id)
        if chunk is None:
            raise ChunkNotFound(f"{what}: no such chunk {chunk_id}")
        return chunk

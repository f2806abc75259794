"""The metadata state machine: namespace, chunks, replica map, sessions, nodes (docs/STATE.md).

Pure and deterministic: time and ids arrive inside commands, iteration is sorted wherever it
reaches an output, and nothing here does I/O. One Raft log entry is one batch
``{"now": ms, "ops": [...]}``; :meth:`MetaState.apply_entry` answers one result per op and never
raises. Every op validates fully before it mutates, so a failed op leaves the state as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import cbor2

from fahadfs.errors import FahadfsError, InvalidArgument
from fahadfs.meta_raft import _records as rec
from fahadfs.meta_raft._args import SCHEMA, check_args
from fahadfs.meta_raft._namespace import (
    _Dir,
    dump_tree,
    intern,
    iter_tree,
    load_tree,
    lookup,
)
from fahadfs.meta_raft._namespace_ops import _NamespaceOps
from fahadfs.meta_raft._tables import RID_MAX, Result, _Session, _split
from fahadfs.meta_raft._write_ops import _WriteOps
from fahadfs.paths import join

__all__ = ["RID_MAX", "MetaState"]

SNAPSHOT_FORMAT = "fahadfs-meta"
SNAPSHOT_VERSION = 1


class ChunkTable:
    """A frozen chunk table: iterates like MetaState.iter_chunks."""

    __slots__ = ("_chunks", "_node_ids")

    def __init__(self, chunks: dict[int, bytes], node_ids: tuple[str, ...]) -> None:
        self._chunks = chunks
        self._node_ids = node_ids

    def __len__(self) -> int:
        return len(self._chunks)

    def __iter__(self) -> Iterator[tuple[int, int, int, tuple[str, ...], int]]:
        chunks, node_ids, head = self._chunks, self._node_ids, rec.CHUNK_HEAD.unpack_from
        for cid in sorted(chunks):
            chunk = chunks[cid]
            size, _checksum, generation, _refs, replication = head(chunk)
            names = tuple([node_ids[i] for i in rec.chunk_replicas(chunk)])
            yield cid, size, generation, names, replication


class MetaState(_NamespaceOps, _WriteOps):
    """The whole replicated metadata of a cluster; see docs/STATE.md for every op."""

    # ----------------------------------------------------------------- applying entries

    def apply_entry(self, entry: Any) -> list[Result]:
        """Apply one batch ``{"now", "ops"}``; one result per op. Never raises."""
        ops = entry.get("ops") if isinstance(entry, dict) else None
        if not isinstance(ops, list):
            return [_failure(InvalidArgument("batch must be {'now': int, 'ops': list}"))]
        now = entry.get("now")
        if type(now) is not int or now < 0:
            bad = InvalidArgument(f"batch: now must be a non-negative int, got {now!r}")
            return [_failure(bad) for _ in ops]
        try:
            self._prune_rids(now)
        except Exception as exc:  # last resort: a raising command would wedge every replica
            return [_internal("batch", exc) for _ in ops]
        return [self._apply_one(now, op) for op in ops]

    def _apply_one(self, now: int, op: Any) -> Result:
        name = op.get("op") if isinstance(op, dict) else None
        try:
            if not isinstance(op, dict):
                return _failure(InvalidArgument(f"op must be a dict, got {type(op).__name__}"))
            rid = op.get("rid")
            if rid is not None and not isinstance(rid, str):
                return _failure(InvalidArgument(f"{name}: rid must be a string or None"))
            if rid and rid in self._rids:
                return {**self._rids[rid][1], "dup": True}
            result = self._run(now, op)
            if rid:
                self._rids[rid] = (now, result)
                self._rid_order.append(rid)
            return dict(result)
        except Exception as exc:
            return _internal(str(name), exc)

    def _run(self, now: int, op: dict[str, Any]) -> Result:
        name = op.get("op")
        try:
            if not isinstance(name, str) or name not in SCHEMA:
                raise InvalidArgument(f"unknown op {name!r}")
            fields = getattr(self, f"_op_{name}")(now, **check_args(name, op))
        except FahadfsError as exc:
            return _failure(exc)
        return {"ok": True, **fields}

    def _prune_rids(self, now: int) -> None:
        order, rids = self._rid_order, self._rids
        # By count only, never by age: ``now`` is the leader's clock, and a leader whose clock
        # jumped forward would otherwise forget ids that clients are still retrying.
        while len(order) > RID_MAX:
            del rids[order.popleft()]

    # ----------------------------------------------------------------- queries

    def stat(self, path: str) -> Result:
        """Stat of a file (with its chunks) or a directory; raises NotFound and friends."""
        parts = _split("stat", path)
        node = lookup(self._root, parts, f"stat {join(parts)}")
        out = self._stat(join(parts), node)
        if isinstance(node, bytes):
            out["chunks"] = [self._chunk_view(cid) for cid in rec.file_chunks(node)]
        return out

    def ls(self, path: str) -> list[Result]:
        """Entries of a directory sorted by name; a file path lists itself."""
        parts = _split("ls", path)
        node = lookup(self._root, parts, f"ls {join(parts)}")
        if isinstance(node, bytes):
            items: Iterable[tuple[str, _Dir | bytes]] = [(parts[-1], node)]
        else:
            items = sorted(node.children.items())
        out = []
        for name, child in items:
            if isinstance(child, bytes):
                size, mtime = rec.FILE_HEAD.unpack_from(child)[:2]
                out.append({"name": name, "type": "file", "size": size, "mtime": mtime})
            else:
                out.append({"name": name, "type": "dir", "size": 0, "mtime": child.mtime})
        return out

    def walk(self, path: str) -> Iterator[tuple[str, Result]]:
        """``(path, stat without chunks)`` for ``path`` and below, depth-first, sorted."""
        parts = _split("walk", path)
        node = lookup(self._root, parts, f"walk {join(parts)}")
        for here, item in iter_tree(node, join(parts)):
            yield here, self._stat(here, item)

    def _stat(self, path: str, node: _Dir | bytes) -> Result:
        if isinstance(node, bytes):
            size, mtime, version, replication = rec.FILE_HEAD.unpack_from(node)
            return {
                "path": path,
                "type": "file",
                "size": size,
                "mtime": mtime,
                "version": version,
                "replication": replication,
            }
        entries = len(node.children)
        return {"path": path, "type": "dir", "size": 0, "mtime": node.mtime, "entries": entries}

    def _chunk_view(self, chunk_id: int) -> Result:
        c = rec.unpack_chunk(self._chunks[chunk_id])
        return {
            "id": chunk_id,
            "size": c.size,
            "checksum": c.checksum,
            "generation": c.generation,
            "replicas": self._names(c.replicas),
        }

    def session(self, path: str) -> Result | None:
        """The session record on ``path``, live or not, or None."""
        canon = join(_split("session", path))
        s = self._sessions.get(canon)
        if s is None:
            return None
        return {
            "path": canon,
            "holder": s.holder,
            "lease_id": s.lease_id,
            "token": s.token,
            "expires": s.expires,
            "replication": s.replication,
            "pending": list(s.pending),
        }

    def nodes(self) -> list[Result]:
        """Registered nodes in index order."""
        out = []
        for index, node_id in enumerate(self._node_ids):
            address, capacity, state = self._nodes[node_id]
            out.append(
                {
                    "id": node_id,
                    "index": index,
                    "address": address,
                    "capacity": capacity,
                    "state": state,
                }
            )
        return out

    def chunk(self, chunk_id: int) -> Result | None:
        """One chunk's record with its reference count, or None."""
        if chunk_id not in self._chunks:
            return None
        out = self._chunk_view(chunk_id)
        out["refs"] = rec.chunk_refs(self._chunks[chunk_id])
        return out

    def iter_chunks(self) -> Iterator[tuple[int, int, int, tuple[str, ...], int]]:
        """``(id, size, generation, replica node ids, replication)`` sorted by id.

        ``replication`` is the factor of the file that committed the chunk (0 means "the
        cluster default"; copies made by cp share it).
        """
        return iter(ChunkTable(self._chunks, tuple(self._node_ids)))

    def chunk_table(self) -> ChunkTable:
        """A cheap frozen copy of the chunk table (a dict copy: records are immutable bytes).

        Take it under the shared lock, iterate it outside: the healer's pass then holds the
        lock for milliseconds, not for the seconds a million-chunk scan takes."""
        return ChunkTable(dict(self._chunks), tuple(self._node_ids))

    def pending_chunks(self) -> set[int]:
        """Chunk ids uploaded within open (not yet reaped) sessions."""
        return {cid for s in self._sessions.values() for cid in s.pending}

    def counts(self) -> dict[str, int]:
        """Sizes of the state; ``dirs`` does not count the root."""
        return {
            "files": self._files,
            "dirs": self._dirs,
            "chunks": len(self._chunks),
            "sessions": len(self._sessions),
            "nodes": len(self._node_ids),
        }

    # ----------------------------------------------------------------- snapshots

    def snapshot(self) -> bytes:
        """The whole state as CBOR; equal states give equal bytes.

        A map ``{"format": "fahadfs-meta", "v": 1, "counter", "tree", "chunks", "nodes",
        "sessions", "rids"}``: ``tree`` is the directories in sorted preorder as rows
        ``[parent row, name, mtime, {file name: file record}]`` (row 0 is the root, parent -1);
        ``chunks`` maps chunk id to chunk record (records as in ``_records``); ``nodes`` is
        ``[id, address, capacity, state]`` in index order; ``sessions`` is ``[path, holder,
        lease_id, token, expires, replication, [pending ids]]`` sorted by path; ``rids`` is
        ``[rid, now, result]`` oldest first.

        Every map is written in sorted key order (for the int-keyed chunk map this is exactly
        canonical CBOR). cbor2's own ``canonical=True`` is not used: re-sorting a million
        encoded keys made it take 5-6 s instead of about 2.
        """
        chunks = self._chunks
        ids = sorted(chunks)
        body = {
            "format": SNAPSHOT_FORMAT,
            "v": SNAPSHOT_VERSION,
            "counter": self._counter,
            "tree": dump_tree(self._root),
            "chunks": dict(zip(ids, map(chunks.__getitem__, ids), strict=True)),
            "nodes": [[node_id, *self._nodes[node_id]] for node_id in self._node_ids],
            "sessions": [
                [path, *s[:5], list(s.pending)] for path, s in sorted(self._sessions.items())
            ],
            "rids": [[rid, *self._rids[rid]] for rid in self._rid_order],
        }
        return cbor2.dumps(body)

    @classmethod
    def from_snapshot(cls, data: bytes) -> MetaState:
        """Rebuild a state from :meth:`snapshot` bytes; ValueError on an unknown format."""
        body = cbor2.loads(data)
        if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not a fahadfs metadata snapshot")
        if body.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {body.get('v')!r}")
        state = cls()
        state._counter = body["counter"]
        state._root, state._files, state._dirs = load_tree(body["tree"])
        state._chunks = body["chunks"]
        for node_id, address, capacity, admin_state in body["nodes"]:
            state._node_index[intern(node_id)] = len(state._node_ids)
            state._node_ids.append(intern(node_id))
            state._nodes[intern(node_id)] = (address, capacity, admin_state)
        for path, holder, lease_id, token, expires, replication, pending in body["sessions"]:
            state._sessions[path] = _Session(
                holder, lease_id, token, expires, replication, tuple(pending)
            )
        for rid, now, result in body["rids"]:
            state._rids[rid] = (now, result)
            state._rid_order.append(rid)
        return state


def _failure(exc: FahadfsError) -> Result:
    return {"ok": False, **exc.to_wire()}


def _internal(what: str, exc: Exception) -> Result:
    return {"ok": False, "code": "EIO", "message": f"{what}: internal error: {exc!r}"}

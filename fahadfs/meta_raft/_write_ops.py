"""Write-session, commit, chunk and node ops of the state machine."""

from __future__ import annotations

from fahadfs.errors import AlreadyExists, InvalidArgument, IsADirectory, NotFound, StaleSession
from fahadfs.meta_raft import _records as rec
from fahadfs.meta_raft._namespace import intern, parent_dir
from fahadfs.meta_raft._tables import Result, _busy, _Session, _split, _Tables
from fahadfs.paths import join


class _WriteOps(_Tables):
    """Write sessions (create/renew/release/expire), commit, the replica map and the nodes."""

    def _op_create(
        self,
        now: int,
        path: str,
        holder: str,
        lease_id: str,
        ttl_ms: int,
        replication: int | None,
        overwrite: bool,
    ) -> Result:
        parts = _split("create", path)
        canon, what = join(parts), f"create {join(parts)}"
        if not parts:
            raise IsADirectory(f"{what}: is a directory")
        existing = parent_dir(self._root, parts, what).children.get(parts[-1])
        if existing is not None and not isinstance(existing, bytes):
            raise IsADirectory(f"{what}: is a directory")
        old = self._sessions.get(canon)
        if old is not None and old.expires > now:
            if old.lease_id == lease_id and old.holder == holder:
                self._sessions[canon] = old._replace(expires=now + ttl_ms)
                return {
                    "token": old.token,
                    "lease_id": lease_id,
                    "expires": now + ttl_ms,
                    "garbage": [],
                }
            raise _busy(what, canon, old)
        if existing is not None and not overwrite:
            raise AlreadyExists(f"{what}: file exists")
        token = self._next()
        self._sessions[canon] = _Session(holder, lease_id, token, now + ttl_ms, replication, ())
        garbage = self._garbage([], old.pending if old else ())
        return {"token": token, "lease_id": lease_id, "expires": now + ttl_ms, "garbage": garbage}

    def _op_renew(
        self, now: int, path: str, lease_id: str, ttl_ms: int, chunks: tuple[int, ...]
    ) -> Result:
        canon = join(_split("renew", path))
        session = self._own_session(f"renew {canon}", canon, lease_id, now)
        pending = tuple(sorted(set(session.pending).union(chunks)))
        self._sessions[canon] = session._replace(expires=now + ttl_ms, pending=pending)
        return {"expires": now + ttl_ms}

    def _op_release(self, now: int, path: str, lease_id: str) -> Result:
        canon = join(_split("release", path))
        session = self._own_session(f"release {canon}", canon, lease_id, now)
        del self._sessions[canon]
        return {"garbage": self._garbage([], session.pending)}

    def _op_expire_sessions(self, now: int) -> Result:
        pending: list[int] = []
        for path in sorted(self._sessions):
            if self._sessions[path].expires <= now:
                pending.extend(self._sessions.pop(path).pending)
        return {"garbage": self._garbage([], pending)}

    def _op_commit(
        self,
        now: int,
        path: str,
        lease_id: str | None,
        token: int | None,
        size: int,
        chunks: tuple[tuple[int, int, int, tuple[str, ...]], ...],
        replication: int | None,
        mtime: int | None,
    ) -> Result:
        parts = _split("commit", path)
        canon, what = join(parts), f"commit {join(parts)}"
        if not parts:
            raise IsADirectory(f"{what}: is a directory")
        parent = parent_dir(self._root, parts, what)
        old = parent.children.get(parts[-1])
        if old is not None and not isinstance(old, bytes):
            raise IsADirectory(f"{what}: is a directory")
        live = self._commit_session(what, canon, lease_id, token, now)
        self._check_new_chunks(what, size, chunks)
        if replication is None and live is not None:
            replication = live.replication
        if replication is None:
            replication = rec.file_replication(old) if old is not None else 0
        # Everything is valid: mutate.
        for cid, csize, checksum, nodes in chunks:
            indices = [self._node_index[node] for node in nodes]
            self._chunks[cid] = rec.pack_chunk(csize, checksum, 0, 1, replication, indices)
        version = self._next()
        ids = [chunk[0] for chunk in chunks]
        record = rec.pack_file(size, now if mtime is None else mtime, version, replication, ids)
        parent.children[parts[-1]] = record
        pending = self._close_expired(canon, subtree=False)
        dropped: list[Result] = []
        if old is None:
            self._files += 1
            parent.mtime = now
        else:
            dropped = self._unref(rec.file_chunks(old))
        return {"version": version, "garbage": self._garbage(dropped, pending)}

    def _commit_session(
        self, what: str, canon: str, lease_id: str | None, token: int | None, now: int
    ) -> _Session | None:
        """The live session a commit may close: none without a lease, the matching one with."""
        live = self._sessions.get(canon)
        if live is not None and live.expires <= now:
            live = None
        if lease_id is None:
            if live is not None:
                raise _busy(what, canon, live)
            return None
        if live is None:
            raise StaleSession(f"{what}: no live session with lease {lease_id}")
        if live.lease_id != lease_id:
            raise _busy(what, canon, live)
        if live.token != token:
            raise StaleSession(f"{what}: token {token} superseded by {live.token}")
        return live

    def _check_new_chunks(
        self, what: str, size: int, chunks: tuple[tuple[int, int, int, tuple[str, ...]], ...]
    ) -> None:
        seen: set[int] = set()
        total = 0
        for cid, csize, _checksum, nodes in chunks:
            if cid in seen:
                raise InvalidArgument(f"{what}: chunk {cid} listed twice")
            if cid in self._chunks:
                raise AlreadyExists(f"{what}: chunk {cid} already exists")
            if len(set(nodes)) != len(nodes):
                raise InvalidArgument(f"{what}: chunk {cid} has duplicate replicas")
            for node in nodes:
                if node not in self._node_index:
                    raise InvalidArgument(f"{what}: chunk {cid} replica {node} is not registered")
            seen.add(cid)
            total += csize
        if total != size:
            raise InvalidArgument(f"{what}: chunk sizes add up to {total}, not size {size}")

    def _op_replica_add(self, now: int, chunk_id: int, node_id: str) -> Result:
        what = f"replica_add {chunk_id} {node_id}"
        chunk = self._chunk_of(what, chunk_id)
        if node_id not in self._node_index:
            raise NotFound(f"{what}: no such node {node_id}")
        replicas = rec.chunk_replicas(chunk)
        index = self._node_index[node_id]
        if index not in replicas:
            self._chunks[chunk_id] = rec.chunk_with_replicas(chunk, (*replicas, index))
        return {}

    def _op_replica_remove(self, now: int, chunk_id: int, node_id: str) -> Result:
        chunk = self._chunk_of(f"replica_remove {chunk_id} {node_id}", chunk_id)
        index = self._node_index.get(node_id)
        replicas = rec.chunk_replicas(chunk)
        if index in replicas:
            kept = tuple(i for i in replicas if i != index)
            self._chunks[chunk_id] = rec.chunk_with_replicas(chunk, kept)
        return {}

    def _op_bump_generation(self, now: int, chunk_id: int) -> Result:
        what = f"bump_generation {chunk_id}"
        chunk = self._chunk_of(what, chunk_id)
        generation = rec.unpack_chunk(chunk).generation + 1
        if generation > rec.U32_MAX:
            raise InvalidArgument(f"{what}: generation overflow")
        self._chunks[chunk_id] = rec.chunk_with_generation(chunk, generation)
        return {"generation": generation}

    def _op_node_register(self, now: int, node_id: str, address: str, capacity: int) -> Result:
        if node_id in self._nodes:
            state = self._nodes[node_id][2]
        elif len(self._node_ids) > rec.U16_MAX:
            raise InvalidArgument(f"node_register {node_id}: too many nodes")
        else:
            state = "active"
            self._node_index[intern(node_id)] = len(self._node_ids)
            self._node_ids.append(intern(node_id))
        self._nodes[intern(node_id)] = (address, capacity, state)
        return {"index": self._node_index[node_id]}

    def _op_node_update(
        self,
        now: int,
        node_id: str,
        address: str | None,
        capacity: int | None,
        admin_state: str | None,
    ) -> Result:
        if node_id not in self._nodes:
            raise NotFound(f"node_update {node_id}: no such node")
        old_address, old_capacity, old_state = self._nodes[node_id]
        self._nodes[node_id] = (
            old_address if address is None else address,
            old_capacity if capacity is None else capacity,
            old_state if admin_state is None else admin_state,
        )
        return {}

    def _op_noop(self, now: int) -> Result:
        return {}

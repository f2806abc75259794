"""MetaState against a plain-dict model, driven by hypothesis over a few colliding paths.

The model keeps ``path -> chunk ids`` for files, a set of directories and the sessions, and
predicts every op's error code (or success) and the garbage it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fahadfs.meta_raft.commands import batch, op
from fahadfs.meta_raft.state import MetaState

NODES = ["n1", "n2", "n3"]
NAMES = ["a", "b"]
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
leases = st.sampled_from(["L1", "L2"])
holders = st.sampled_from(["c1", "c2"])


@dataclass
class Session:
    holder: str
    lease: str
    token: int
    expires: int
    pending: set[int] = field(default_factory=set)


def within(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class Model:
    """The expected namespace: files as chunk-id tuples, directories, sessions."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, ...]] = {}
        self.dirs: set[str] = {"/"}
        self.sessions: dict[str, Session] = {}

    def kind(self, path: str) -> str | None:
        return "dir" if path in self.dirs else "file" if path in self.files else None

    def parent_error(self, path: str) -> str | None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            prefix = "/" + "/".join(parts[:i])
            if prefix in self.files:
                return "ENOTDIR"
            if prefix not in self.dirs:
                return "ENOENT"
        return None

    def lookup_error(self, path: str) -> str | None:
        return self.parent_error(path) or (None if self.kind(path) else "ENOENT")

    def busy(self, path: str, now: int, subtree: bool) -> bool:
        return any(
            s.expires > now and (within(p, path) if subtree else p == path)
            for p, s in self.sessions.items()
        )

    def close(self, path: str, subtree: bool) -> set[int]:
        pending: set[int] = set()
        for p in [p for p in self.sessions if (within(p, path) if subtree else p == path)]:
            pending |= self.sessions.pop(p).pending
        return pending

    def below(self, path: str) -> list[str]:
        return [p for p in [*self.files, *self.dirs] if p.startswith(path + "/")]

    def refs(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for ids in self.files.values():
            for cid in ids:
                out[cid] = out.get(cid, 0) + 1
        return out

    def garbage(self, candidates: set[int]) -> list[int]:
        """Ids among ``candidates`` that no file references any more."""
        referenced = self.refs()
        return sorted(c for c in candidates if c not in referenced)


class StateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = MetaState()
        self.model = Model()
        self.now = 1_000_000
        self.next_chunk = 1
        self.last_counter = 0

    @initialize()
    def seed_cluster(self) -> None:
        """Three nodes and a small tree with shared chunks, so every run starts with content."""
        for node in NODES:
            self.apply("node_register", node_id=node, address=f"{node}:1", capacity=100)
        for path in ["/a", "/a/b", "/b"]:
            assert self.apply("mkdir", path=path)["ok"]
            self.model.dirs.add(path)
        for path, count in [("/a/a", 1), ("/a/b/a", 2), ("/b/b", 1)]:
            chunks = self.new_chunks(count)
            result = self.apply("commit", path=path, size=10 * count, chunks=chunks)
            self.fresh_counter(result["version"])
            self.model.files[path] = tuple(c[0] for c in chunks)
        self.fresh_counter(self.apply("cp", src="/a/a", dst="/b/a")["version"])
        self.model.files["/b/a"] = self.model.files["/a/a"]

    # ------------------------------------------------------------------ helpers

    def apply(self, name: str, **args: Any) -> dict[str, Any]:
        return self.state.apply_entry(batch(self.now, [op(name, **args)]))[0]

    def expect(self, result: dict[str, Any], code: str | None) -> bool:
        if code is None:
            assert result["ok"], result
        else:
            assert not result["ok"] and result["code"] == code, (code, result)
        return code is None

    def new_chunks(self, count: int) -> list[list[Any]]:
        out = []
        for _ in range(count):
            out.append([self.next_chunk, 10, self.next_chunk, NODES])
            self.next_chunk += 1
        return out

    def fresh_counter(self, value: int) -> None:
        assert value > self.last_counter, (value, self.last_counter)
        self.last_counter = value

    def existing(self, data: st.DataObject, files: bool, dirs: bool) -> str:
        """Mostly an existing file and/or directory (never the root), sometimes any path."""
        known = sorted([*(self.model.files if files else ()), *(self.model.dirs if dirs else ())])
        known = [p for p in known if p != "/"]
        if known and data.draw(st.integers(0, 3), label="aim") > 0:
            return data.draw(st.sampled_from(known), label="path")
        return data.draw(paths, label="path")

    def fresh(self, data: st.DataObject) -> str:
        """Mostly a name inside an existing directory (depth <= 3), sometimes any path."""
        roomy = sorted(d for d in self.model.dirs if d.count("/") < 3 or d == "/")
        if data.draw(st.integers(0, 3), label="aim") > 0:
            parent = data.draw(st.sampled_from(roomy), label="parent")
            name = data.draw(st.sampled_from(NAMES), label="name")
            return ("" if parent == "/" else parent) + "/" + name
        return data.draw(paths, label="path")

    def check_garbage(self, result: dict[str, Any], candidates: set[int]) -> None:
        assert [g["id"] for g in result["garbage"]] == self.model.garbage(candidates)

    # ------------------------------------------------------------------ namespace rules

    @rule(data=st.data(), parents=st.booleans())
    def mkdir(self, data: st.DataObject, parents: bool) -> None:
        path = self.fresh(data)
        m = self.model
        if parents:
            code = None
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/" + "/".join(parts[:i])
                if prefix in m.files:
                    code = "EEXIST" if i == len(parts) else "ENOTDIR"
                    break
        else:
            code = m.parent_error(path) or ("EEXIST" if m.kind(path) else None)
        if self.expect(self.apply("mkdir", path=path, parents=parents), code):
            parts = path.strip("/").split("/")
            m.dirs.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))

    @rule(data=st.data(), count=st.integers(0, 2))
    def put(self, data: st.DataObject, count: int) -> None:
        path = self.fresh(data)
        m = self.model
        code = m.parent_error(path) or ("EISDIR" if m.kind(path) == "dir" else None)
        code = code or ("EBUSY" if m.busy(path, self.now, subtree=False) else None)
        chunks = self.new_chunks(count)
        result = self.apply("commit", path=path, size=10 * count, chunks=chunks)
        if self.expect(result, code):
            self.fresh_counter(result["version"])
            old = set(m.files.get(path, ()))
            m.files[path] = tuple(c[0] for c in chunks)
            self.check_garbage(result, old | m.close(path, subtree=False))

    @rule(data=st.data())
    def rm(self, data: st.DataObject) -> None:
        path = self.existing(data, files=True, dirs=False)
        m = self.model
        code = m.lookup_error(path) or ("EISDIR" if m.kind(path) == "dir" else None)
        code = code or ("EBUSY" if m.busy(path, self.now, subtree=False) else None)
        result = self.apply("rm", path=path)
        if self.expect(result, code):
            old = set(m.files.pop(path))
            self.check_garbage(result, old | m.close(path, subtree=False))

    @rule(data=st.data(), recursive=st.booleans())
    def rmdir(self, data: st.DataObject, recursive: bool) -> None:
        path = self.existing(data, files=False, dirs=True)
        m = self.model
        code = m.lookup_error(path) or ("ENOTDIR" if m.kind(path) == "file" else None)
        if not code and m.below(path) and not recursive:
            code = "ENOTEMPTY"
        code = code or ("EBUSY" if m.busy(path, self.now, subtree=True) else None)
        result = self.apply("rmdir", path=path, recursive=recursive)
        if self.expect(result, code):
            old: set[int] = set()
            for p in m.below(path):
                old |= set(m.files.pop(p, ()))
                m.dirs.discard(p)
            m.dirs.discard(path)
            self.check_garbage(result, old | m.close(path, subtree=True))

    @rule(data=st.data(), onto=st.booleans())
    def mv(self, data: st.DataObject, onto: bool) -> None:
        src = self.existing(data, files=True, dirs=True)
        dst = self.existing(data, files=True, dirs=True) if onto else self.fresh(data)
        m = self.model
        skind, dkind = m.kind(src), m.kind(dst)
        code = m.lookup_error(src)
        if not code and src != dst:
            if skind == "dir" and dst.startswith(src + "/"):
                code = "EINVAL"
            code = code or m.parent_error(dst)
            if not code and dkind == "dir" and skind == "file":
                code = "EISDIR"
            if not code and dkind == "file" and skind == "dir":
                code = "ENOTDIR"
            if not code and dkind == "dir" and m.below(dst):
                code = "ENOTEMPTY"
            busy = m.busy(src, self.now, skind == "dir") or m.busy(dst, self.now, True)
            code = code or ("EBUSY" if busy else None)
        result = self.apply("mv", src=src, dst=dst)
        if not self.expect(result, code) or src == dst:
            return
        old = set(m.files.pop(dst, ()))
        m.dirs.discard(dst)
        pending = m.close(src, skind == "dir") | m.close(dst, True)
        for p in [src, *m.below(src)]:
            moved = dst + p[len(src) :]
            if p in m.files:
                m.files[moved] = m.files.pop(p)
            else:
                m.dirs.discard(p)
                m.dirs.add(moved)
        self.check_garbage(result, old | pending)

    @rule(data=st.data(), onto=st.booleans())
    def cp(self, data: st.DataObject, onto: bool) -> None:
        src = self.existing(data, files=True, dirs=False)
        dst = self.existing(data, files=True, dirs=False) if onto else self.fresh(data)
        m = self.model
        code = m.lookup_error(src) or ("EISDIR" if m.kind(src) == "dir" else None)
        code = code or m.parent_error(dst) or ("EISDIR" if m.kind(dst) == "dir" else None)
        code = code or ("EBUSY" if m.busy(dst, self.now, subtree=False) else None)
        result = self.apply("cp", src=src, dst=dst)
        if self.expect(result, code):
            self.fresh_counter(result["version"])
            old = set(m.files.get(dst, ()))
            m.files[dst] = m.files[src]
            self.check_garbage(result, old | m.close(dst, subtree=False))

    # ------------------------------------------------------------------ session rules

    @rule(data=st.data(), holder=holders, lease=leases, ttl=st.sampled_from([100, 1000]))
    def create(self, data: st.DataObject, holder: str, lease: str, ttl: int) -> None:
        path = self.fresh(data)
        m = self.model
        overwrite = holder == "c1"
        code = m.parent_error(path) or ("EISDIR" if m.kind(path) == "dir" else None)
        old = m.sessions.get(path)
        renewing = old is not None and old.expires > self.now
        if not code and renewing and (old.lease, old.holder) != (lease, holder):  # type: ignore[union-attr]
            code = "EBUSY"
        if not code and not renewing and m.kind(path) == "file" and not overwrite:
            code = "EEXIST"
        result = self.apply(
            "create", path=path, holder=holder, lease_id=lease, ttl_ms=ttl, overwrite=overwrite
        )
        if not self.expect(result, code):
            return
        if renewing:
            assert result["token"] == old.token  # type: ignore[union-attr]
            old.expires = self.now + ttl  # type: ignore[union-attr]
            return
        self.fresh_counter(result["token"])
        m.sessions[path] = Session(holder, lease, result["token"], self.now + ttl)
        self.check_garbage(result, old.pending if old else set())

    def session_target(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly a path and lease of an existing session, sometimes anything."""
        known = sorted(self.model.sessions)
        if known and data.draw(st.integers(0, 3), label="aim") > 0:
            path = data.draw(st.sampled_from(known), label="path")
            lease = self.model.sessions[path].lease
            if data.draw(st.integers(0, 4), label="wrong lease") == 0:
                lease = "L2" if lease == "L1" else "L1"
            return path, lease
        return data.draw(paths, label="path"), data.draw(leases, label="lease")

    def own(self, path: str, lease: str) -> Session | None:
        s = self.model.sessions.get(path)
        return s if s and s.lease == lease and s.expires > self.now else None

    @rule(data=st.data(), count=st.integers(0, 2))
    def renew(self, data: st.DataObject, count: int) -> None:
        path, lease = self.session_target(data)
        s = self.own(path, lease)
        ids = [c[0] for c in self.new_chunks(count)]
        result = self.apply("renew", path=path, lease_id=lease, ttl_ms=1000, chunks=ids)
        if self.expect(result, None if s else "ESTALE"):
            s.expires = self.now + 1000  # type: ignore[union-attr]
            s.pending |= set(ids)  # type: ignore[union-attr]

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        path, lease = self.session_target(data)
        s = self.own(path, lease)
        result = self.apply("release", path=path, lease_id=lease)
        if self.expect(result, None if s else "ESTALE"):
            del self.model.sessions[path]
            self.check_garbage(result, s.pending)  # type: ignore[union-attr]

    @rule(data=st.data(), right_token=st.booleans(), count=st.integers(0, 2))
    def commit(self, data: st.DataObject, right_token: bool, count: int) -> None:
        path, lease = self.session_target(data)
        m = self.model
        s = m.sessions.get(path)
        live = s is not None and s.expires > self.now
        token = (s.token if right_token else s.token + 1) if s else 1
        code = m.parent_error(path) or ("EISDIR" if m.kind(path) == "dir" else None)
        if not code:
            if not live:
                code = "ESTALE"
            elif s.lease != lease:  # type: ignore[union-attr]
                code = "EBUSY"
            elif not right_token:
                code = "ESTALE"
        chunks = self.new_chunks(count)
        # Half of the uploaded chunks were announced through renew beforehand.
        if live and s is not None and s.lease == lease:
            s.pending |= {c[0] for c in chunks[:1]}
            self.apply("renew", path=path, lease_id=lease, ttl_ms=1000, chunks=list(s.pending))
            s.expires = self.now + 1000
        result = self.apply(
            "commit", path=path, lease_id=lease, token=token, size=10 * count, chunks=chunks
        )
        if self.expect(result, code):
            self.fresh_counter(result["version"])
            old = set(m.files.get(path, ()))
            m.files[path] = tuple(c[0] for c in chunks)
            self.check_garbage(result, old | m.close(path, subtree=False))

    @rule(ms=st.sampled_from([0, 50, 500, 2000]))
    def tick(self, ms: int) -> None:
        self.now += ms

    @rule()
    def expire(self) -> None:
        expired = [p for p, s in self.model.sessions.items() if s.expires <= self.now]
        pending: set[int] = set()
        for p in expired:
            pending |= self.model.sessions.pop(p).pending
        self.check_garbage(self.apply("expire_sessions"), pending)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def namespace_matches_model(self) -> None:
        walked = dict(self.state.walk("/"))
        assert set(walked) == self.model.dirs | set(self.model.files)
        for path, stat in walked.items():
            full = self.state.stat(path)
            assert full["type"] == stat["type"] == self.model.kind(path)
            if path in self.model.files:
                assert tuple(c["id"] for c in full["chunks"]) == self.model.files[path]
        counts = self.state.counts()
        assert counts["files"] == len(self.model.files)
        assert counts["dirs"] == len(self.model.dirs) - 1

    @invariant()
    def refcounts_match_references(self) -> None:
        refs = self.model.refs()
        assert self.state.counts()["chunks"] == len(refs)
        for cid, n in refs.items():
            assert self.state.chunk(cid)["refs"] == n  # type: ignore[index]
        assert [row[0] for row in self.state.iter_chunks()] == sorted(refs)

    @invariant()
    def sessions_match(self) -> None:
        assert self.state.counts()["sessions"] == len(self.model.sessions)
        for path, s in self.model.sessions.items():
            got = self.state.session(path)
            assert got is not None and got["token"] == s.token and got["expires"] == s.expires
            assert set(got["pending"]) == s.pending

    @invariant()
    def snapshot_round_trips(self) -> None:
        snap = self.state.snapshot()
        assert MetaState.from_snapshot(snap).snapshot() == snap


TestMetaStateStateful = StateMachine.TestCase
TestMetaStateStateful.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)

"""Unit tests of the metadata state machine, op by op (docs/STATE.md)."""

from __future__ import annotations

from typing import Any

import pytest

from fahadfs import errors
from fahadfs.meta_raft import commands
from fahadfs.meta_raft.commands import batch, op
from fahadfs.meta_raft.state import MetaState

T0 = 1_700_000_000_000
NODES = ("n1", "n2", "n3", "n4")


class Harness:
    """A MetaState with four registered nodes, a settable clock and checking helpers."""

    def __init__(self) -> None:
        self.state = MetaState()
        self.now = T0
        self.next_chunk = 1000
        for i, node in enumerate(NODES):
            self.ok(
                "node_register", node_id=node, address=f"127.0.0.1:{7301 + i}", capacity=1 << 30
            )

    def do(self, name: str, rid: str | None = None, **args: Any) -> dict[str, Any]:
        return self.state.apply_entry(batch(self.now, [op(name, rid, **args)]))[0]

    def ok(self, name: str, rid: str | None = None, **args: Any) -> dict[str, Any]:
        result = self.do(name, rid, **args)
        assert result["ok"], result
        return result

    def err(self, code: str, name: str, **args: Any) -> dict[str, Any]:
        """Run an op expected to fail with ``code`` and check it changed nothing."""
        before = self.state.snapshot()
        result = self.do(name, **args)
        assert not result["ok"], result
        assert result["code"] == code, result
        assert isinstance(result["message"], str) and result["message"]
        assert self.state.snapshot() == before
        return result

    def chunks(self, *sizes: int, nodes: tuple[str, ...] = NODES[:3]) -> list[list[Any]]:
        out = []
        for size in sizes:
            self.next_chunk += 1
            out.append([self.next_chunk, size, self.next_chunk * 7 % 2**32, list(nodes)])
        return out

    def put(self, path: str, *sizes: int) -> dict[str, Any]:
        """Write a file through the one-op commit path."""
        return self.ok("commit", path=path, size=sum(sizes), chunks=self.chunks(*sizes))

    def open(self, path: str, lease: str = "L1", holder: str = "c1", ttl: int = 10_000) -> int:
        result = self.ok("create", path=path, holder=holder, lease_id=lease, ttl_ms=ttl)
        return int(result["token"])

    def chunk_ids(self, path: str) -> list[int]:
        return [c["id"] for c in self.state.stat(path)["chunks"]]


@pytest.fixture
def h() -> Harness:
    return Harness()


def garbage_ids(result: dict[str, Any]) -> list[int]:
    return [g["id"] for g in result["garbage"]]


# --- mkdir


def test_mkdir_creates_a_directory_and_touches_parent(h: Harness) -> None:
    h.ok("mkdir", path="/a")
    h.now += 5
    h.ok("mkdir", path="/a/b")
    assert h.state.stat("/a/b")["type"] == "dir"
    assert h.state.stat("/a")["mtime"] == h.now
    assert h.state.stat("/a")["entries"] == 1


def test_mkdir_errors(h: Harness) -> None:
    h.ok("mkdir", path="/a")
    h.put("/f", 1)
    assert (
        h.err("ENOENT", "mkdir", path="/x/y/z")["message"] == "mkdir /x/y/z: no such directory /x"
    )
    h.err("EEXIST", "mkdir", path="/a")
    h.err("EEXIST", "mkdir", path="/f")
    h.err("EEXIST", "mkdir", path="/")
    h.err("ENOTDIR", "mkdir", path="/f/x")
    h.err("EINVAL", "mkdir", path="relative")
    h.err("EINVAL", "mkdir", path="/a/../b")
    h.err("EINVAL", "mkdir", path="/a//b")


def test_mkdir_parents(h: Harness) -> None:
    h.ok("mkdir", path="/a/b/c", parents=True)
    h.ok("mkdir", path="/a/b/c", parents=True)
    h.ok("mkdir", path="/", parents=True)
    assert [p for p, _ in h.state.walk("/")] == ["/", "/a", "/a/b", "/a/b/c"]
    h.put("/a/f", 1)
    h.err("EEXIST", "mkdir", path="/a/f", parents=True)
    h.err("ENOTDIR", "mkdir", path="/a/f/g/h", parents=True)
    assert h.state.counts()["dirs"] == 3


# --- create


def test_create_opens_a_session_with_increasing_tokens(h: Harness) -> None:
    first = h.ok("create", path="/f", holder="c1", lease_id="L1", ttl_ms=5000)
    assert first["expires"] == h.now + 5000 and first["lease_id"] == "L1"
    second = h.ok("create", path="/g", holder="c1", lease_id="L2", ttl_ms=5000)
    assert second["token"] > first["token"]
    assert h.state.session("/f")["holder"] == "c1"  # type: ignore[index]
    with pytest.raises(errors.NotFound):
        h.state.stat("/f")  # nothing visible until commit


def test_create_busy_names_holder_and_expiry(h: Harness) -> None:
    h.open("/f", lease="L1", holder="client-7", ttl=5000)
    result = h.err("EBUSY", "create", path="/f", holder="c2", lease_id="L2", ttl_ms=100)
    assert result["holder"] == "client-7" and result["expires"] == T0 + 5000
    assert result["message"] == f"create /f: busy, held by client-7 until {T0 + 5000}"
    # Same holder, other lease: still busy; same lease, other holder: busy too.
    h.err("EBUSY", "create", path="/f", holder="client-7", lease_id="L9", ttl_ms=100)
    h.err("EBUSY", "create", path="/f", holder="c2", lease_id="L1", ttl_ms=100)


def test_create_again_with_same_lease_renews_and_keeps_token(h: Harness) -> None:
    token = h.open("/f", lease="L1", ttl=1000)
    h.now += 500
    again = h.ok("create", path="/f", holder="c1", lease_id="L1", ttl_ms=1000)
    assert again["token"] == token and again["expires"] == h.now + 1000


def test_create_over_expired_session_fences_the_old_one(h: Harness) -> None:
    old = h.open("/f", lease="L1", ttl=1000)
    h.ok("renew", path="/f", lease_id="L1", ttl_ms=1000, chunks=[5, 6])
    h.now += 1001
    new = h.ok("create", path="/f", holder="c2", lease_id="L2", ttl_ms=1000)
    assert new["token"] > old
    assert garbage_ids(new) == [5, 6]
    h.err("EBUSY", "commit", path="/f", lease_id="L1", token=old, size=0, chunks=[])
    h.ok("release", path="/f", lease_id="L2")
    h.err("ESTALE", "commit", path="/f", lease_id="L1", token=old, size=0, chunks=[])


def test_create_errors(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    h.put("/f", 1)
    args = {"holder": "c", "lease_id": "L", "ttl_ms": 100}
    h.err("EISDIR", "create", path="/d", **args)
    h.err("EISDIR", "create", path="/", **args)
    h.err("EEXIST", "create", path="/f", overwrite=False, **args)
    h.err("ENOENT", "create", path="/x/f", **args)
    h.err("ENOTDIR", "create", path="/f/g", **args)
    h.err("EINVAL", "create", path="/g", holder="c", lease_id="L", ttl_ms=0)
    h.err("EINVAL", "create", path="/g", holder="", lease_id="L", ttl_ms=10)
    h.err("EINVAL", "create", path="/g", replication=0, **args)
    h.ok("create", path="/f", overwrite=True, **args)


# --- renew, release


def test_renew_extends_and_records_pending_chunks(h: Harness) -> None:
    h.open("/f", ttl=1000)
    h.now += 900
    assert h.ok("renew", path="/f", lease_id="L1", ttl_ms=1000, chunks=[9, 3])["expires"] == (
        h.now + 1000
    )
    h.ok("renew", path="/f", lease_id="L1", ttl_ms=1000, chunks=[3, 4])
    assert h.state.session("/f")["pending"] == [3, 4, 9]  # type: ignore[index]
    assert h.state.pending_chunks() == {3, 4, 9}


def test_renew_is_stale_without_a_live_session(h: Harness) -> None:
    h.err("ESTALE", "renew", path="/f", lease_id="L1", ttl_ms=10)
    h.open("/f", ttl=1000)
    h.err("ESTALE", "renew", path="/f", lease_id="other", ttl_ms=10)
    h.now += 1000
    h.err("ESTALE", "renew", path="/f", lease_id="L1", ttl_ms=10)
    h.err("EINVAL", "renew", path="/f", lease_id="L1", ttl_ms=10, chunks=[-1])


def test_release_returns_pending_as_garbage(h: Harness) -> None:
    h.open("/f")
    h.ok("renew", path="/f", lease_id="L1", ttl_ms=1000, chunks=[7])
    assert h.ok("release", path="/f", lease_id="L1")["garbage"] == [{"id": 7, "replicas": []}]
    assert h.state.session("/f") is None
    h.err("ESTALE", "release", path="/f", lease_id="L1")


# --- commit


def test_commit_with_lease_publishes_and_closes_session(h: Harness) -> None:
    token = h.open("/f")
    chunks = h.chunks(4, 6)
    h.ok("renew", path="/f", lease_id="L1", ttl_ms=1000, chunks=[chunks[0][0], 99])
    result = h.ok("commit", path="/f", lease_id="L1", token=token, size=10, chunks=chunks)
    assert result["version"] > token
    assert result["garbage"] == [{"id": 99, "replicas": []}]
    stat = h.state.stat("/f")
    assert stat["size"] == 10 and stat["version"] == result["version"]
    assert stat["chunks"][0] == {
        "id": chunks[0][0],
        "size": 4,
        "checksum": chunks[0][2],
        "generation": 0,
        "replicas": ["n1", "n2", "n3"],
    }
    assert h.state.session("/f") is None
    assert h.state.counts()["files"] == 1


def test_commit_replaces_previous_version_and_returns_its_chunks(h: Harness) -> None:
    first = h.put("/f", 3)
    old_ids = h.chunk_ids("/f")
    second = h.put("/f", 5, 5)
    assert second["version"] > first["version"]
    assert second["garbage"] == [{"id": old_ids[0], "replicas": ["n1", "n2", "n3"]}]
    assert h.state.chunk(old_ids[0]) is None
    assert h.state.stat("/f")["size"] == 10


def test_commit_session_errors(h: Harness) -> None:
    token = h.open("/f", lease="L1", ttl=1000)
    h.err("ESTALE", "commit", path="/f", lease_id="L1", token=token + 1, size=0, chunks=[])
    h.err("ESTALE", "commit", path="/f", lease_id="L1", token=None, size=0, chunks=[])
    h.err("EBUSY", "commit", path="/f", lease_id="L2", token=token, size=0, chunks=[])
    h.err("EBUSY", "commit", path="/f", size=0, chunks=[])
    h.err("ESTALE", "commit", path="/g", lease_id="L1", token=token, size=0, chunks=[])
    h.now += 1000
    h.err("ESTALE", "commit", path="/f", lease_id="L1", token=token, size=0, chunks=[])


def test_commit_without_lease_reaps_an_expired_session(h: Harness) -> None:
    h.open("/f", ttl=10)
    h.ok("renew", path="/f", lease_id="L1", ttl_ms=10, chunks=[42])
    h.now += 10
    result = h.put("/f", 1)
    assert garbage_ids(result) == [42]
    assert h.state.session("/f") is None


def test_commit_validation_errors(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    h.put("/file", 1)
    existing = h.chunk_ids("/file")[0]
    h.err("EISDIR", "commit", path="/d", size=1, chunks=h.chunks(1))
    h.err("ENOENT", "commit", path="/x/f", size=1, chunks=h.chunks(1))
    h.err("ENOTDIR", "commit", path="/file/f", size=1, chunks=h.chunks(1))
    h.err("EINVAL", "commit", path="/f", size=2, chunks=h.chunks(1))
    h.err("EEXIST", "commit", path="/f", size=1, chunks=[[existing, 1, 0, ["n1"]]])
    h.err("EINVAL", "commit", path="/f", size=2, chunks=[[5, 1, 0, ["n1"]], [5, 1, 0, ["n2"]]])
    h.err("EINVAL", "commit", path="/f", size=1, chunks=h.chunks(1, nodes=("n1", "n1")))
    h.err("EINVAL", "commit", path="/f", size=1, chunks=h.chunks(1, nodes=("n1", "ghost")))
    h.err("EINVAL", "commit", path="/f", size=1, chunks=[[5, 1, 2**32, ["n1"]]])


def test_commit_replication_comes_from_op_then_session_then_old_file(h: Harness) -> None:
    h.ok("commit", path="/f", size=1, chunks=h.chunks(1), replication=2)
    assert h.state.stat("/f")["replication"] == 2
    h.put("/f", 1)
    assert h.state.stat("/f")["replication"] == 2
    token = h.ok("create", path="/f", holder="c", lease_id="L", ttl_ms=99, replication=5)["token"]
    h.ok("commit", path="/f", lease_id="L", token=token, size=1, chunks=h.chunks(1))
    assert h.state.stat("/f")["replication"] == 5
    h.put("/g", 1)
    assert h.state.stat("/g")["replication"] == 0  # the cluster default


def test_empty_file(h: Harness) -> None:
    h.ok("commit", path="/empty", size=0, chunks=[])
    assert h.state.stat("/empty")["chunks"] == []
    assert h.ok("rm", path="/empty")["garbage"] == []


# --- rm, rmdir


def test_rm_returns_unreferenced_chunks(h: Harness) -> None:
    h.put("/f", 1, 2)
    ids = h.chunk_ids("/f")
    assert garbage_ids(h.ok("rm", path="/f")) == sorted(ids)
    assert h.state.counts() == {"files": 0, "dirs": 0, "chunks": 0, "sessions": 0, "nodes": 4}


def test_rm_errors(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    h.put("/f", 1)
    h.err("ENOENT", "rm", path="/nope")
    h.err("EISDIR", "rm", path="/d")
    h.err("EISDIR", "rm", path="/")
    h.err("ENOTDIR", "rm", path="/f/x")
    h.open("/f", holder="writer")
    assert "writer" in h.err("EBUSY", "rm", path="/f")["message"]


def test_rmdir(h: Harness) -> None:
    h.ok("mkdir", path="/a/b", parents=True)
    h.put("/a/b/f", 1)
    h.put("/a/g", 2)
    h.put("/f", 1)
    h.err("ENOTEMPTY", "rmdir", path="/a")
    h.err("ENOTDIR", "rmdir", path="/f")
    h.err("ENOENT", "rmdir", path="/zz")
    h.err("EINVAL", "rmdir", path="/")
    ids = h.chunk_ids("/a/b/f") + h.chunk_ids("/a/g")
    assert garbage_ids(h.ok("rmdir", path="/a", recursive=True)) == sorted(ids)
    assert h.state.counts()["files"] == 1 and h.state.counts()["dirs"] == 0
    h.ok("mkdir", path="/e")
    h.ok("rmdir", path="/e")


def test_rmdir_busy_if_a_live_session_is_inside(h: Harness) -> None:
    h.ok("mkdir", path="/a/b", parents=True)
    h.open("/a/b/new", holder="w", ttl=100)
    h.err("EBUSY", "rmdir", path="/a/b")
    h.err("EBUSY", "rmdir", path="/a", recursive=True)
    h.ok("renew", path="/a/b/new", lease_id="L1", ttl_ms=100, chunks=[77])
    h.now += 100
    assert h.ok("rmdir", path="/a", recursive=True)["garbage"] == [{"id": 77, "replicas": []}]
    assert h.state.session("/a/b/new") is None


# --- mv


def test_mv_file_to_new_name_keeps_version(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    version = h.put("/f", 1)["version"]
    assert h.ok("mv", src="/f", dst="/d/g")["garbage"] == []
    assert h.state.stat("/d/g")["version"] == version
    with pytest.raises(errors.NotFound):
        h.state.stat("/f")


def test_mv_file_over_file_returns_old_chunks(h: Harness) -> None:
    h.put("/f", 1)
    h.put("/g", 2)
    old = h.chunk_ids("/g")
    assert garbage_ids(h.ok("mv", src="/f", dst="/g")) == old
    assert h.state.counts()["files"] == 1


def test_mv_dir_over_empty_dir_and_rules(h: Harness) -> None:
    h.ok("mkdir", path="/a/sub", parents=True)
    h.put("/a/sub/f", 1)
    h.ok("mkdir", path="/empty")
    h.ok("mkdir", path="/full/x", parents=True)
    h.put("/file", 1)
    h.err("EISDIR", "mv", src="/file", dst="/empty")
    h.err("ENOTDIR", "mv", src="/a", dst="/file")
    h.err("ENOTEMPTY", "mv", src="/a", dst="/full")
    h.err("EINVAL", "mv", src="/a", dst="/a/sub/inner")
    h.err("EINVAL", "mv", src="/a", dst="/a/new")
    h.err("ENOENT", "mv", src="/nope", dst="/x")
    h.err("ENOENT", "mv", src="/file", dst="/nope/x")
    h.err("ENOTDIR", "mv", src="/file", dst="/file/x")
    h.err("EINVAL", "mv", src="/", dst="/x")
    before = h.state.snapshot()
    assert h.ok("mv", src="/a", dst="/a") == {"ok": True, "garbage": []}
    assert h.state.snapshot() == before
    h.ok("mv", src="/a", dst="/empty")
    assert h.state.stat("/empty/sub/f")["type"] == "file"
    assert h.state.counts()["dirs"] == 4  # /empty, /empty/sub, /full, /full/x


def test_mv_busy_on_source_destination_or_inside(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    h.put("/f", 1)
    h.put("/g", 1)
    h.open("/d/w", lease="A")
    h.err("EBUSY", "mv", src="/d", dst="/e")
    h.open("/f", lease="B")
    h.err("EBUSY", "mv", src="/f", dst="/h")
    h.open("/target", lease="C")
    h.err("EBUSY", "mv", src="/g", dst="/target")


# --- cp


def test_cp_shares_chunks_with_refcounts(h: Harness) -> None:
    version = h.put("/f", 1, 2)["version"]
    ids = h.chunk_ids("/f")
    copy = h.ok("cp", src="/f", dst="/g")
    assert copy["version"] > version and copy["garbage"] == []
    assert h.chunk_ids("/g") == ids
    assert [h.state.chunk(c)["refs"] for c in ids] == [2, 2]  # type: ignore[index]
    assert h.ok("rm", path="/f")["garbage"] == []
    assert [h.state.chunk(c)["refs"] for c in ids] == [1, 1]  # type: ignore[index]
    assert garbage_ids(h.ok("rm", path="/g")) == sorted(ids)


def test_cp_replaces_destination_and_onto_itself(h: Harness) -> None:
    h.put("/f", 1)
    h.put("/g", 1)
    old = h.chunk_ids("/g")
    assert garbage_ids(h.ok("cp", src="/f", dst="/g")) == old
    ids = h.chunk_ids("/f")
    assert h.ok("cp", src="/f", dst="/f")["garbage"] == []
    assert h.state.chunk(ids[0])["refs"] == 2  # type: ignore[index]


def test_cp_errors(h: Harness) -> None:
    h.ok("mkdir", path="/d")
    h.put("/f", 1)
    h.err("EISDIR", "cp", src="/d", dst="/x")
    h.err("EISDIR", "cp", src="/f", dst="/d")
    h.err("EISDIR", "cp", src="/f", dst="/")
    h.err("ENOENT", "cp", src="/nope", dst="/x")
    h.err("ENOENT", "cp", src="/f", dst="/nope/x")
    h.open("/busy")
    h.err("EBUSY", "cp", src="/f", dst="/busy")


# --- nodes, replicas


def test_node_register_and_update(h: Harness) -> None:
    assert h.ok("node_register", node_id="n5", address="h:1", capacity=10)["index"] == 4
    h.ok("node_update", node_id="n5", admin_state="draining")
    assert h.ok("node_register", node_id="n5", address="h:2", capacity=20)["index"] == 4
    assert h.state.nodes()[4] == {
        "id": "n5",
        "index": 4,
        "address": "h:2",
        "capacity": 20,
        "state": "draining",
    }
    h.err("ENOENT", "node_update", node_id="ghost", capacity=1)
    h.err("EINVAL", "node_update", node_id="n5", admin_state="sleeping")
    h.err("EINVAL", "node_register", node_id="n6", address="h", capacity=-1)


def test_replica_add_remove_and_generation(h: Harness) -> None:
    h.put("/f", 1)
    cid = h.chunk_ids("/f")[0]
    h.ok("replica_add", chunk_id=cid, node_id="n4")
    h.ok("replica_add", chunk_id=cid, node_id="n4")
    assert h.state.chunk(cid)["replicas"] == ["n1", "n2", "n3", "n4"]  # type: ignore[index]
    h.ok("replica_remove", chunk_id=cid, node_id="n1")
    h.ok("replica_remove", chunk_id=cid, node_id="n1")
    h.ok("replica_remove", chunk_id=cid, node_id="unknown")
    assert h.state.chunk(cid)["replicas"] == ["n2", "n3", "n4"]  # type: ignore[index]
    assert h.ok("bump_generation", chunk_id=cid)["generation"] == 1
    assert h.ok("bump_generation", chunk_id=cid)["generation"] == 2
    assert h.state.stat("/f")["chunks"][0]["generation"] == 2
    h.err("ENOCHUNK", "replica_add", chunk_id=1, node_id="n1")
    h.err("ENOENT", "replica_add", chunk_id=cid, node_id="ghost")
    h.err("ENOCHUNK", "replica_remove", chunk_id=1, node_id="n1")
    h.err("ENOCHUNK", "bump_generation", chunk_id=1)
    # The replica list reported as garbage is the current one.
    assert h.ok("rm", path="/f")["garbage"] == [{"id": cid, "replicas": ["n2", "n3", "n4"]}]


# --- sessions


def test_expire_sessions_closes_only_expired_ones(h: Harness) -> None:
    h.open("/a", lease="A", ttl=100)
    h.open("/b", lease="B", ttl=300)
    h.ok("renew", path="/a", lease_id="A", ttl_ms=100, chunks=[1, 2])
    h.ok("renew", path="/b", lease_id="B", ttl_ms=300, chunks=[3])
    h.now += 100
    assert garbage_ids(h.ok("expire_sessions")) == [1, 2]
    assert h.state.session("/a") is None and h.state.session("/b") is not None
    assert h.state.pending_chunks() == {3}


def test_fencing_tokens_and_versions_share_one_increasing_counter(h: Harness) -> None:
    seen = [h.open("/a", lease="A"), h.put("/x", 1)["version"], h.open("/b", lease="B")]
    seen.append(h.ok("cp", src="/x", dst="/y")["version"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


# --- request ids


def test_request_id_returns_first_result_without_reapplying(h: Harness) -> None:
    first = h.ok("mkdir", rid="r1", path="/a")
    assert "dup" not in first
    h.now += 1000
    again = h.do("mkdir", rid="r1", path="/a")
    assert again == {**first, "dup": True}
    failed = h.do("rmdir", rid="r2", path="/nope")
    assert h.do("rmdir", rid="r2", path="/nope") == {**failed, "dup": True}
    for _ in range(2):  # an empty rid is no rid
        assert "dup" not in h.ok("noop", rid="")


def test_request_ids_survive_a_leader_clock_jump(h: Harness) -> None:
    """Found by chaos (clock-jump): pruning by the leader's time forgot ids still retried."""
    h.ok("mkdir", rid="r1", path="/a")
    h.now += 20 * 60 * 1000
    assert h.do("mkdir", rid="r1", path="/a")["dup"]


def test_dup_commit_returns_same_version(h: Harness) -> None:
    args = {"path": "/f", "size": 1, "chunks": h.chunks(1)}
    first = h.ok("commit", rid="c1", **args)
    assert h.do("commit", rid="c1", **args)["version"] == first["version"]
    assert h.state.counts()["chunks"] == 1


# --- batches


def test_batch_applies_every_op_even_after_a_failure(h: Harness) -> None:
    results = h.state.apply_entry(
        batch(
            T0,
            [
                op("mkdir", path="/a"),
                op("mkdir", path="/a"),
                "not an op",
                op("mkdir", path="/b"),
            ],
        )
    )
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert results[2]["code"] == "EINVAL"
    assert [e["name"] for e in h.state.ls("/")] == ["a", "b"]


def test_malformed_batches_never_raise(h: Harness) -> None:
    assert h.state.apply_entry(None)[0]["code"] == "EINVAL"
    assert h.state.apply_entry({"now": T0})[0]["code"] == "EINVAL"
    bad_now = h.state.apply_entry({"now": "later", "ops": [op("noop"), op("noop")]})
    assert [r["code"] for r in bad_now] == ["EINVAL", "EINVAL"]
    assert h.state.apply_entry({"now": True, "ops": [op("noop")]})[0]["code"] == "EINVAL"


def test_an_unexpected_exception_becomes_eio_for_that_op_only(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: MetaState, now: int) -> dict[str, Any]:
        raise RuntimeError("kaput")

    monkeypatch.setattr(MetaState, "_op_noop", boom)
    results = h.state.apply_entry(batch(T0, [op("noop"), op("mkdir", path="/a")]))
    assert results[0]["code"] == "EIO" and "kaput" in results[0]["message"]
    assert results[1]["ok"]


BAD_OPS: list[dict[str, Any]] = [
    {"op": "mkdir", "path": 5},
    {"op": "mkdir", "path": "/a", "parents": "yes"},
    {"op": "mkdir", "path": "/a", "parents": 1},
    {"op": "mkdir"},
    {"op": "mkdir", "path": "/a", "colour": "red"},
    {"op": "mkdir", "path": "/a", "rid": 5},
    {"op": "frobnicate"},
    {"op": None},
    {"op": "create", "path": "/f", "holder": "c", "lease_id": "L", "ttl_ms": -1},
    {"op": "create", "path": "/f", "holder": "c", "lease_id": "L", "ttl_ms": True},
    {"op": "create", "path": "/f", "holder": "c", "lease_id": "L", "ttl_ms": 1.5},
    {"op": "create", "path": "/f", "holder": 3, "lease_id": "L", "ttl_ms": 10},
    {"op": "renew", "path": "/f", "lease_id": "L", "ttl_ms": 10, "chunks": "12"},
    {"op": "release", "path": "/f", "lease_id": None},
    {"op": "commit", "path": "/f", "size": -1, "chunks": []},
    {"op": "commit", "path": "/f", "size": 1.0, "chunks": []},
    {"op": "commit", "path": "/f", "size": 1, "chunks": "x"},
    {"op": "commit", "path": "/f", "size": 1, "chunks": [[1, 1, 0]]},
    {"op": "commit", "path": "/f", "size": 1, "chunks": [[1, 1, 0, "n1"]]},
    {"op": "commit", "path": "/f", "size": 1, "chunks": [[1, 1, 0, [1]]]},
    {"op": "commit", "path": "/f", "size": 1, "chunks": [[2**64, 1, 0, ["n1"]]]},
    {"op": "commit", "path": "/f", "size": 0, "chunks": [], "token": "t", "lease_id": "L"},
    {"op": "commit", "path": "/f", "size": 0, "chunks": [], "replication": 256},
    {"op": "commit", "path": "/f", "size": 0, "chunks": [], "mtime": -5},
    {"op": "rm", "path": ["/f"]},
    {"op": "rm", "path": "/a\x00b"},
    {"op": "rmdir", "path": "/d", "recursive": None},
    {"op": "mv", "src": "/f", "dst": 1},
    {"op": "cp", "src": b"/f", "dst": "/g"},
    {"op": "node_register", "node_id": "", "address": "x", "capacity": 1},
    {"op": "node_register", "node_id": "n9", "address": 1, "capacity": 1},
    {"op": "node_update", "node_id": "n1", "capacity": "big"},
    {"op": "replica_add", "chunk_id": "1", "node_id": "n1"},
    {"op": "replica_remove", "chunk_id": 1, "node_id": 1},
    {"op": "bump_generation", "chunk_id": None},
    {"op": "expire_sessions", "now": 5},
    {"op": "noop", "extra": 1},
]


@pytest.mark.parametrize("bad", BAD_OPS, ids=[str(b) for b in BAD_OPS])
def test_bad_arguments_are_einval_and_change_nothing(h: Harness, bad: dict[str, Any]) -> None:
    h.ok("mkdir", path="/d")
    h.put("/f", 1)
    h.open("/w")
    before = h.state.snapshot()
    result = h.state.apply_entry(batch(h.now, [bad]))[0]
    assert result["ok"] is False and result["code"] == "EINVAL", result
    assert h.state.snapshot() == before


# --- queries


def test_stat_ls_walk(h: Harness) -> None:
    h.ok("mkdir", path="/d/e", parents=True)
    h.now += 10
    h.ok("commit", path="/d/b", size=3, chunks=h.chunks(3), mtime=123)
    h.put("/d/a", 1)
    assert h.state.stat("/d/b") | {"chunks": []} == {
        "path": "/d/b",
        "type": "file",
        "size": 3,
        "mtime": 123,
        "version": 1,
        "replication": 0,
        "chunks": [],
    }
    assert h.state.stat("/d/") == {
        "path": "/d",
        "type": "dir",
        "size": 0,
        "mtime": h.now,
        "entries": 3,
    }
    assert [(e["name"], e["type"]) for e in h.state.ls("/d")] == [
        ("a", "file"),
        ("b", "file"),
        ("e", "dir"),
    ]
    assert h.state.ls("/d/b") == [{"name": "b", "type": "file", "size": 3, "mtime": 123}]
    assert [p for p, _ in h.state.walk("/")] == ["/", "/d", "/d/a", "/d/b", "/d/e"]
    assert [p for p, _ in h.state.walk("/d/a")] == ["/d/a"]
    assert all("chunks" not in s for _, s in h.state.walk("/"))


def test_query_errors_raise_fahadfs_errors(h: Harness) -> None:
    h.put("/f", 1)
    with pytest.raises(errors.NotFound):
        h.state.stat("/nope")
    with pytest.raises(errors.NotADirectory):
        h.state.ls("/f/x")
    with pytest.raises(errors.InvalidArgument):
        list(h.state.walk("nope"))
    assert h.state.chunk(123456) is None
    assert h.state.session("/f") is None


def test_iter_chunks_reports_max_replication_of_referencing_files(h: Harness) -> None:
    h.ok("commit", path="/a", size=1, chunks=h.chunks(1), replication=2)
    h.ok("commit", path="/b", size=1, chunks=h.chunks(1), replication=4)
    rows = list(h.state.iter_chunks())
    assert [(r[0], r[3], r[4]) for r in rows] == [
        (1001, ("n1", "n2", "n3"), 2),
        (1002, ("n1", "n2", "n3"), 4),
    ]


# --- snapshots


def test_snapshot_round_trip_keeps_everything(h: Harness) -> None:
    h.ok("mkdir", path="/a/b", parents=True)
    h.put("/a/b/f", 1, 2)
    h.ok("cp", src="/a/b/f", dst="/a/g")
    h.open("/a/w", ttl=500)
    h.ok("renew", path="/a/w", lease_id="L1", ttl_ms=500, chunks=[5])
    h.ok("mkdir", rid="r1", path="/x")
    h.ok("node_update", node_id="n2", admin_state="draining")
    snap = h.state.snapshot()
    restored = MetaState.from_snapshot(snap)
    assert restored.snapshot() == snap
    assert restored.counts() == h.state.counts()
    assert list(restored.walk("/")) == list(h.state.walk("/"))
    assert restored.nodes() == h.state.nodes()
    assert restored.session("/a/w") == h.state.session("/a/w")
    assert list(restored.iter_chunks()) == list(h.state.iter_chunks())
    # The restored state keeps deduplicating and keeps the counter going.
    later = restored.apply_entry(batch(h.now, [op("mkdir", "r1", path="/x"), op("noop")]))
    assert later[0]["dup"]
    assert restored.apply_entry(batch(h.now, [op("cp", src="/a/g", dst="/a/h")]))[0]["version"] > 3


def test_from_snapshot_refuses_other_data() -> None:
    with pytest.raises(ValueError):
        MetaState.from_snapshot(commands.encode({"hello": 1}))
    with pytest.raises(ValueError):
        MetaState.from_snapshot(commands.encode({"format": "fahadfs-meta", "v": 99}))


def test_deep_trees_do_not_hit_recursion_limits(h: Harness) -> None:
    deep = "/" + "/".join(["d"] * 1500)
    h.ok("mkdir", path=deep, parents=True)
    h.put(deep + "/f", 1)
    assert sum(1 for _ in h.state.walk("/")) == 1502
    assert MetaState.from_snapshot(h.state.snapshot()).snapshot() == h.state.snapshot()
    assert len(h.ok("rmdir", path="/d", recursive=True)["garbage"]) == 1


# --- commands


def test_commands_helpers() -> None:
    assert op("mkdir", "r", path="/a") == {"op": "mkdir", "rid": "r", "path": "/a"}
    with pytest.raises(errors.InvalidArgument):
        op("nope")
    entry = batch(5, [op("noop")])
    assert commands.decode(commands.encode(entry)) == entry
    with pytest.raises(errors.InvalidArgument):
        commands.decode(b"\xff\xff")


def test_known_op_names_match_the_state_machine() -> None:
    handlers = {name[4:] for name in dir(MetaState) if name.startswith("_op_")}
    assert handlers == set(commands.OPS)


def test_request_table_is_bounded_by_count_too(monkeypatch) -> None:
    """Old request ids are forgotten once more than RID_MAX newer ones arrived."""
    import fahadfs.meta_raft.state as state_mod

    monkeypatch.setattr(state_mod, "RID_MAX", 5)
    s = state_mod.MetaState()
    for i in range(10):
        s.apply_entry({"now": 1000 + i, "ops": [{"op": "mkdir", "path": f"/d{i}", "rid": f"r{i}"}]})
    again = s.apply_entry({"now": 2000, "ops": [{"op": "mkdir", "path": "/d0", "rid": "r0"}]})
    assert again[0]["code"] == "EEXIST"  # r0 was forgotten: applied again, not deduplicated
    recent = s.apply_entry({"now": 2001, "ops": [{"op": "mkdir", "path": "/d9", "rid": "r9"}]})
    assert recent[0]["ok"] and recent[0].get("dup")

"""Replica health classification used by fsck and tree."""

from __future__ import annotations

from typing import Any

from fahadfs.cli import _health

NODES = [
    {"id": "n1", "alive": True, "state": "active"},
    {"id": "n2", "alive": True, "state": "active"},
    {"id": "n3", "alive": True, "state": "draining"},
    {"id": "n4", "alive": False, "state": "active"},
    {"id": "n5", "alive": True, "state": "decommissioned"},
]


def cluster(corrupt: dict[str, list[str]] | None = None) -> _health.Cluster:
    return _health.Cluster.from_api(NODES, {"corrupt_reports": corrupt or {}}, default_k=2)


def file(*replicas: tuple[str, ...], replication: int = 2, path: str = "/f") -> dict[str, Any]:
    chunks = [{"id": i + 1, "size": 10, "checksum": 0, "replicas": list(r)} for i, r in
              enumerate(replicas)]  # fmt: skip
    return {"path": path, "type": "file", "size": 10 * len(chunks), "replication": replication,
            "chunks": chunks}  # fmt: skip


def kinds(st: dict[str, Any], c: _health.Cluster | None = None) -> list[str]:
    return [p.problem for p in _health.check_file(st, c or cluster())]


def test_enough_live_active_copies_is_healthy() -> None:
    assert kinds(file(("n1", "n2"))) == []


def test_copies_on_dead_draining_or_decommissioned_nodes_do_not_count() -> None:
    assert kinds(file(("n1", "n4"))) == [_health.UNDER]
    assert kinds(file(("n1", "n3"))) == [_health.UNDER]
    assert kinds(file(("n1", "n5"))) == [_health.UNDER]


def test_no_live_copy_is_missing() -> None:
    assert kinds(file(("n4",), ("n5",), ())) == [_health.MISSING] * 3
    # A copy on a live draining node can still be read: under-replicated, not missing.
    assert kinds(file(("n3",))) == [_health.UNDER]


def test_a_listed_bad_copy_is_corrupt() -> None:
    c = cluster({f"{1:016x}": ["n1"]})
    assert kinds(file(("n1",), ("n1", "n2")), c) == [_health.CORRUPT]
    assert kinds(file(("n2", "n1")), c) == [_health.CORRUPT]
    # Reported bad, but that copy is no longer listed: judged on the rest.
    assert kinds(file(("n2", "n1")), cluster({f"{1:016x}": ["n3"]})) == []


def test_replication_zero_means_the_cluster_default() -> None:
    assert kinds(file(("n1",), replication=0)) == [_health.UNDER]
    assert kinds(file(("n1",), replication=1)) == []


def test_summary_counts_distinct_chunks_and_lists_problems() -> None:
    a = file(("n1", "n2"), ("n4",), path="/a")
    b = file(("n1", "n2"), ("n4",), path="/b")  # a cp of /a: the same chunks
    report = _health.summarize("/", [a, b], cluster())
    assert report["healthy"] is False
    assert (report["files"], report["chunks"], report["missing"], report["under_replicated"]) == (
        2, 2, 1, 0)  # fmt: skip
    assert [p["path"] for p in report["problems"]] == ["/a", "/b"]
    assert report["problems"][0]["chunk"] == f"{2:016x}"
    assert set(report) >= {"healthy", "files", "chunks", "under_replicated", "missing",
                           "corrupt", "problems"}  # fmt: skip


def test_worst_prefers_corrupt_then_missing_then_fewest_copies() -> None:
    p = [_health.Problem("/f", 1, _health.UNDER, 1, 3, (), ()),
         _health.Problem("/f", 2, _health.MISSING, 0, 3, (), ()),
         _health.Problem("/f", 3, _health.UNDER, 0, 3, (), ())]  # fmt: skip
    w = _health.worst(p)
    assert w is not None and w.problem == _health.MISSING
    assert _health.worst([]) is None

"""Health and admin commands against a real cluster whose nodes and masters die: fsck, tree,
node drain/undrain, status, and a leader killed between two commands."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fahadfs.localcluster import LocalCluster
from tests.cli.conftest import CHUNK, Fs, start_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """3 masters + 5 file nodes: room to drain one and to lose one."""
    c = start_cluster(tmp_path_factory.mktemp("cluster"), nodes=5)
    try:
        yield c
    finally:
        c.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def nodes(fs: Fs) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in json.loads(fs.inproc.ok("node", "list", "--json"))}


def test_drain_wait_then_undrain(fs: Fs) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/drain")
    for i in range(4):
        fast.ok("put", "-", f"/drain/f{i}", input=os.urandom(CHUNK + i))
    r = fs.run("node", "drain", "n5", "--wait", "--wait-timeout", "60")
    assert r.returncode == 0, r.stderr
    assert b"node n5: drained" in r.stderr
    n5 = nodes(fs)["n5"]
    assert n5["chunks"] == 0 and n5["state"] in ("draining", "decommissioned")
    for i in range(4):
        st = json.loads(fast.ok("stat", "--json", f"/drain/f{i}"))
        assert all("n5" not in c["replicas"] and len(c["replicas"]) == 3 for c in st["chunks"])
    assert json.loads(fast.ok("fsck", "--json", "/drain"))["healthy"] is True
    fs.ok("node", "undrain", "n5")
    assert nodes(fs)["n5"]["state"] == "active"
    assert "no such node" in fast.fails("node", "drain", "n42")


def test_fsck_and_tree_flag_under_replicated_and_missing_files(
    fs: Fs, cluster: LocalCluster
) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/sick")
    fast.ok("put", "--replication", "5", "-", "/sick/wide", input=os.urandom(2 * CHUNK))
    fast.ok("put", "--replication", "1", "-", "/sick/single", input=os.urandom(100))
    victim = json.loads(fast.ok("stat", "--json", "/sick/single"))["chunks"][0]["replicas"][0]
    healthy = json.loads(fast.ok("fsck", "--json", "/sick"))
    assert healthy["healthy"] is True and healthy["chunks"] == 3
    cluster.kill(victim)
    try:
        wait_for(f"{victim} dead", lambda: not nodes(fs)[victim]["alive"])
        # Written after the death is known, so its copies are all on live nodes.
        fast.ok("put", "-", "/sick/fine", input=b"ok")
        r = fs.run("fsck", "--json", "/sick")
        assert r.returncode == 1
        report = json.loads(r.stdout)
        assert report["healthy"] is False
        assert (report["missing"], report["under_replicated"], report["corrupt"]) == (1, 2, 0)
        problems = {(p["path"], p["problem"]) for p in report["problems"]}
        assert problems == {("/sick/single", "missing"), ("/sick/wide", "under_replicated")}
        text = fs.run("fsck", "/sick")
        assert text.returncode == 1 and b"UNHEALTHY" in text.stdout
        tree = fs.ok("tree", "/sick")
        assert "single  100 B  [MISSING]" in tree
        assert "wide  128.0 KiB  [4/5 replicas]" in tree
        assert "fine  2 B\n" in tree
        assert "2 files short of replicas" in tree
        status = json.loads(fast.ok("status", "--json"))
        assert {n["id"]: n["alive"] for n in status["nodes"]}[victim] is False
        err = fast.fails("get", "--no-cache", "/sick/single", "-", "--timeout", "5")
        assert "could not be read" in err or "no live" in err or "unavailable" in err.lower()
    finally:
        cluster.start_node(victim)
        cluster.wait_ready(timeout=30)
    wait_for("fsck healthy again", lambda: fast.run("fsck", "/sick").returncode == 0)


def test_fsck_reports_a_corrupt_only_copy(fs: Fs, cluster: LocalCluster) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/rotten")
    fast.ok("put", "--replication", "1", "-", "/rotten/f", input=os.urandom(1000))
    chunk = json.loads(fast.ok("stat", "--json", "/rotten/f"))["chunks"][0]
    node, hexid = chunk["replicas"][0], chunk["id"]
    blob: Path = cluster.node_dir(node) / "chunks" / hexid[:2] / hexid
    raw = bytearray(blob.read_bytes())
    raw[10] ^= 0xFF
    blob.write_bytes(bytes(raw))
    err = fast.fails("get", "--no-cache", "/rotten/f", "-")
    assert "checksum" in err or "integrity" in err.lower() or "corrupt" in err
    r = fs.run("fsck", "--json", "/rotten")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["corrupt"] == 1 and report["problems"][0]["bad_replicas"] == [node]
    assert "[CORRUPT]" in fast.ok("tree", "/rotten")
    fast.ok("rm", "/rotten/f")


def test_the_leader_killed_between_two_commands(fs: Fs, cluster: LocalCluster) -> None:
    """No new flags: the next command finds the new leader by itself."""
    fast = fs.inproc
    data = os.urandom(2 * CHUNK + 3)
    fast.ok("mkdir", "/failover")
    fast.ok("put", "-", "/failover/before", input=data)
    leader = json.loads(fs.ok("status", "--json"))["leader"]
    cluster.kill(leader, signal.SIGKILL)
    try:
        assert fs.ok("ls", "/failover").split() == ["before"]
        r = fs.run("get", "--no-cache", "/failover/before", "-")
        assert r.returncode == 0 and r.stdout == data
        fs.ok("put", "-", "/failover/after", input=b"written after the failover")
        st = json.loads(fs.ok("status", "--json"))
        assert st["leader"] not in (None, leader)
        dead = {m["id"]: m for m in st["masters"]}[leader]
        assert dead["alive"] is False and dead["role"] == "unreachable"
        assert "unreachable" in fast.ok("status")
    finally:
        cluster.start_master(leader)
        cluster.wait_ready(timeout=30)
    assert fast.ok("cat", "/failover/after") == "written after the failover"

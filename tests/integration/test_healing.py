"""The leader heals by itself: node loss, return, new node, drain, bit rot, orphans, failover."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fahadfs import auth
from fahadfs.client import SyncClient
from fahadfs.localcluster import ClusterSpec, LocalCluster, free_ports
from fahadfs.rawhttp import call

CHUNK = 64 << 10
FAST = "\n[healer]\ninterval = 0.3\nmax_repairs_per_node = 4\n"


def make(tmp_path: Path, nodes: int = 5, **kw: Any) -> LocalCluster:
    spec = ClusterSpec(nodes=nodes, chunk_size=CHUNK, dead_node=1.5, extra_toml=FAST, **kw)
    return LocalCluster(tmp_path / "c", spec)


@pytest.fixture
def healing(tmp_path: Path) -> Iterator[LocalCluster]:
    c = make(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def write_files(c: LocalCluster, count: int = 3, chunks: int = 12) -> dict[str, bytes]:
    files = {}
    with SyncClient(c.config) as cl:
        cl.mkdir("/heal", parents=True)
        for i in range(count):
            data = os.urandom(chunks * CHUNK)
            cl.put(data, f"/heal/f{i}")
            files[f"/heal/f{i}"] = data
    return files


def chunk_map(c: LocalCluster) -> dict[int, list[str]]:
    with SyncClient(c.config) as cl:
        out = {}
        for path, st in cl.walk("/"):
            if st["type"] != "file":
                continue
            for ch in cl.stat(path)["chunks"]:
                out[ch["id"]] = ch["replicas"]
        return out


def copies_on_disk(c: LocalCluster, chunk_id: int, node_ids: list[str]) -> list[str]:
    name = f"{chunk_id:016x}"
    return [n for n in node_ids if (c.node_dir(n) / "chunks" / name[:2] / name).is_file()]


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if pred():
                return time.monotonic() - start
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def all_whole(c: LocalCluster, live: set[str]) -> bool:
    return all(len(set(r) & live) == 3 and len(r) == 3 for r in chunk_map(c).values())


def leader_log(c: LocalCluster, leader: str) -> list[dict[str, Any]]:
    events = []
    for line in (c.config.process_dir(leader) / f"{leader}.log").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def test_node_loss_restores_three_live_copies_and_return_trims_to_exactly_three(
    healing: LocalCluster,
) -> None:
    c = healing
    files = write_files(c)
    c.kill("n3")
    live = {"n1", "n2", "n4", "n5"}
    took = wait_for(lambda: all_whole(c, live), 30, "k=3 after losing n3")
    assert took < 30
    c.start_node("n3")
    every = ["n1", "n2", "n3", "n4", "n5"]

    def exactly_three_on_disk() -> bool:
        m = chunk_map(c)
        return all(len(copies_on_disk(c, cid, every)) == 3 == len(r) for cid, r in m.items())

    wait_for(exactly_three_on_disk, 40, "exactly 3 copies on disk after n3 returned")
    with SyncClient(c.config) as cl:
        for path, data in files.items():
            assert cl.read_bytes(path) == data


def test_two_nodes_lost_most_endangered_chunks_first(healing: LocalCluster) -> None:
    c = healing
    write_files(c, count=4, chunks=12)
    before = chunk_map(c)
    one_left = {cid for cid, r in before.items() if {"n1", "n2"} <= set(r)}
    two_left = {cid for cid, r in before.items() if len({"n1", "n2"} & set(r)) == 1}
    assert one_left and two_left
    leader = c.leader_id()
    c.kill("n1")
    c.kill("n2")
    wait_for(lambda: all_whole(c, {"n3", "n4", "n5"}), 60, "k=3 after losing n1, n2")
    events = leader_log(c, leader)
    dead_at = max(i for i, e in enumerate(events) if e.get("event") == "node.dead")
    assert {e["node"] for e in events if e.get("event") == "node.dead"} == {"n1", "n2"}
    # Once both deaths are known, repairs start with the chunks that have one copy left.
    started = [e for e in events[dead_at:] if e.get("event") == "repair.start"]
    order = [e["live_before"] for e in started]
    assert order and order[0] == 1, order[:10]
    ones = [i for i, v in enumerate(order) if v == 1]
    twos = [i for i, v in enumerate(order) if v == 2]
    assert sum(ones) / len(ones) < sum(twos) / len(twos), order


def test_new_empty_node_receives_copies_until_balanced(tmp_path: Path) -> None:
    c = make(tmp_path, nodes=4, node_capacity=6 << 20)
    try:
        c.start()
        write_files(c, count=4, chunks=10)  # ~7.5 MiB of copies over 4 x 6 MiB nodes
        port = free_ports(1)[0]
        data_dir = tmp_path / "n9"
        c.start_node(
            "n9",
            extra=[
                "--listen",
                f"127.0.0.1:{port}",
                "--data",
                str(data_dir),
                "--capacity",
                str(6 << 20),
            ],
        )
        c.wait_ready(node_ids=["n1", "n2", "n3", "n4", "n9"])
        leader = c.http(c.leader_id())

        fewest: list[int] = []

        def balanced() -> bool:
            fewest.append(min(len(r) for r in chunk_map(c).values()))
            _, _, body = call(leader, "/v1/nodes")
            rows = {n["id"]: n for n in body["nodes"] if n["alive"]}
            usage = [r["used_bytes"] / r["capacity"] for r in rows.values()]
            return rows["n9"]["chunks"] > 0 and max(usage) - min(usage) <= 0.10 + 1e-9

        wait_for(balanced, 60, "n9 to be filled to within the threshold")
        wait_for(lambda: all(len(r) == 3 for r in chunk_map(c).values()), 20, "trims")
        assert min(fewest) >= 3, "a chunk went below 3 copies while rebalancing"
    finally:
        c.stop()


def test_drain_under_reads_never_drops_below_three(healing: LocalCluster) -> None:
    c = healing
    files = write_files(c, count=3, chunks=10)
    leader = c.http(c.leader_id())
    failures: list[str] = []
    low: list[tuple[int, list[str]]] = []
    stop = threading.Event()

    def reader() -> None:
        with SyncClient(c.config) as cl:
            for _ in range(2000):
                if stop.is_set():
                    return
                for path, data in files.items():
                    try:
                        if cl.read_bytes(path) != data:
                            failures.append(f"{path}: wrong bytes")
                    except Exception as exc:
                        failures.append(f"{path}: {exc!r}")

    def sampler() -> None:
        for _ in range(2000):
            if stop.is_set():
                return
            for cid, reps in chunk_map(c).items():
                if len(reps) < 3:
                    low.append((cid, reps))
            time.sleep(0.05)

    threads = [threading.Thread(target=reader), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    try:
        status, _, body = call(leader, "/v1/node/n2/state", {"state": "draining"})
        assert status == 200, body

        def drained() -> bool:
            _, _, nodes = call(leader, "/v1/nodes")
            row = next(n for n in nodes["nodes"] if n["id"] == "n2")
            return row["state"] == "decommissioned" and row["chunks"] == 0

        wait_for(drained, 60, "n2 drained and decommissioned")
        chunk_dir = c.node_dir("n2") / "chunks"
        wait_for(lambda: not any(p.is_file() for p in chunk_dir.rglob("*")), 30, "n2 empty")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, failures[:5]
    assert not low, low[:5]
    assert all("n2" not in r for r in chunk_map(c).values())


def test_scrubber_finds_flipped_bit_and_master_repairs(tmp_path: Path) -> None:
    spec_extra = FAST + '\n[scrub]\ninterval = 1\nrate = "64MiB"\n'
    c = LocalCluster(
        tmp_path / "c", ClusterSpec(nodes=5, chunk_size=CHUNK, dead_node=1.5, extra_toml=spec_extra)
    )
    try:
        c.start()
        files = write_files(c, count=1, chunks=4)
        cid, reps = next(iter(chunk_map(c).items()))
        victim = reps[0]
        name = f"{cid:016x}"
        path = c.node_dir(victim) / "chunks" / name[:2] / name
        raw = bytearray(path.read_bytes())
        raw[100] ^= 0x04
        path.write_bytes(bytes(raw))

        def repaired() -> bool:
            now = chunk_map(c)[cid]
            return victim not in now and len(set(now)) == 3

        wait_for(repaired, 30, "the corrupt copy replaced")
        with SyncClient(c.config) as cl:
            for p, data in files.items():
                assert cl.read_bytes(p) == data
    finally:
        c.stop()


def test_chunk_file_deleted_behind_a_nodes_back_is_replaced(tmp_path: Path) -> None:
    """Found by chaos: a copy that vanished from a node's disk was never replaced."""
    spec_extra = FAST + '\n[scrub]\ninterval = 1\nrate = "64MiB"\n'
    spec = ClusterSpec(
        nodes=5, chunk_size=CHUNK, dead_node=1.5, chunk_report=0.5, extra_toml=spec_extra
    )
    c = LocalCluster(tmp_path / "c", spec)
    try:
        c.start()
        files = write_files(c, count=1, chunks=4)
        cid, reps = next(iter(chunk_map(c).items()))
        victim = reps[0]
        name = f"{cid:016x}"
        (c.node_dir(victim) / "chunks" / name[:2] / name).unlink()
        every = [f"n{i}" for i in range(1, 6)]

        def replaced() -> bool:
            now = chunk_map(c)[cid]
            return victim not in now and len(copies_on_disk(c, cid, every)) == 3 == len(now)

        wait_for(replaced, 40, "the vanished copy replaced")
        with SyncClient(c.config) as cl:
            for p, data in files.items():
                assert cl.read_bytes(p) == data
    finally:
        c.stop()


def _put_raw_chunk(c: LocalCluster, node: str, chunk_id: int, data: bytes) -> None:
    token = auth.sign(
        c.config.secret,
        "write",
        {"chunk": f"{chunk_id:016x}", "max": len(data)},
        int(time.time() * 1000),
        60_000,
    )
    import urllib.request

    req = urllib.request.Request(
        f"{c.http(node)}/v1/chunk/{chunk_id:016x}",
        data=data,
        method="PUT",
        headers={"X-Fahadfs-Token": token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_orphans_are_collected_after_grace_but_open_sessions_are_kept(tmp_path: Path) -> None:
    c = make(tmp_path, orphan_grace=3.0, chunk_report=0.5)
    try:
        c.start()
        orphan = int(uuid.uuid4().hex[:15], 16)
        pending = int(uuid.uuid4().hex[:15], 16)
        with SyncClient(c.config) as cl:
            cl.mkdir("/w", parents=True)
        leader = c.http(c.leader_id())
        status, _, sess = call(
            leader,
            "/v1/meta/create",
            {
                "path": "/w/in-progress",
                "holder": "test",
                "lease_id": "L",
                "ttl_ms": 60_000,
                "rid": uuid.uuid4().hex,
            },
        )
        assert status == 200, sess
        _put_raw_chunk(c, "n1", orphan, b"o" * 1000)
        _put_raw_chunk(c, "n1", pending, b"p" * 1000)
        status, _, _ = call(
            leader,
            "/v1/meta/renew",
            {"path": "/w/in-progress", "lease_id": "L", "ttl_ms": 60_000, "chunks": [pending]},
        )
        assert status == 200
        wait_for(lambda: not copies_on_disk(c, orphan, ["n1"]), 30, "the orphan to be deleted")
        assert copies_on_disk(c, pending, ["n1"]) == ["n1"]
    finally:
        c.stop()


def test_leader_killed_mid_repair_new_leader_finishes_after_safemode(tmp_path: Path) -> None:
    extra = "\n[healer]\ninterval = 0.3\nmax_repairs_per_node = 1\n"
    c = LocalCluster(
        tmp_path / "c", ClusterSpec(nodes=5, chunk_size=CHUNK, dead_node=1.5, extra_toml=extra)
    )
    try:
        c.start()
        write_files(c, count=4, chunks=16)
        old = c.leader_id()
        c.kill("n4")

        def repairing() -> bool:
            _, _, h = call(c.http(old), "/v1/health")
            return h["repairs_done"] > 0 and h["under_replicated_chunks"] > 0

        wait_for(repairing, 30, "repairs to be under way")
        c.kill(old)
        new = c.leader_id(exclude=[old])
        _, _, h = call(c.http(new), "/v1/health")
        saw_safemode = h["safemode"]
        wait_for(lambda: all_whole(c, {"n1", "n2", "n3", "n5"}), 60, "the new leader to finish")
        assert saw_safemode
        events = leader_log(c, new)
        assert any(e.get("event") == "healer.safemode" for e in events)
        assert any(e.get("event") == "replica.repaired" for e in events)
    finally:
        c.stop()

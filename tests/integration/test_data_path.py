"""Real masters and file nodes: round trips, corruption, node and leader loss mid-upload."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from fahadfs import errors
from fahadfs.client import Client, SyncClient
from fahadfs.localcluster import ClusterSpec, LocalCluster
from fahadfs.rawhttp import call

CHUNK = 64 << 10


def chunk_files(c: LocalCluster, chunk_id: int) -> list[Path]:
    name = f"{chunk_id:016x}"
    out = []
    for n in c.config.nodes:
        out.extend(p for p in c.node_dir(n.id).rglob(name) if p.is_file())
    return out


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123], ids=lambda s: f"{s}B"
)
def test_round_trip_every_chunk_on_three_distinct_nodes(
    shared_cluster: LocalCluster, size: int
) -> None:
    cluster = shared_cluster
    data = os.urandom(size)
    with SyncClient(cluster.config) as c:
        c.put(data, "/rt.bin")
        assert c.read_bytes("/rt.bin") == data
        st = c.stat("/rt.bin")
    assert st["size"] == size
    assert len(st["chunks"]) == -(-size // CHUNK)
    for ch in st["chunks"]:
        assert len(set(ch["replicas"])) == 3
        assert len(chunk_files(cluster, ch["id"])) == 3


def test_corrupt_replica_is_bypassed_and_reported(
    shared_cluster: LocalCluster, tmp_path: Path
) -> None:
    cluster = shared_cluster
    data = os.urandom(3 * CHUNK)
    with SyncClient(cluster.config) as c:
        c.put(data, "/rot.bin")
        st = c.stat("/rot.bin")
        victim = st["chunks"][1]
        files = chunk_files(cluster, victim["id"])
        # Flip one bit in every copy but one: the read must still find the good one.
        for f in files[:2]:
            raw = bytearray(f.read_bytes())
            raw[10] ^= 0x01
            f.write_bytes(bytes(raw))
        leader = cluster.http(cluster.leader_id())
        # Replicas are tried least-loaded first with random ties: read until a bad one is hit.
        for _ in range(20):
            assert c.read_bytes("/rot.bin") == data
            _, _, health = call(leader, "/v1/health")
            reported = {r["chunk"] for r in health["recent_bad_reports"]}
            if f"{victim['id']:016x}" in reported:
                break
        assert f"{victim['id']:016x}" in reported


def test_node_killed_during_multi_chunk_upload_still_gets_three_copies(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(40 * CHUNK))
    killed: list[str] = []

    def progress(done: int) -> None:
        if done > 8 * CHUNK and not killed:
            killed.append("n2")
            cluster.kill("n2")

    with SyncClient(cluster.config) as c:
        c.put(src, "/survivor.bin", parallel=2, progress=progress)
        assert killed, "upload finished before the kill"
        st = c.stat("/survivor.bin")
        assert c.read_bytes("/survivor.bin") == src.read_bytes()
    for ch in st["chunks"]:
        assert len(set(ch["replicas"])) == 3
        # Every listed copy is durable on its node's disk (n2's too: it died after storing).
        on_disk = {f.parts[-4] for f in chunk_files(cluster, ch["id"])}
        assert set(ch["replicas"]) <= on_disk, (ch["replicas"], on_disk)


def test_second_writer_gets_ebusy_naming_the_holder(shared_cluster: LocalCluster) -> None:
    cluster = shared_cluster

    async def go() -> None:
        async with (
            Client(cluster.config, client_id="writer-one") as a,
            Client(cluster.config, client_id="writer-two") as b,
        ):
            await a.mkdir("/busy", parents=True)
            created = await a.mutate(
                "create",
                {"path": "/busy/f", "holder": "writer-one", "lease_id": "L1", "ttl_ms": 30_000},
            )
            assert created["token"] > 0
            with pytest.raises(errors.Busy) as err:
                await b.put(b"x" * (3 * CHUNK), "/busy/f")
            assert "writer-one" in err.value.message

    asyncio.run(go())


def test_leader_killed_during_upload_completes_or_fails_cleanly(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(60 * CHUNK))
    old = cluster.leader_id()
    done: list[object] = []

    def upload() -> None:
        try:
            with SyncClient(cluster.config, deadline=30) as c:
                done.append(c.put(src, "/ha.bin", parallel=2))
        except errors.FahadfsError as exc:
            done.append(exc)

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(0.3)
    cluster.kill(old)
    t.join(90)
    assert done, "upload hung"
    outcome = done[0]
    with SyncClient(cluster.config) as c:
        if isinstance(outcome, errors.FahadfsError):
            assert outcome.retryable or isinstance(outcome, errors.StaleSession), outcome
            outcome_retry = c.put(src, "/ha.bin")
            assert outcome_retry.size == src.stat().st_size
        assert c.read_bytes("/ha.bin") == src.read_bytes()


def test_forged_or_expired_token_403_and_bad_chunk_id_400(shared_cluster: LocalCluster) -> None:
    cluster = shared_cluster
    from fahadfs import auth

    node = cluster.http("n1")
    secret = cluster.config.secret
    now = int(time.time() * 1000)
    cid = "00000000000000ab"
    cases = {
        "missing": None,
        "forged": auth.sign("wrong-secret!!", "write", {"chunk": cid, "max": 10}, now, 60_000),
        "expired": auth.sign(secret, "write", {"chunk": cid, "max": 10}, now - 120_000, 60_000),
        "other chunk": auth.sign(
            secret, "write", {"chunk": "00000000000000ac", "max": 10}, now, 60_000
        ),
    }
    import urllib.error
    import urllib.request

    for name, token in cases.items():
        headers = {"Content-Type": "application/octet-stream"}
        if token:
            headers["X-Fahadfs-Token"] = token
        req = urllib.request.Request(
            f"{node}/v1/chunk/{cid}", data=b"0123456789", method="PUT", headers=headers
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 403, name
    for bad in ["../../etc/passwd", "XYZ", "00000000000000AB", "1" * 17]:
        token = auth.sign(secret, "write", {"chunk": bad, "max": 10}, now, 60_000)
        req = urllib.request.Request(
            f"{node}/v1/chunk/{urllib.request.quote(bad, safe='')}",
            data=b"0123456789",
            method="PUT",
            headers={"X-Fahadfs-Token": token},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code in (400, 404), bad


def test_full_disks_fail_with_enospc_and_leave_nothing_visible(tmp_path: Path) -> None:
    spec = ClusterSpec(nodes=3, chunk_size=CHUNK, node_capacity=4 * CHUNK)
    with LocalCluster(tmp_path / "full", spec) as c:
        c.start()
        with SyncClient(c.config) as cl:
            cl.put(os.urandom(2 * CHUNK), "/fits.bin")
            with pytest.raises((errors.NoSpace, errors.NotEnoughNodes)) as err:
                cl.put(os.urandom(8 * CHUNK), "/too-big.bin")
            assert err.value.code in ("ENOSPC", "EREPLICATION")
            assert not cl.exists("/too-big.bin")
            assert cl.read_bytes("/fits.bin") is not None

"""put: sessions for big files, one Raft op for small ones, per-chunk re-planning."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fahadfs import checksum, errors
from fahadfs.client import Client
from tests.client.fakes import FakeCluster, cbor, err

MiB = 1 << 20


def blob(n: int, seed: int = 1) -> bytes:
    """``n`` bytes of a seeded pattern with period 251 (not a multiple of any chunk size)."""
    period = bytes((i * 31 + seed) % 251 for i in range(251))
    return (period * (n // 251 + 1))[:n]


def stored(cluster: FakeCluster, path: str) -> bytes:
    """The file's content as the fake nodes hold it, checking every replica agrees."""
    out = b""
    for c in cluster.leader.files[path]["chunks"]:
        copies = {cluster.node(n).chunks[c["id"]] for n in c["replicas"]}
        assert len(copies) == 1 and len(c["replicas"]) == 3
        out += copies.pop()
    return out


async def test_a_small_file_skips_the_session(cluster: FakeCluster) -> None:
    m = cluster.leader
    data = blob(1000)
    async with Client(cluster.config()) as c:
        res = await c.put(data, "/small")
    assert res.size == 1000 and res.chunks == 1 and res.version == m.files["/small"]["version"]
    assert m.ops("create") == [] and m.ops("renew") == [] and m.ops("release") == []
    (commit,) = m.ops("commit")
    assert commit.body["lease_id"] is None and commit.body["token"] is None
    assert commit.body["chunks"][0]["checksum"] == checksum.of(data)
    assert stored(cluster, "/small") == data
    put = next(n for n in cluster.nodes if n.puts).puts[0]
    assert put["X-Fahadfs-Checksum"] == str(checksum.of(data))  # known up front for bytes
    assert put["X-Fahadfs-Token"].startswith("tok-")
    assert len(put["X-Fahadfs-Pipeline"].split(",")) == 2


async def test_an_empty_file_is_one_commit(cluster: FakeCluster) -> None:
    m = cluster.leader
    async with Client(cluster.config()) as c:
        res = await c.put(b"", "/empty")
    assert res.size == 0 and res.chunks == 0
    assert m.ops("plan") == [] and m.ops("create") == []
    assert m.ops("commit")[0].body["chunks"] == [] and m.files["/empty"]["size"] == 0


async def test_a_big_file_goes_through_a_session(cluster: FakeCluster, tmp_path: Path) -> None:
    m = cluster.leader
    data = blob(3 * MiB + 123)
    local = tmp_path / "big"
    local.write_bytes(data)
    seen: list[int] = []
    async with Client(cluster.config(), client_id="me") as c:
        res = await c.put(local, "/big", parallel=2, progress=seen.append)
    assert res.chunks == 4 and res.size == len(data)
    (create,) = m.ops("create")
    assert create.body["holder"] == "me" and create.body["ttl_ms"] == 60_000
    (commit,) = m.ops("commit")
    assert commit.body["lease_id"] == create.body["lease_id"] and commit.body["token"] >= 1
    assert commit.body["size"] == len(data)
    assert stored(cluster, "/big") == data
    # a local file is checksummed while it is sent: no header, the acks are checked instead
    assert all("X-Fahadfs-Checksum" not in h for n in cluster.nodes for h in n.puts)
    assert seen == sorted(seen) and seen[-1] == len(data)


async def test_the_first_node_answering_502_gets_the_chunk_replanned(
    cluster: FakeCluster,
) -> None:
    m = cluster.leader
    n1 = cluster.node("n1")
    n1.fail_puts.append(
        err(errors.Unavailable("pipeline: n2 did not answer", node="n2"), status=502)
    )
    data = blob(5000)
    async with Client(cluster.config()) as c:
        await c.put(data, "/f")
    plans = m.ops("plan")
    assert len(plans) == 2
    assert plans[1].body["count"] == 1 and plans[1].body["exclude"] == ["n2"]
    assert plans[1].body["size"] == 5000
    (commit,) = m.ops("commit")
    (chunk,) = commit.body["chunks"]
    assert sorted(a["node"] for a in chunk["acks"]) == ["n1", "n3", "n4"]
    assert stored(cluster, "/f") == data


async def test_an_unreachable_first_node_is_excluded(cluster: FakeCluster) -> None:
    m = cluster.leader
    cluster.node("n1").fail_puts.append("drop")
    async with Client(cluster.config()) as c:
        await c.put(blob(10), "/g")
    assert m.ops("plan")[1].body["exclude"] == ["n1"]
    assert "n1" not in m.files["/g"]["chunks"][0]["replicas"]


async def test_a_chunk_that_keeps_failing_aborts_the_session(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    m = cluster.leader
    for n in cluster.nodes:
        n.fail_puts.extend(err(errors.FahadfsError("disk on fire")) for _ in range(10))
    local = tmp_path / "f"
    local.write_bytes(blob(2 * MiB + 1))
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.FahadfsError, match="disk on fire"):
            await c.put(local, "/h")
    (release,) = m.ops("release")
    assert release.body["lease_id"] == m.ops("create")[0].body["lease_id"]
    assert m.ops("commit") == [] and "/h" not in m.files


async def test_running_out_of_nodes_to_replan_on_raises(cluster: FakeCluster) -> None:
    for n in cluster.nodes:
        n.fail_puts.append("drop")
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.Unavailable, match="re-planning it failed: plan: 2 nodes") as e:
            await c.put(blob(10), "/i")
    assert isinstance(e.value.__cause__, errors.NotEnoughNodes)


async def test_a_disagreeing_ack_fails_the_chunk_attempt(cluster: FakeCluster) -> None:
    m = cluster.leader
    good = checksum.of(blob(10))
    acks = [{"node": "n1", "checksum": good}, {"node": "n2", "checksum": 1}]
    cluster.node("n1").fail_puts.append(cbor({"acks": [*acks, {"node": "n3", "checksum": good}]}))
    async with Client(cluster.config(), deadline=2) as c:
        await c.put(blob(10), "/j")
    assert m.ops("plan")[1].body["exclude"] == ["n2"]
    assert "n2" not in m.files["/j"]["chunks"][0]["replicas"]


async def stream(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


@pytest.mark.parametrize("kind", ["async-iter", "sync-file", "sync-iter", "async-read"])
async def test_streams_of_unknown_length_are_planned_chunk_by_chunk(
    cluster: FakeCluster, kind: str
) -> None:
    m = cluster.leader
    data = blob(2 * MiB + MiB // 2)
    source: Any
    if kind == "async-iter":
        source = stream(data, 300_000)
    elif kind == "sync-file":
        source = io.BytesIO(data)
    elif kind == "sync-iter":
        source = [data[: MiB + 5], data[MiB + 5 :]]
    else:

        class Reader:
            def __init__(self) -> None:
                self.f = io.BytesIO(data)

            async def read(self, n: int) -> bytes:
                return self.f.read(min(n, 77_777))

        source = Reader()
    async with Client(cluster.config()) as c:
        res = await c.put(source, "/s")
    assert res.size == len(data) and res.chunks == 3
    assert len(m.ops("create")) == 1
    assert all(p.body["count"] == 1 for p in m.ops("plan"))
    assert [p.body["size"] for p in m.ops("plan")] == [MiB, MiB, MiB // 2]
    assert stored(cluster, "/s") == data


async def test_a_short_stream_is_one_commit_without_a_session(cluster: FakeCluster) -> None:
    m = cluster.leader
    async with Client(cluster.config()) as c:
        await c.put(stream(b"hello world", 3), "/t")
    assert m.ops("create") == [] and stored(cluster, "/t") == b"hello world"
    async with Client(cluster.config()) as c:
        await c.put(stream(b"", 3), "/u")
    assert m.files["/u"]["size"] == 0


async def test_renewals_carry_the_chunks_sent_so_far(cluster: FakeCluster, tmp_path: Path) -> None:
    m = cluster.leader
    for n in cluster.nodes:
        n.put_delay = 0.4
    local = tmp_path / "f"
    local.write_bytes(blob(4 * MiB))
    cfg = cluster.config(timeouts={"session": "1s"})  # renew every ~0.33 s
    async with Client(cfg) as c:
        await c.put(local, "/r", parallel=1)
    renews = m.ops("renew")
    assert len(renews) >= 2
    chunks = [r.body["chunks"] for r in renews]
    assert chunks == sorted(chunks, key=len) and len(chunks[-1]) >= 2
    assert len({r.body["rid"] for r in renews}) == len(renews)  # each renewal is its own op
    committed = [c["id"] for c in m.ops("commit")[0].body["chunks"]]
    assert set(chunks[-1]) <= set(committed)


async def test_a_lost_session_stops_the_upload(cluster: FakeCluster, tmp_path: Path) -> None:
    m = cluster.leader
    for n in cluster.nodes:
        n.put_delay = 0.5
    local = tmp_path / "f"
    local.write_bytes(blob(6 * MiB))

    async def stale(request: web.Request, body: Any) -> Any:
        if request.path == "/v1/meta/renew":
            return err(errors.StaleSession("renew /l: lease superseded"))
        return None

    m.hook = stale
    async with Client(cluster.config(timeouts={"session": "1s"})) as c:
        with pytest.raises(errors.StaleSession, match="superseded"):
            await c.put(local, "/l", parallel=1)
    assert m.ops("commit") == []


async def test_local_problems_are_os_errors(cluster: FakeCluster, tmp_path: Path) -> None:
    async with Client(cluster.config()) as c:
        with pytest.raises(FileNotFoundError):
            await c.put(tmp_path / "missing", "/x")
        with pytest.raises(IsADirectoryError):
            await c.put(str(tmp_path), "/x")
        with pytest.raises(errors.InvalidArgument):
            await c.put(object(), "/x")


def test_blob_helper_is_not_constant() -> None:
    assert len(set(blob(300))) > 200 and os.urandom(1)


async def test_a_node_found_dead_is_avoided_by_the_other_chunks(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    m = cluster.leader
    await cluster.node("n1").stop()
    local = tmp_path / "f"
    local.write_bytes(blob(4 * MiB))
    async with Client(cluster.config()) as c:
        await c.put(local, "/dead", parallel=1)
    assert all("n1" not in ch["replicas"] for ch in m.files["/dead"]["chunks"])
    replans = [p.body for p in m.ops("plan") if p.body.get("count") == 1]
    assert len(replans) == 3 and all(p["exclude"] == ["n1"] for p in replans)


async def test_a_commit_whose_answer_is_lost_is_retried_with_its_rid(
    cluster: FakeCluster,
) -> None:
    m = cluster.leader
    first = [True]

    async def lose_first_commit_answer(request: web.Request, body: Any) -> Any:
        if request.path == "/v1/commit" and first[0]:
            first[0] = False
            m.dispatch(request, body)  # applied...
            assert request.transport is not None
            request.transport.close()  # ...but the answer never arrives
            return web.Response()
        return None

    m.hook = lose_first_commit_answer
    async with Client(cluster.config()) as c:
        res = await c.put(blob(100), "/once")
    commits = m.ops("commit")
    assert len(commits) == 2 and commits[0].body["rid"] == commits[1].body["rid"]
    assert res.version == m.files["/once"]["version"]  # the first (and only) application

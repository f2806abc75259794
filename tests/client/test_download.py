"""get: replica choice, checksum fallback with report_bad, temp file + rename, ordered streams."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from fahadfs import errors
from fahadfs.client import Client
from tests.client.fakes import FakeCluster, cbor
from tests.client.test_upload import MiB, blob


async def upload(cluster: FakeCluster, data: bytes, path: str = "/f") -> list[dict[str, Any]]:
    async with Client(cluster.config()) as c:
        await c.put(data, path)
    return cluster.leader.files[path]["chunks"]


def prefer(cluster: FakeCluster, node_id: str) -> None:
    """Make ``node_id`` the only live-looking node, so it is tried first."""
    for n in cluster.nodes:
        cluster.leader.alive[n.id] = n.id == node_id


async def test_roundtrip_to_a_path_and_to_streams(cluster: FakeCluster, tmp_path: Path) -> None:
    data = blob(3 * MiB + 7)
    await upload(cluster, data)
    seen: list[int] = []
    async with Client(cluster.config()) as c:
        res = await c.get("/f", tmp_path / "out", parallel=3, progress=seen.append)
        assert (tmp_path / "out").read_bytes() == data
        assert res.size == len(data) and res.version == cluster.leader.files["/f"]["version"]
        buf = io.BytesIO()
        await c.get("/f", buf, parallel=2)
        assert buf.getvalue() == data
        assert await c.read_bytes("/f") == data
        (tmp_path / "dir").mkdir()
        await c.get("/f", tmp_path / "dir")
        assert (tmp_path / "dir" / "f").read_bytes() == data
    assert seen == sorted(seen) and seen[-1] == len(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out"]  # no temp files left


async def test_an_async_stream_receives_bytes_in_order(cluster: FakeCluster) -> None:
    data = blob(4 * MiB + 1)
    await upload(cluster, data)

    class Sink:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        async def write(self, b: bytes) -> None:
            await asyncio.sleep(0)
            self.parts.append(b)

    sink = Sink()
    async with Client(cluster.config()) as c:
        await c.get("/f", sink, parallel=4)
    assert b"".join(sink.parts) == data


async def test_a_checksum_mismatch_falls_back_and_is_reported(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    data = blob(2 * MiB + 5)
    chunks = await upload(cluster, data)
    first = chunks[0]
    bad = first["replicas"][0]
    cluster.node(bad).corrupt.add(first["id"])
    prefer(cluster, bad)
    async with Client(cluster.config()) as c:
        await c.get("/f", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert first["id"] in cluster.node(bad).gets
    (report,) = cluster.leader.bad_reports
    assert report["chunk"] == first["id"] and report["node"] == bad
    assert "checksum" in report["reason"]


async def test_a_missing_or_unreachable_replica_falls_back_silently(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    data = blob(1000)
    (chunk,) = await upload(cluster, data)
    gone, dead = chunk["replicas"][0], chunk["replicas"][1]
    del cluster.node(gone).chunks[chunk["id"]]
    await cluster.node(dead).stop()
    async with Client(cluster.config()) as c:
        assert await c.read_bytes("/f") == data
    assert cluster.leader.bad_reports == []


async def test_every_replica_corrupt_raises_integrity_error_and_leaves_no_file(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    data = blob(2 * MiB)
    chunks = await upload(cluster, data)
    second = chunks[1]
    for n in second["replicas"]:
        cluster.node(n).corrupt.add(second["id"])
    target = tmp_path / "out"
    target.write_bytes(b"old content")
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.IntegrityError) as info:
            await c.get("/f", target)
    assert f"{second['id']:016x}" in info.value.message
    assert info.value.details["chunk"] == f"{second['id']:016x}"
    assert len(cluster.leader.bad_reports) == 3
    assert target.read_bytes() == b"old content"  # the target is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # and the temp file is gone


async def test_no_replica_holding_the_chunk_raises_chunk_not_found(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    (chunk,) = await upload(cluster, blob(10))
    for n in cluster.nodes:
        n.chunks.clear()
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.ChunkNotFound, match=f"{chunk['id']:016x}"):
            await c.get("/f", tmp_path / "out")
        with pytest.raises(errors.ChunkNotFound):
            await c.get("/f", io.BytesIO())
    assert list(tmp_path.iterdir()) == []


async def test_all_replicas_unreachable_is_unavailable(cluster: FakeCluster) -> None:
    (chunk,) = await upload(cluster, blob(10))
    for n in chunk["replicas"]:
        await cluster.node(n).stop()
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.Unavailable, match="could not be read from any replica"):
            await c.read_bytes("/f")


async def test_reads_spread_over_replicas_by_in_flight_load(cluster: FakeCluster) -> None:
    data = blob(8 * MiB)
    await upload(cluster, data)
    async with Client(cluster.config()) as c:
        assert await c.read_bytes("/f") == data
    served = [len(n.gets) for n in cluster.nodes]
    assert sum(served) == 8 and max(served) < 8


async def test_get_of_a_directory_or_missing_file(cluster: FakeCluster, tmp_path: Path) -> None:
    async with Client(cluster.config()) as c:
        with pytest.raises(errors.IsADirectory):
            await c.get("/", tmp_path / "x")
        with pytest.raises(errors.NotFound):
            await c.get("/missing", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


async def test_an_empty_file_downloads_as_empty(cluster: FakeCluster, tmp_path: Path) -> None:
    await upload(cluster, b"", "/e")
    async with Client(cluster.config()) as c:
        await c.get("/e", tmp_path / "e")
    assert (tmp_path / "e").read_bytes() == b""


@pytest.mark.parametrize("target", ["path", "stream"])
async def test_a_file_replaced_during_the_get_is_read_again(
    cluster: FakeCluster, tmp_path: Path, target: str
) -> None:
    m = cluster.leader
    old_chunks = await upload(cluster, blob(1500, seed=1))
    old_stat = m.stat("/f")
    await upload(cluster, blob(2500, seed=2))
    for c in old_chunks:  # the old version's chunks were collected
        for n in cluster.nodes:
            n.chunks.pop(c["id"], None)
    stale = [True]

    async def first_stat_is_old(request: Any, body: Any) -> Any:
        if request.path == "/v1/stat" and stale[0]:
            stale[0] = False
            return cbor(old_stat)
        return None

    m.hook = first_stat_is_old
    async with Client(cluster.config()) as c:
        if target == "path":
            res = await c.get("/f", tmp_path / "out")
            assert (tmp_path / "out").read_bytes() == blob(2500, seed=2)
        else:
            buf = io.BytesIO()
            res = await c.get("/f", buf)
            assert buf.getvalue() == blob(2500, seed=2)
    assert res.version == m.files["/f"]["version"] and res.size == 2500

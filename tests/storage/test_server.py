"""The file node HTTP API on real loopback ports: PUT pipelines, GET, tokens, errors, admin."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import cbor2
import pytest

from fahadfs import checksum
from fahadfs.errors import FahadfsError
from fahadfs.storage.chunkstore import DiskChunkStore, MemoryChunkStore, format_chunk_id
from fahadfs.storage.server import SMALL_CHUNK

from .conftest import SECRET, StartNode, admin_token, free_port, write_token

MiB = 1 << 20
CID = 0x0123456789ABCDEF
HEX = format_chunk_id(CID)


async def put(
    http: aiohttp.ClientSession,
    address: str,
    data: bytes,
    *,
    chunk: int = CID,
    pipeline: list[str] = (),  # type: ignore[assignment]
    token: str | None = None,
    crc: int | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    h = {"X-Fahadfs-Token": token if token is not None else write_token(chunk, len(data))}
    if pipeline:
        h["X-Fahadfs-Pipeline"] = ",".join(pipeline)
    if crc is not None:
        h["X-Fahadfs-Checksum"] = str(crc)
    h.update(headers or {})
    url = f"http://{address}/v1/chunk/{format_chunk_id(chunk)}"
    async with http.put(url, data=data, headers=h) as resp:
        return resp.status, await resp.json()


async def test_put_then_get_round_trip(start_node: StartNode, http: aiohttp.ClientSession) -> None:
    n1 = await start_node()
    data = os.urandom(5000)
    status, body = await put(http, n1.address, data, crc=checksum.of(data))
    assert status == 200
    assert body == {"acks": [{"node": "n1", "checksum": checksum.of(data), "size": 5000}]}
    async with http.get(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 200
        assert await resp.read() == data
        assert resp.headers["X-Fahadfs-Checksum"] == str(checksum.of(data))
        assert resp.headers["X-Fahadfs-Generation"] == "0"


async def test_generation_comes_from_the_token_else_the_header(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    await put(http, n1.address, b"a", chunk=1, token=write_token(1, 1, gen=7))
    await put(http, n1.address, b"b", chunk=2, headers={"X-Fahadfs-Generation": "9"})
    assert n1.store.get(1).generation == 7 and n1.store.get(2).generation == 9


@pytest.mark.parametrize("size", [SMALL_CHUNK - 1, SMALL_CHUNK, 3 * MiB + 1])
async def test_get_serves_small_and_big_chunks_from_disk(
    start_node: StartNode, http: aiohttp.ClientSession, tmp_path: Path, size: int
) -> None:
    """Big chunks go out with sendfile from the chunk file, small ones from a plain read."""
    n1 = await start_node(store=DiskChunkStore(tmp_path, 64 * MiB))
    data = os.urandom(size)
    assert (await put(http, n1.address, data))[0] == 200
    async with http.get(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 200 and resp.content_length == size
        assert await resp.read() == data
    async with http.head(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 200 and resp.headers["X-Fahadfs-Size"] == str(size)
    await n1.store.close()


async def test_head_and_get_of_a_missing_chunk(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    async with http.head(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 404
    async with http.get(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == "ENOCHUNK"


async def test_pipeline_of_three_nodes_stores_everywhere_and_acks_all(
    start_node: StartNode, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    nodes = [
        await start_node(f"n{i}", DiskChunkStore(tmp_path / f"n{i}", 64 * MiB)) for i in (1, 2, 3)
    ]
    data = os.urandom(2 * MiB + 3)
    crc = checksum.of(data)
    status, body = await put(
        http, nodes[0].address, data, pipeline=[n.address for n in nodes[1:]], crc=crc
    )
    assert status == 200
    assert body["acks"] == [
        {"node": f"n{i}", "checksum": crc, "size": len(data)} for i in (1, 2, 3)
    ]
    for n in nodes:
        assert (await n.store.read(CID))[1] == data
        await n.store.close()


async def test_pipeline_without_client_checksum_still_agrees(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1, n2 = await start_node("n1"), await start_node("n2")
    data = os.urandom(10_000)
    status, body = await put(http, n1.address, data, pipeline=[n2.address])
    assert status == 200 and {a["checksum"] for a in body["acks"]} == {checksum.of(data)}


async def test_dead_downstream_node_gives_502_naming_it_and_no_local_copy(
    start_node: StartNode, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    n1 = await start_node("n1", DiskChunkStore(tmp_path, 64 * MiB))
    dead = f"127.0.0.1:{free_port()}"
    status, body = await put(http, n1.address, os.urandom(MiB), pipeline=[dead])
    assert status == 502
    assert body["code"] == "EUNAVAIL" and body["failed"] == dead and dead in body["message"]
    assert "node" not in body  # n1 itself is fine: a client must not exclude it
    assert not n1.store.exists(CID) and n1.store.reserved() == 0
    assert list(Path(tmp_path).rglob("*.tmp")) == []
    await n1.store.close()


async def test_failure_deeper_in_the_chain_names_the_deepest_failed_node(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1, n2 = await start_node("n1"), await start_node("n2")
    n3 = await start_node("n3", MemoryChunkStore(capacity=100))  # too small: ENOSPC
    status, body = await put(http, n1.address, os.urandom(5000), pipeline=[n2.address, n3.address])
    assert status == 502
    assert (body["failed"], body["failed_node"], body["failed_code"]) == (
        n3.address,
        "n3",
        "ENOSPC",
    )
    assert not n1.store.exists(CID) and not n2.store.exists(CID) and not n3.store.exists(CID)


async def test_downstream_rejecting_midway_aborts_the_local_copy(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    """n2 has no size hint problem up front but runs out of space while the body streams."""
    n1 = await start_node("n1")
    n2 = await start_node("n2", MemoryChunkStore(capacity=3 * MiB))
    data = os.urandom(4 * MiB)

    async def chunked() -> Any:  # no Content-Length: n2 only notices while writing
        for pos in range(0, len(data), 256 << 10):
            yield data[pos : pos + (256 << 10)]

    headers = {"X-Fahadfs-Token": write_token(CID, len(data)), "X-Fahadfs-Pipeline": n2.address}
    async with http.put(f"{n1.url}/v1/chunk/{HEX}", data=chunked(), headers=headers) as resp:
        assert resp.status == 502
        body = await resp.json()
    assert body["failed_node"] == "n2" and body["failed_code"] == "ENOSPC"
    assert not n1.store.exists(CID) and n1.store.reserved() == 0 and n2.store.reserved() == 0


@pytest.mark.parametrize(
    "token",
    [
        None,
        "garbage",
        "x" + write_token(CID, 10)[1:],
        write_token(CID, 10, ttl_ms=-1),
        write_token(CID + 1, 10),
        admin_token("delete", CID),
    ],
    ids=["missing", "malformed", "forged", "expired", "other-chunk", "admin-not-write"],
)
async def test_put_needs_a_valid_write_token_for_this_chunk(
    start_node: StartNode, http: aiohttp.ClientSession, token: str | None
) -> None:
    n1 = await start_node()
    headers = {} if token is None else {"X-Fahadfs-Token": token}
    async with http.put(f"{n1.url}/v1/chunk/{HEX}", data=b"0123456789", headers=headers) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == "EACCES"
    assert not n1.store.exists(CID)


async def test_token_signed_with_another_secret_is_refused(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    from fahadfs import auth

    n1 = await start_node()
    token = auth.sign(SECRET + "x", "write", {"chunk": HEX, "max": 10}, 0, 1 << 60)
    status, body = await put(http, n1.address, b"0123456789", token=token)
    assert status == 403 and body["code"] == "EACCES"


@pytest.mark.parametrize("bad", ["XYZ", "0123456789ABCDEF", "123", "0123456789abcdef0"])
async def test_bad_chunk_id_is_400(
    start_node: StartNode, http: aiohttp.ClientSession, bad: str
) -> None:
    n1 = await start_node()
    headers = {"X-Fahadfs-Token": write_token(CID, 10)}
    async with http.put(f"{n1.url}/v1/chunk/{bad}", data=b"0123456789", headers=headers) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "EINVAL"
    async with http.get(f"{n1.url}/v1/chunk/{bad}") as resp:
        assert resp.status == 400


async def test_wrong_checksum_is_422_and_nothing_is_stored_anywhere(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1, n2 = await start_node("n1"), await start_node("n2")
    data = os.urandom(100_000)
    status, body = await put(
        http, n1.address, data, pipeline=[n2.address], crc=checksum.of(data) ^ 4
    )
    assert status == 422 and body["code"] == "EINTEGRITY"
    assert not n1.store.exists(CID) and not n2.store.exists(CID)
    assert n1.store.reserved() == 0 and n2.store.reserved() == 0


async def test_malformed_checksum_header_is_400(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    status, _ = await put(http, n1.address, b"abc", headers={"X-Fahadfs-Checksum": "-1"})
    assert status == 400


async def test_body_larger_than_the_tokens_max_is_rejected(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    status, body = await put(http, n1.address, b"x" * 101, token=write_token(CID, 100))
    assert status == 400 and "max" in body["message"]

    async def chunked() -> Any:  # no Content-Length: caught while streaming
        for _ in range(4):
            yield b"y" * 40

    headers = {"X-Fahadfs-Token": write_token(CID, 100)}
    async with http.put(f"{n1.url}/v1/chunk/{HEX}", data=chunked(), headers=headers) as resp:
        assert resp.status == 400
    assert not n1.store.exists(CID) and n1.store.reserved() == 0


async def test_full_store_is_507_and_a_smaller_put_still_works(
    start_node: StartNode, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    n1 = await start_node("n1", DiskChunkStore(tmp_path, MiB))
    status, body = await put(http, n1.address, os.urandom(2 * MiB))
    assert status == 507 and body["code"] == "ENOSPC" and body["node"] == "n1"
    status, _ = await put(http, n1.address, b"small", chunk=2)
    assert status == 200 and n1.store.exists(2)
    await n1.store.close()


async def test_errors_are_cbor_when_the_client_accepts_cbor(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    headers = {"Accept": "application/cbor"}
    async with http.get(f"{n1.url}/v1/chunk/{HEX}", headers=headers) as resp:
        assert resp.status == 404 and resp.content_type == "application/cbor"
        assert cbor2.loads(await resp.read())["code"] == "ENOCHUNK"


async def test_unexpected_exceptions_are_500_eio(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    class Broken(MemoryChunkStore):
        async def read(self, chunk_id: int) -> Any:
            raise RuntimeError("boom")

    n1 = await start_node(store=Broken())
    await put(http, n1.address, b"abc")
    async with http.get(f"{n1.url}/v1/chunk/{HEX}") as resp:
        assert resp.status == 500
        body = await resp.json()
    assert body["code"] == "EIO" and body["node"] == "n1" and "boom" not in body["message"]


async def test_delete_needs_an_admin_token_for_that_chunk(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    await put(http, n1.address, b"abc")
    url = f"{n1.url}/v1/chunk/{HEX}"
    for token in [write_token(CID, 3), admin_token("delete", CID + 1), admin_token("list")]:
        async with http.delete(url, headers={"X-Fahadfs-Token": token}) as resp:
            assert resp.status == 403
    assert n1.store.exists(CID)
    async with http.delete(url, headers={"X-Fahadfs-Token": admin_token("delete", HEX)}) as resp:
        assert resp.status == 200 and await resp.json() == {"deleted": True}
    assert not n1.store.exists(CID)
    async with http.delete(url, headers={"X-Fahadfs-Token": admin_token("delete", CID)}) as resp:
        assert resp.status == 200 and await resp.json() == {"deleted": False}


async def test_list_chunks_needs_an_admin_token(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    await put(http, n1.address, b"abc", token=write_token(CID, 3, gen=2))
    async with http.get(f"{n1.url}/v1/chunks") as resp:
        assert resp.status == 403
    headers = {"X-Fahadfs-Token": admin_token("list"), "Accept": "application/cbor"}
    async with http.get(f"{n1.url}/v1/chunks", headers=headers) as resp:
        assert resp.status == 200
        assert cbor2.loads(await resp.read()) == {"chunks": [[HEX, 2, 3, checksum.of(b"abc")]]}


async def replicate(
    http: aiohttp.ClientSession, url: str, chunk: str, targets: list[str], token: str | None = None
) -> tuple[int, Any]:
    body = {"chunk": chunk, "targets": targets, "token": write_token(chunk, 1 << 30)}
    headers = {
        "X-Fahadfs-Token": token or admin_token("replicate", chunk),
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
    }
    async with http.post(f"{url}/v1/replicate", data=cbor2.dumps(body), headers=headers) as resp:
        return resp.status, cbor2.loads(await resp.read())


async def test_replicate_streams_a_local_chunk_down_a_target_pipeline(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1, n2, n3 = [await start_node(f"n{i}") for i in (1, 2, 3)]
    data = os.urandom(3 * MiB)
    await put(http, n1.address, data, token=write_token(CID, len(data), gen=4))
    status, body = await replicate(http, n1.url, HEX, [n2.address, n3.address])
    assert status == 200
    assert [a["node"] for a in body["acks"]] == ["n2", "n3"]
    for n in (n2, n3):
        info, got = await n.store.read(CID)
        assert got == data and info.generation == 4
    status, _ = await replicate(http, n1.url, HEX, [n2.address], token=admin_token("delete", HEX))
    assert status == 403


async def test_replicate_of_a_corrupt_copy_quarantines_and_reports_it(
    start_node: StartNode, http: aiohttp.ClientSession, fake_masters: Any
) -> None:
    from .conftest import make_config

    (master,) = await fake_masters(1)
    cfg = make_config([master.port])
    n1 = await start_node("n1", config=cfg)
    n2 = await start_node("n2", config=cfg)
    await put(http, n1.address, b"precious bytes")
    assert isinstance(n1.store, MemoryChunkStore)
    n1.store.flip_bit(CID, 5)
    status, body = await replicate(http, n1.url, HEX, [n2.address])
    assert status == 422 and body["code"] == "EINTEGRITY"
    assert not n1.store.exists(CID) and CID in n1.store.quarantined
    assert not n2.store.exists(CID)
    assert [b for b, _ in master.bad] == [{"chunk": HEX, "node": "n1", "reason": "replicate"}]


async def test_replicate_of_a_missing_chunk_is_404(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1, n2 = await start_node("n1"), await start_node("n2")
    status, body = await replicate(http, n1.url, HEX, [n2.address])
    assert status == 404 and body["code"] == "ENOCHUNK"


async def test_status_and_metrics(start_node: StartNode, http: aiohttp.ClientSession) -> None:
    n1 = await start_node()
    await put(http, n1.address, b"x" * 1000)
    async with http.get(f"{n1.url}/v1/chunk/{HEX}") as resp:
        await resp.read()
    async with http.get(f"{n1.url}/status") as resp:
        status = await resp.json()
    assert status["id"] == "n1" and status["address"] == n1.address
    assert (status["used"], status["chunks"], status["inflight"]) == (1000, 1, 0)
    assert status["capacity"] == n1.store.capacity and status["free"] == n1.store.free()
    assert status["uptime"] >= 0
    async with http.get(f"{n1.url}/metrics") as resp:
        text = await resp.text()
    assert "fahadfs_node_bytes_stored 1000.0" in text
    assert "fahadfs_node_chunks 1.0" in text
    assert 'fahadfs_node_requests_total{op="put",status="200"} 1.0' in text
    assert 'fahadfs_node_requests_total{op="get",status="200"} 1.0' in text
    assert "fahadfs_node_request_seconds_bucket" in text
    assert "fahadfs_node_free_bytes" in text and "fahadfs_node_inflight 0.0" in text


async def test_inflight_counts_transfers_in_progress(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    n1 = await start_node()
    gate = asyncio.Event()

    async def slow() -> Any:
        yield b"a" * 10
        await gate.wait()
        yield b"b" * 10

    headers = {"X-Fahadfs-Token": write_token(CID, 20)}
    task = asyncio.create_task(http.put(f"{n1.url}/v1/chunk/{HEX}", data=slow(), headers=headers))
    while n1.node.inflight == 0:
        await asyncio.sleep(0.01)
    gate.set()
    resp = await task
    assert resp.status == 200
    resp.release()
    assert n1.node.inflight == 0


async def test_ack_before_store_test_mode_acks_first_and_stores_later(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    """FAHADFS_TEST_ACK_BEFORE_STORE: a deliberately broken node for the chaos checkers."""
    n1 = await start_node(ack_before_store=True)
    data = b"acked but not yet stored"
    status, body = await put(http, n1.address, data)
    assert status == 200 and body["acks"][0]["checksum"] == checksum.of(data)
    assert not n1.store.exists(CID)  # acknowledged, yet not there
    for _ in range(300):
        if n1.store.exists(CID):
            break
        await asyncio.sleep(0.01)
    assert (await n1.store.read(CID))[1] == data


def test_ack_before_store_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fahadfs.storage.server import NODE, make_app

    from .conftest import make_config

    monkeypatch.setenv("FAHADFS_TEST_ACK_BEFORE_STORE", "1")
    assert make_app("n1", make_config(), MemoryChunkStore(), background=False)[
        NODE
    ].ack_before_store
    monkeypatch.setenv("FAHADFS_TEST_ACK_BEFORE_STORE", "0")
    assert not make_app("n1", make_config(), MemoryChunkStore(), background=False)[
        NODE
    ].ack_before_store


def test_pipeline_failed_is_a_502_unavailable() -> None:
    from fahadfs.errors import Unavailable
    from fahadfs.storage.pipeline import PipelineFailed

    err = PipelineFailed("x", failed="h:1")
    assert isinstance(err, Unavailable) and isinstance(err, FahadfsError) and err.status == 502


async def test_local_failure_midway_wins_over_the_downstream_error_it_causes(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    """n1 fills up while streaming: the answer is n1's own 507, not a 502 about n2."""
    n1 = await start_node("n1", MemoryChunkStore(capacity=MiB))
    n2 = await start_node("n2")
    data = os.urandom(2 * MiB)

    async def chunked() -> Any:
        for pos in range(0, len(data), 128 << 10):
            yield data[pos : pos + (128 << 10)]

    headers = {"X-Fahadfs-Token": write_token(CID, len(data)), "X-Fahadfs-Pipeline": n2.address}
    async with http.put(f"{n1.url}/v1/chunk/{HEX}", data=chunked(), headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 507, body
    assert body["code"] == "ENOSPC" and body["node"] == "n1"
    for _ in range(200):  # n2 sees its upstream vanish and drops its partial copy
        if n2.store.reserved() == 0:
            break
        await asyncio.sleep(0.01)
    assert not n1.store.exists(CID) and not n2.store.exists(CID) and n2.store.reserved() == 0


@pytest.mark.parametrize("pipelined", [False, True])
async def test_client_vanishing_mid_upload_leaves_no_trace(
    start_node: StartNode, tmp_path: Path, pipelined: bool
) -> None:
    n1 = await start_node("n1", DiskChunkStore(tmp_path / "n1", 64 * MiB))
    n2 = await start_node("n2", DiskChunkStore(tmp_path / "n2", 64 * MiB))
    size = 4 * MiB
    pipe = f"X-Fahadfs-Pipeline: {n2.address}\r\n" if pipelined else ""
    host, port = n1.address.split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"PUT /v1/chunk/{HEX} HTTP/1.1\r\nHost: {n1.address}\r\n"
            f"X-Fahadfs-Token: {write_token(CID, size)}\r\n{pipe}"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        + os.urandom(MiB)
    )
    await writer.drain()
    while n1.store.reserved() == 0:
        await asyncio.sleep(0.01)
    writer.close()
    for _ in range(500):
        if n1.store.reserved() == 0 and n2.store.reserved() == 0:
            break
        await asyncio.sleep(0.01)
    for n in (n1, n2):
        assert n.store.reserved() == 0 and not n.store.exists(CID)
        assert list((tmp_path / n.id).rglob("*.tmp")) == []
        await n.store.close()

"""Both chunk stores: atomic writes, checksums, space, quarantine, verify; disk-only format."""

from __future__ import annotations

import asyncio
import errno
import os
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fahadfs import checksum
from fahadfs.errors import ChunkNotFound, IntegrityError, InvalidArgument, NoSpace
from fahadfs.storage._disk import FOOTER_SIZE
from fahadfs.storage.chunkstore import (
    ChunkInfo,
    ChunkStore,
    DiskChunkStore,
    DiskIO,
    MemoryChunkStore,
    format_chunk_id,
    parse_chunk_id,
)

MiB = 1 << 20


@pytest.fixture(params=["memory", "disk"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChunkStore]:
    s: ChunkStore
    s = (
        MemoryChunkStore(64 * MiB)
        if request.param == "memory"
        else DiskChunkStore(tmp_path, 64 * MiB)
    )
    yield s
    await s.close()


async def put(store: ChunkStore, chunk_id: int, data: bytes, generation: int = 1) -> ChunkInfo:
    async with await store.open_writer(chunk_id, len(data)) as w:
        for pos in range(0, len(data), 100_000):
            await w.write(data[pos : pos + 100_000])
        return await w.finish(checksum.of(data), generation)


def temp_files(store: ChunkStore) -> list[Path]:
    if isinstance(store, DiskChunkStore):
        return [p for p in store.chunks_dir.rglob("*") if p.name.endswith(".tmp")]
    return []


def flip_bit(store: ChunkStore, chunk_id: int, bit: int) -> None:
    if isinstance(store, MemoryChunkStore):
        store.flip_bit(chunk_id, bit)
        return
    assert isinstance(store, DiskChunkStore)
    path = store.path_of(chunk_id)
    data = bytearray(path.read_bytes())
    data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def test_chunk_ids_are_16_lowercase_hex_digits() -> None:
    assert parse_chunk_id("00000000000000ff") == 255
    assert format_chunk_id(255) == "00000000000000ff"
    for bad in ["ff", "00000000000000FF", "0x00000000000000f", "000000000000000g", "0" * 17]:
        with pytest.raises(InvalidArgument):
            parse_chunk_id(bad)


async def test_finished_write_is_readable_with_its_checksum(store: ChunkStore) -> None:
    data = os.urandom(3 * MiB + 17)
    info = await put(store, 7, data, generation=3)
    assert info == ChunkInfo(7, 3, len(data), checksum.of(data))
    assert store.exists(7) and store.info(7) == info
    assert await store.read(7) == (info, data)
    assert store.list() == [info]
    assert store.count() == 1
    assert store.used() == len(data) + store.overhead
    assert b"".join([p async for p in store.iter_read(7, piece=MiB)]) == data
    handle = await store.open(7)
    try:
        assert handle.info == info
        got = handle.file.read(len(data)) if handle.file is not None else handle.data
        assert got == data
    finally:
        handle.close()


async def test_empty_chunk_is_a_valid_chunk(store: ChunkStore) -> None:
    info = await put(store, 1, b"")
    assert info.size == 0 and info.checksum == checksum.of(b"")
    assert await store.read(1) == (info, b"")
    assert await store.verify(1)


async def test_aborted_write_leaves_nothing_visible(store: ChunkStore) -> None:
    w = await store.open_writer(5, 2 * MiB)
    await w.write(os.urandom(2 * MiB))
    await w.abort()
    assert not store.exists(5) and store.list() == []
    assert temp_files(store) == []
    assert store.reserved() == 0 and store.used() == 0


async def test_leaving_async_with_without_finish_aborts(store: ChunkStore) -> None:
    with pytest.raises(RuntimeError):
        async with await store.open_writer(5, 10) as w:
            await w.write(b"0123456789")
            raise RuntimeError("client went away")
    assert not store.exists(5) and temp_files(store) == []


async def test_prepared_but_uncommitted_chunk_is_not_visible(store: ChunkStore) -> None:
    w = await store.open_writer(9, 4)
    await w.write(b"abcd")
    await w.prepare(None, 0)
    assert not store.exists(9)
    with pytest.raises(ChunkNotFound):
        await store.read(9)
    await w.abort()
    assert temp_files(store) == [] and store.reserved() == 0


async def test_checksum_mismatch_is_rejected_and_nothing_is_stored(store: ChunkStore) -> None:
    data = b"x" * 1000
    w = await store.open_writer(4, len(data))
    await w.write(data)
    with pytest.raises(IntegrityError) as exc:
        await w.finish(checksum.of(data) ^ 1, 0)
    assert exc.value.details["actual"] == checksum.of(data)
    assert not store.exists(4) and temp_files(store) == []
    assert store.reserved() == 0


async def test_no_space_when_the_size_hint_exceeds_capacity(store: ChunkStore) -> None:
    with pytest.raises(NoSpace):
        await store.open_writer(1, 64 * MiB + 1)
    await put(store, 2, b"small")  # the store stays usable
    assert store.exists(2)


async def test_no_space_when_a_write_outgrows_capacity_without_a_hint(store: ChunkStore) -> None:
    await put(store, 1, os.urandom(40 * MiB))
    w = await store.open_writer(2)
    with pytest.raises(NoSpace):
        for _ in range(30):
            await w.write(bytes(MiB))
    await w.abort()
    assert not store.exists(2) and temp_files(store) == [] and store.reserved() == 0
    await put(store, 3, b"still fine")


async def test_concurrent_writes_reserve_space(store: ChunkStore) -> None:
    w1 = await store.open_writer(1, 40 * MiB)
    with pytest.raises(NoSpace):
        await store.open_writer(2, 40 * MiB)
    await w1.abort()
    w2 = await store.open_writer(2, 40 * MiB)
    await w2.abort()


async def test_overwrite_replaces_the_chunk_and_its_space(store: ChunkStore) -> None:
    await put(store, 1, b"a" * 100, generation=1)
    info = await put(store, 1, b"b" * 10, generation=2)
    assert await store.read(1) == (info, b"b" * 10)
    assert store.used() == 10 + store.overhead


async def test_delete(store: ChunkStore) -> None:
    await put(store, 1, b"abc")
    assert await store.delete(1) is True
    assert not store.exists(1) and store.used() == 0
    assert await store.delete(1) is False
    with pytest.raises(ChunkNotFound):
        await store.read(1)


async def test_verify_detects_a_flipped_bit(store: ChunkStore) -> None:
    data = os.urandom(MiB + 5)
    await put(store, 1, data)
    await put(store, 2, data)
    assert await store.verify(1)
    flip_bit(store, 1, 8 * 1000 + 3)
    assert not await store.verify(1)
    assert await store.verify(2)


async def test_quarantine_moves_the_chunk_aside(store: ChunkStore) -> None:
    await put(store, 1, b"rotten")
    assert await store.quarantine(1, "scrub") is True
    assert not store.exists(1) and store.used() == 0
    with pytest.raises(ChunkNotFound):
        await store.read(1)
    assert await store.quarantine(1, "scrub") is False
    if isinstance(store, DiskChunkStore):
        kept = list(store.quarantine_dir.iterdir())
        assert [p.name.split(".")[0] for p in kept] == [format_chunk_id(1)]
    else:
        assert isinstance(store, MemoryChunkStore)
        assert store.quarantined[1] == (b"rotten", "scrub")


async def test_generation_must_fit_u32(store: ChunkStore) -> None:
    w = await store.open_writer(1, 1)
    await w.write(b"x")
    with pytest.raises(InvalidArgument):
        await w.finish(None, 1 << 32)
    await w.abort()


# ----- disk only ------------------------------------------------------------------------------


async def test_layout_and_footer_match_docs_format(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path, 64 * MiB)
    data = b"hello world"
    await put(store, 0xABCDEF0123456789, data, generation=42)
    path = tmp_path / "chunks" / "ab" / "abcdef0123456789"
    raw = path.read_bytes()
    assert store.path_of(0xABCDEF0123456789) == path
    assert raw[: len(data)] == data and len(raw) == len(data) + FOOTER_SIZE == len(data) + 40
    footer = raw[len(data) :]
    magic, version, cid, size, crc, gen = struct.unpack("<4sB3xQQII4x", footer[:36])
    assert (magic, version, cid, size, crc, gen) == (
        b"FDFC", 1, 0xABCDEF0123456789, len(data), checksum.of(data), 42,
    )  # fmt: skip
    assert struct.unpack("<I", footer[36:])[0] == checksum.of(footer[:36])
    await store.close()


async def test_restart_reindexes_chunks_and_removes_temp_leftovers(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path, 64 * MiB)
    info = await put(store, 0x11, b"kept", generation=5)
    w = await store.open_writer(0x22, MiB)
    await w.write(os.urandom(MiB))
    await w.prepare(None, 0)  # a crash here leaves a durable temp file behind
    await store.close()
    assert len(temp_files(store)) == 1
    again = DiskChunkStore(tmp_path, 64 * MiB)
    assert again.startup == {"chunks": 1, "temp_removed": 1, "quarantined": 0, "ignored": 0}
    assert again.list() == [info] and temp_files(again) == []
    assert again.used() == 4 + FOOTER_SIZE
    await again.close()


@pytest.mark.parametrize(
    "damage",
    [lambda raw: raw[:-1], lambda raw: raw[:-40] + b"\0" * 40, lambda raw: raw[:3] + raw[4:]],
    ids=["torn-footer", "zeroed-footer", "wrong-size"],
)
async def test_damaged_files_are_quarantined_at_start_up(tmp_path: Path, damage: object) -> None:
    store = DiskChunkStore(tmp_path, 64 * MiB)
    await put(store, 0x33, b"some chunk bytes")
    await put(store, 0x44, b"fine")
    await store.close()
    path = store.path_of(0x33)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    again = DiskChunkStore(tmp_path, 64 * MiB)
    assert again.startup["quarantined"] == 1 and again.startup["chunks"] == 1
    assert [i.id for i in again.list()] == [0x44]
    assert not path.exists() and len(list(again.quarantine_dir.iterdir())) == 1
    await again.close()


async def test_free_space_is_bounded_by_the_real_disk(tmp_path: Path) -> None:
    class SmallDisk(DiskIO):
        def available(self, path: Path) -> int:
            return 1000

    store = DiskChunkStore(tmp_path, 64 * MiB, io=SmallDisk())
    assert store.free() == 1000
    with pytest.raises(NoSpace):
        await store.open_writer(1, 2000)
    await put(store, 2, b"x" * 100)
    await store.close()


class FillingDisk(DiskIO):
    """A disk that runs out after ``room`` bytes: writes past it fail with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, fd: int, data: memoryview | bytes) -> None:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        super().write(fd, data)


@pytest.mark.parametrize("size", [3 * MiB, 1000], ids=["streamed", "small"])
async def test_enospc_during_a_write_is_nospace_and_leaves_no_temp(
    tmp_path: Path, size: int
) -> None:
    disk = FillingDisk(room=MiB + 100 if size > MiB else 500)
    store = DiskChunkStore(tmp_path, 64 * MiB, io=disk)
    w = await store.open_writer(1, size)
    with pytest.raises(NoSpace):
        await w.write(os.urandom(size))
        await w.finish(None, 0)
    await w.abort()
    assert not store.exists(1) and temp_files(store) == [] and store.reserved() == 0
    disk.room = 10 * MiB  # space freed: the store keeps working
    await put(store, 2, b"after")
    assert store.exists(2)
    await store.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
async def test_real_full_tmpfs_gives_nospace(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        store = DiskChunkStore(mnt, 64 * MiB)
        assert store.free() <= 2 * MiB
        with pytest.raises(NoSpace):  # refused up front from statvfs
            await store.open_writer(1, 3 * MiB)
        w = await store.open_writer(2)  # no size hint: the disk itself fills up
        with pytest.raises(NoSpace):
            for _ in range(4):
                await w.write(os.urandom(MiB))
            await w.finish(None, 0)
        await w.abort()
        assert temp_files(store) == [] and not store.exists(2)
        await put(store, 3, b"room again")
        assert (await store.read(3))[1] == b"room again"
        await store.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


async def test_group_sync_shares_one_sync_among_concurrent_writers(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path, 64 * MiB, sync="group")
    infos = await asyncio.gather(*(put(store, i, os.urandom(4096)) for i in range(40)))
    assert len(infos) == 40 and store.count() == 40
    assert store._group is not None and store._group.syncs < 40
    await store.close()
    again = DiskChunkStore(tmp_path, 64 * MiB)
    assert sorted(again.list(), key=lambda i: i.id) == sorted(infos, key=lambda i: i.id)
    await again.close()


async def test_sync_mode_is_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        DiskChunkStore(tmp_path, MiB, sync="never")


@pytest.mark.parametrize("sync", ["file", "group"])
async def test_cancelled_finish_then_abort_leaves_all_or_nothing(tmp_path: Path, sync: str) -> None:
    """A request cancelled while its copy is being synced: after abort the chunk is either
    whole and visible (the rename had happened) or absent, never a temp file or a reservation."""
    store = DiskChunkStore(tmp_path, 64 * MiB, sync=sync)
    data = os.urandom(2 * MiB)
    for delay in (0, 0.0002, 0.0005, 0.001, 0.002, 0.005):
        w = await store.open_writer(1, len(data))
        await w.write(data)
        task = asyncio.create_task(w.finish(None, 0))
        await asyncio.sleep(delay)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await w.abort()
        if store.exists(1):
            assert await store.read(1) == (ChunkInfo(1, 0, len(data), checksum.of(data)), data)
            await store.delete(1)
        assert not store.path_of(1).exists()
        assert temp_files(store) == [] and store.reserved() == 0
    await store.close()

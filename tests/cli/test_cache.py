"""The CLI cache: served only when fresh, unchanged and verified; written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from fahadfs import checksum
from fahadfs.cli._cache import Cache, Verifier, default_dir, layout_of, read_header

CLUSTER = "test@127.0.0.1:1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stat_of(
    data: bytes, path: str = "/f", version: int = 7, chunk: int = 100, first_id: int = 1
) -> dict[str, Any]:
    chunks = [
        {"id": first_id + i, "size": len(p), "checksum": checksum.of(p), "replicas": ["n1"]}
        for i, p in enumerate(data[o : o + chunk] for o in range(0, len(data), chunk))
    ]
    return {"path": path, "type": "file", "size": len(data), "version": version, "chunks": chunks}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> Cache:
    return Cache(tmp_path / "cache", ttl=300, max_bytes=1 << 20, clock=clock)


def stored(cache: Cache, tmp_path: Path, data: bytes, **kw: Any) -> dict[str, Any]:
    st = stat_of(data, **kw)
    local = tmp_path / "local.bin"
    local.write_bytes(data)
    assert cache.store_file(CLUSTER, st, local)
    return st


DATA = os.urandom(450)


def test_a_stored_version_is_a_hit_and_served_byte_for_byte(cache: Cache, tmp_path: Path) -> None:
    st = stored(cache, tmp_path, DATA)
    look = cache.lookup(CLUSTER, st)
    assert look.hit
    out = tmp_path / "out.bin"
    assert cache.serve_to_path(look, out)
    assert out.read_bytes() == DATA
    buf = io.BytesIO()
    assert cache.serve_to_stream(cache.lookup(CLUSTER, st), buf.write)
    assert buf.getvalue() == DATA


def test_nothing_stored_is_absent(cache: Cache) -> None:
    assert cache.lookup(CLUSTER, stat_of(DATA)).reason == "absent"


def test_another_version_or_other_chunks_is_a_miss(cache: Cache, tmp_path: Path) -> None:
    stored(cache, tmp_path, DATA)
    assert cache.lookup(CLUSTER, stat_of(DATA, version=8)).reason == "changed"
    # Same version number, different chunk ids (a re-created cluster): still a miss.
    assert cache.lookup(CLUSTER, stat_of(DATA, first_id=99)).reason == "changed"
    assert cache.lookup("other@cluster", stat_of(DATA)).reason == "absent"


def test_an_entry_older_than_the_ttl_is_a_miss_and_removed(
    cache: Cache, tmp_path: Path, clock: Clock
) -> None:
    st = stored(cache, tmp_path, DATA)
    clock.now += 299
    assert cache.lookup(CLUSTER, st).hit
    clock.now += 2
    assert cache.lookup(CLUSTER, st).reason == "expired"
    assert not cache.entry_path(CLUSTER, "/f").exists()


@pytest.mark.parametrize("offset", [0, 150, 449])
def test_a_corrupt_entry_is_never_served_and_is_deleted(
    cache: Cache, tmp_path: Path, offset: int
) -> None:
    st = stored(cache, tmp_path, DATA)
    entry = cache.entry_path(CLUSTER, "/f")
    raw = bytearray(entry.read_bytes())
    raw[offset] ^= 0x01
    entry.write_bytes(bytes(raw))
    look = cache.lookup(CLUSTER, st)
    assert look.hit  # the header is intact: only reading the bytes tells
    out = tmp_path / "out.bin"
    assert not cache.serve_to_path(look, out)
    assert not out.exists()
    assert not entry.exists()
    assert list(tmp_path.glob(".out.bin*")) == []


def test_a_corrupt_entry_writes_nothing_to_a_stream(cache: Cache, tmp_path: Path) -> None:
    st = stored(cache, tmp_path, DATA)
    entry = cache.entry_path(CLUSTER, "/f")
    raw = bytearray(entry.read_bytes())
    raw[10] ^= 0xFF
    entry.write_bytes(bytes(raw))
    buf = io.BytesIO()
    assert not cache.serve_to_stream(cache.lookup(CLUSTER, st), buf.write)
    assert buf.getvalue() == b""


@pytest.mark.parametrize("mangle", ["truncate", "garbage", "empty", "trailer"])
def test_a_damaged_header_reads_as_absent(cache: Cache, tmp_path: Path, mangle: str) -> None:
    st = stored(cache, tmp_path, DATA)
    entry = cache.entry_path(CLUSTER, "/f")
    raw = entry.read_bytes()
    entry.write_bytes(
        {
            "truncate": raw[:-20],
            "garbage": os.urandom(len(raw)),
            "empty": b"",
            "trailer": raw[:-1] + b"X",
        }[mangle]
    )
    assert read_header(entry) is None
    assert cache.lookup(CLUSTER, st).reason == "absent"


def test_a_local_file_that_does_not_match_the_checksums_is_not_stored(
    cache: Cache, tmp_path: Path
) -> None:
    st = stat_of(DATA)
    local = tmp_path / "changed.bin"
    local.write_bytes(DATA[:-1] + bytes([DATA[-1] ^ 1]))
    assert not cache.store_file(CLUSTER, st, local)
    local.write_bytes(DATA + b"x")
    assert not cache.store_file(CLUSTER, st, local)
    assert cache.lookup(CLUSTER, st).reason == "absent"
    assert list((cache.directory / "tmp").iterdir()) == []


def test_writer_commits_atomically_and_abort_leaves_nothing(cache: Cache) -> None:
    st = stat_of(DATA)
    w = cache.writer(CLUSTER, st)
    assert w is not None
    w.write(DATA[:100])
    assert cache.lookup(CLUSTER, st).reason == "absent"  # nothing visible until commit
    w.abort()
    assert list((cache.directory / "tmp").iterdir()) == []
    w = cache.writer(CLUSTER, st)
    assert w is not None
    for i in range(0, len(DATA), 33):
        w.write(DATA[i : i + 33])
    assert w.commit()
    assert cache.lookup(CLUSTER, st).hit
    assert list((cache.directory / "tmp").iterdir()) == []


def test_a_new_version_replaces_the_old_entry(cache: Cache, tmp_path: Path) -> None:
    stored(cache, tmp_path, DATA, version=1)
    new = os.urandom(120)
    st2 = stored(cache, tmp_path, new, version=2, first_id=50)
    assert len(list((cache.directory / "entries").iterdir())) == 1
    out = tmp_path / "out.bin"
    assert cache.serve_to_path(cache.lookup(CLUSTER, st2), out)
    assert out.read_bytes() == new


def test_size_limits_and_eviction(tmp_path: Path, clock: Clock) -> None:
    cache = Cache(tmp_path / "c", ttl=300, max_bytes=2000, clock=clock)
    assert not cache.cacheable(1001)
    assert cache.writer(CLUSTER, stat_of(os.urandom(1500))) is None
    for i in range(4):
        data = os.urandom(900)
        local = tmp_path / f"{i}.bin"
        local.write_bytes(data)
        assert cache.store_file(CLUSTER, stat_of(data, path=f"/f{i}"), local)
        entry = cache.entry_path(CLUSTER, f"/f{i}")
        os.utime(entry, (1000 + i, 1000 + i))
    cache.prune()
    left = sorted(p.name for p in (cache.directory / "entries").iterdir())
    total = sum(p.stat().st_size for p in (cache.directory / "entries").iterdir())
    assert total <= 2000
    assert cache.entry_path(CLUSTER, "/f3").name in left  # the newest stays


def test_discard_removes_an_entry(cache: Cache, tmp_path: Path) -> None:
    st = stored(cache, tmp_path, DATA)
    cache.discard(CLUSTER, "/f")
    assert cache.lookup(CLUSTER, st).reason == "absent"


def test_empty_files_are_cached_too(cache: Cache, tmp_path: Path) -> None:
    st = stored(cache, tmp_path, b"")
    out = tmp_path / "out.bin"
    assert cache.serve_to_path(cache.lookup(CLUSTER, st), out)
    assert out.read_bytes() == b""


def test_verifier_checks_every_chunk_across_piece_boundaries() -> None:
    data = os.urandom(1000)
    layout = layout_of(stat_of(data, chunk=128))
    for piece in (1, 7, 128, 129, 1000):
        v = Verifier(layout, checksum.of(data))
        for i in range(0, len(data), piece):
            v.update(data[i : i + piece])
        assert v.ok(), piece
    bad = bytearray(data)
    bad[300] ^= 4
    v = Verifier(layout)
    v.update(bytes(bad))
    assert not v.ok() and v.bad_chunk == 2
    short = Verifier(layout)
    short.update(data[:-1])
    assert not short.ok()


def test_default_dir_follows_the_environment(tmp_path: Path) -> None:
    assert default_dir({"FAHADFS_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert default_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/fahadfs")
    assert default_dir({}).parts[-2:] == (".cache", "fahadfs")

"""The CLI cache against a real cluster: hits skip the file nodes, changes/TTL/corruption miss."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fahadfs.cli._cache import Cache
from fahadfs.cli._context import cluster_key
from fahadfs.localcluster import LocalCluster
from tests.cli.conftest import CHUNK, Fs

pytestmark = pytest.mark.integration


def bytes_served(cluster: LocalCluster) -> int:
    """Chunk bytes all file nodes have served to GETs (from their /metrics)."""
    total = 0.0
    for n in cluster.config.nodes:
        with urllib.request.urlopen(f"http://{n.address}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for m in re.finditer(r'^fahadfs_node_sent_bytes_total\{kind="get"\} (\S+)$', text, re.M):
            total += float(m.group(1))
    return int(total)


@contextlib.contextmanager
def nodes_frozen(cluster: LocalCluster) -> Iterator[None]:
    """SIGSTOP every file node (they accept connections but never answer), then SIGCONT."""
    pids = [cluster.procs[n.id].pid for n in cluster.config.nodes]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        cluster.wait_ready(timeout=30)


def entry_of(fs: Fs, path: str) -> Path:
    return Cache(fs.cache_dir).entry_path(cluster_key(fs.cluster.config), path)


def test_a_put_file_is_served_from_the_cache_without_any_file_node(
    fs: Fs, cluster: LocalCluster, tmp_path: Path
) -> None:
    data = os.urandom(3 * CHUNK + 99)
    (tmp_path / "f").write_bytes(data)
    fs.inproc.ok("mkdir", "/hit")
    fs.ok("put", str(tmp_path / "f"), "/hit/f")  # put refreshes the cache
    with nodes_frozen(cluster):
        r = fs.run("-v", "get", "/hit/f", str(tmp_path / "back"), "--timeout", "10")
        assert r.returncode == 0, r.stderr
        assert b"cache hit /hit/f" in r.stderr
        assert (tmp_path / "back").read_bytes() == data
        r = fs.run("cat", "/hit/f", "--timeout", "10")
        assert r.returncode == 0 and r.stdout == data


def test_a_get_fills_the_cache_and_the_next_get_sends_no_chunk_bytes(
    fs: Fs, cluster: LocalCluster, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK)
    fast = fs.inproc
    fast.ok("mkdir", "/fill")
    fast.ok("put", "--no-cache", "-", "/fill/f", input=data)
    before = bytes_served(cluster)
    r = fs.run("-v", "get", "/fill/f", str(tmp_path / "a"))
    assert b"cache miss /fill/f (absent)" in r.stderr and r.returncode == 0
    middle = bytes_served(cluster)
    assert middle - before == len(data)
    r = fs.run("-v", "get", "/fill/f", str(tmp_path / "b"))
    assert b"cache hit /fill/f" in r.stderr
    r = fast.run("cat", "/fill/f")
    assert r.stdout == data
    assert bytes_served(cluster) == middle
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes() == data


def test_cat_fills_the_cache_too(fs: Fs, cluster: LocalCluster) -> None:
    data = os.urandom(CHUNK + 1)
    fast = fs.inproc
    fast.ok("mkdir", "/catc")
    fast.ok("put", "--no-cache", "-", "/catc/f", input=data)
    assert fast.run("cat", "/catc/f").stdout == data
    before = bytes_served(cluster)
    r = fast.run("-v", "cat", "/catc/f")
    assert r.stdout == data and b"cache hit" in r.stderr
    assert bytes_served(cluster) == before


def test_a_changed_file_is_a_miss(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/chg")
    fast.ok("put", "-", "/chg/f", input=b"old")
    fast.ok("get", "/chg/f", str(tmp_path / "f"))
    assert (tmp_path / "f").read_bytes() == b"old"
    fast.ok("put", "--no-cache", "-", "/chg/f", input=b"new content")  # another client writes
    r = fs.run("-v", "get", "/chg/f", str(tmp_path / "f"))
    assert r.returncode == 0 and b"cache miss /chg/f (changed)" in r.stderr
    assert (tmp_path / "f").read_bytes() == b"new content"
    r = fast.run("-v", "get", "/chg/f", str(tmp_path / "g"))
    assert b"cache hit" in r.stderr and (tmp_path / "g").read_bytes() == b"new content"


def test_an_entry_past_its_ttl_is_a_miss(fs: Fs, tmp_path: Path) -> None:
    fast = fs.inproc
    fast.ok("mkdir", "/ttl")
    fast.ok("put", "-", "/ttl/f", input=b"ttl data")
    fast.ok("get", "/ttl/f", str(tmp_path / "a"), "--cache-ttl", "1.5")
    r = fast.run("-v", "get", "/ttl/f", str(tmp_path / "b"), "--cache-ttl", "1.5")
    assert b"cache hit" in r.stderr
    time.sleep(1.6)
    r = fs.run("-v", "get", "/ttl/f", str(tmp_path / "c"), env={"FAHADFS_CACHE_TTL": "1.5"})
    assert r.returncode == 0 and b"cache miss /ttl/f (expired)" in r.stderr
    assert (tmp_path / "c").read_bytes() == b"ttl data"


def test_a_corrupt_entry_is_detected_and_fetched_again(
    fs: Fs, cluster: LocalCluster, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK + 7)
    fast = fs.inproc
    fast.ok("mkdir", "/rot")
    fast.ok("put", "-", "/rot/f", input=data)
    fast.ok("get", "/rot/f", str(tmp_path / "warm"))  # cached
    entry = entry_of(fs, "/rot/f")
    raw = bytearray(entry.read_bytes())
    raw[CHUNK + 5] ^= 0x20
    entry.write_bytes(bytes(raw))
    before = bytes_served(cluster)
    r = fs.run("-v", "get", "/rot/f", str(tmp_path / "out"))
    assert r.returncode == 0 and b"failed verification" in r.stderr
    assert (tmp_path / "out").read_bytes() == data
    assert bytes_served(cluster) - before == len(data)
    r = fast.run("-v", "cat", "/rot/f")  # corrupt again, now on the streaming path
    assert b"cache hit" in r.stderr and r.stdout == data
    raw = bytearray(entry.read_bytes())
    raw[3] ^= 1
    entry.write_bytes(bytes(raw))
    r = fs.run("-v", "cat", "/rot/f")
    assert r.returncode == 0 and r.stdout == data and b"failed verification" in r.stderr


def test_no_cache_neither_reads_nor_writes(fs: Fs, tmp_path: Path) -> None:
    fresh = tmp_path / "cache"
    fast = fs.inproc
    fast.ok("mkdir", "/nocache")
    env = {"FAHADFS_CACHE_DIR": str(fresh)}
    fast.ok("put", "--no-cache", "-", "/nocache/f", input=b"x", env=env)
    fs.ok("get", "--no-cache", "/nocache/f", str(tmp_path / "a"), env=env)
    fast.ok("cat", "--no-cache", "/nocache/f", env=env)
    assert not fresh.exists() or not any((fresh / "entries").glob("*"))
    fast.ok("get", "/nocache/f", str(tmp_path / "b"), "--cache-dir", str(fresh))
    assert len(list((fresh / "entries").glob("*.entry"))) == 1

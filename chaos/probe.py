"""Observing the cluster from outside: the master's file map, redundancy, and what is on disk.

Reads of the master use ``stale=1`` (the master's local state, no read barrier) on the leader
so that sampling stays cheap; what is on disk is read from the chunk files themselves
(``<data>/chunks/<2 hex>/<16 hex>``: the data then a 40-byte footer, docs/FORMAT.md) with the
CRC32C computed from the bytes, so the replica check trusts nothing the cluster says about
its own disks.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import cbor2

from chaos.cluster import ChaosCluster
from chaos.nemesis import FOOTER_SIZE, chunk_files
from fahadfs import checksum

HEADERS = {"Accept": "application/cbor"}


async def _get(session: aiohttp.ClientSession, url: str, timeout: float = 3.0) -> Any:
    async with session.get(url, headers=HEADERS, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        data = await r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {r.status}")
        return cbor2.loads(data) if "cbor" in r.content_type else None


async def leader_url(session: aiohttp.ClientSession, cluster: ChaosCluster) -> str | None:
    for m in cluster.masters:
        if m in cluster.paused or not cluster.alive(m):
            continue
        try:
            async with session.get(
                f"{cluster.http(m)}/status", timeout=aiohttp.ClientTimeout(total=1.0)
            ) as r:
                s = await r.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            continue
        if s.get("role") == "leader" and s.get("has_quorum"):
            return cluster.http(m)
    return None


async def file_map(session: aiohttp.ClientSession, base: str, parallel: int = 16) -> dict[str, Any]:
    """path -> stat with chunks (and their replica lists) for every file, from one master."""
    walked = await _get(session, f"{base}/v1/walk?path=/&stale=1", timeout=10.0)
    paths = [p for p, s in walked["entries"] if s.get("type") == "file"]
    out: dict[str, Any] = {}
    sem = asyncio.Semaphore(parallel)

    async def one(path: str) -> None:
        async with sem:
            try:
                out[path] = await _get(
                    session, f"{base}/v1/stat?path={urllib.parse.quote(path)}&stale=1"
                )
            except RuntimeError:
                pass  # removed since the walk

    await asyncio.gather(*(one(p) for p in paths))
    return out


class Redundancy:
    """How many referenced chunks have fewer copies on disk, on nodes that are up, than their
    factor. File stats are cached by (path, version); copies are the chunk files' names."""

    def __init__(self, cluster: ChaosCluster) -> None:
        self.cluster = cluster
        self.k = cluster.config.replication
        self._stats: dict[str, tuple[int, list[int], int]] = {}  # path -> (version, ids, k)

    async def sample(
        self, session: aiohttp.ClientSession, base: str, down: set[str]
    ) -> tuple[int, int]:
        walked = await _get(session, f"{base}/v1/walk?path=/&stale=1", timeout=10.0)
        files = {p: s.get("version") for p, s in walked["entries"] if s.get("type") == "file"}
        for path in list(self._stats):
            if path not in files:
                del self._stats[path]
        for path, version in files.items():
            if self._stats.get(path, (None,))[0] != version:
                try:
                    st = await _get(
                        session, f"{base}/v1/stat?path={urllib.parse.quote(path)}&stale=1"
                    )
                except RuntimeError:
                    continue
                ids = [int(c["id"]) for c in st.get("chunks") or []]
                self._stats[path] = (st.get("version"), ids, int(st.get("replication") or self.k))
        factors: dict[int, int] = {}
        for _v, ids, k in self._stats.values():
            for cid in ids:
                factors[cid] = max(factors.get(cid, 0), k)
        up = [n for n in self.cluster.nodes if n not in down]
        held = await asyncio.to_thread(lambda: [chunk_names(self.cluster.data_dir(n)) for n in up])
        under = sum(1 for cid, k in factors.items() if sum(cid in h for h in held) < k)
        return under, len(factors)


def chunk_names(root: Path) -> set[int]:
    """Ids of the chunk files in a node's data directory (names only, nothing read)."""
    return {int(p.name, 16) for p in chunk_files(root)}


def disk_inventory(cluster: ChaosCluster) -> dict[str, dict[int, dict[str, int]]]:
    """node -> chunk id -> {"size", "crc"} of the bytes really on its disk."""
    out: dict[str, dict[int, dict[str, int]]] = {}
    for node in cluster.nodes:
        held: dict[int, dict[str, int]] = {}
        for path in chunk_files(cluster.data_dir(node)):
            try:
                data = Path(path).read_bytes()
            except OSError:
                continue
            body = data[: max(0, len(data) - FOOTER_SIZE)]
            held[int(path.name, 16)] = {"size": len(body), "crc": checksum.of(body)}
        out[node] = held
    return out


async def snapshot(cluster: ChaosCluster) -> dict[str, Any]:
    """Input of the replicas checker: the leader's file map and the disks."""
    async with aiohttp.ClientSession() as session:
        base = await leader_url(session, cluster)
        if base is None:
            raise RuntimeError("no leader to read the replica map from")
        files = await file_map(session, base)
    disks = await asyncio.to_thread(disk_inventory, cluster)
    return {
        "files": files,
        "disks": {n: {str(k): v for k, v in d.items()} for n, d in disks.items()},
    }

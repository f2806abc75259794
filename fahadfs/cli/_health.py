"""Replica health of files, for fsck and tree.

The pure part classifies every chunk of a file from its stat, the node list and the leader's
corrupt-replica reports; one async helper gathers those inputs.

A chunk's copies count as *good* when their node is alive and no copy on it was reported
corrupt; as *active* when also in the ``active`` admin state (a draining node's copies are on
their way out). Each chunk gets at most one problem, the first that applies:

- ``corrupt``: a copy reported bad (by a reader or a scrubber) is still in the replica map
  (the master keeps a bad copy listed only while it is the last one, so this usually means
  the data cannot be read);
- ``missing``: no copy on a live node (the data cannot be read now);
- ``under_replicated``: fewer good active copies than the file's replication factor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fahadfs import errors
from fahadfs.client import Client

MISSING, CORRUPT, UNDER = "missing", "corrupt", "under_replicated"
_RANK = {CORRUPT: 0, MISSING: 1, UNDER: 2}


@dataclass(frozen=True)
class Cluster:
    """What a health check needs to know about the nodes and bad copies."""

    alive: frozenset[str]
    active: frozenset[str]
    bad: Mapping[int, frozenset[str]]  # chunk id -> nodes holding a reported-bad copy
    default_replication: int

    @classmethod
    def from_api(
        cls, nodes: Iterable[Mapping[str, Any]], health: Mapping[str, Any] | None, default_k: int
    ) -> Cluster:
        rows = list(nodes)
        alive = frozenset(
            n["id"] for n in rows if n.get("alive") and n.get("state") != "decommissioned"
        )
        active = frozenset(n["id"] for n in rows if n["id"] in alive and n.get("state") == "active")
        bad: dict[int, frozenset[str]] = {}
        for hexid, holders in ((health or {}).get("corrupt_reports") or {}).items():
            try:
                bad[int(hexid, 16)] = frozenset(holders)
            except (TypeError, ValueError):
                continue
        return cls(alive, active, bad, default_k)


@dataclass(frozen=True)
class Problem:
    path: str
    chunk: int
    problem: str
    live: int  # good active copies
    replication: int
    replicas: tuple[str, ...]
    bad: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "chunk": f"{self.chunk:016x}",
            "problem": self.problem,
            "live_replicas": self.live,
            "replication": self.replication,
            "replicas": list(self.replicas),
            "bad_replicas": list(self.bad),
        }


def check_chunk(
    path: str, chunk: Mapping[str, Any], replication: int, cluster: Cluster
) -> Problem | None:
    cid = int(chunk["id"])
    replicas = tuple(chunk.get("replicas") or ())
    bad = tuple(r for r in replicas if r in cluster.bad.get(cid, frozenset()))
    good = [r for r in replicas if r in cluster.alive and r not in bad]
    live = sum(1 for r in good if r in cluster.active)
    if bad:
        kind = CORRUPT
    elif not good:
        kind = MISSING
    elif live < replication:
        kind = UNDER
    else:
        return None
    return Problem(path, cid, kind, live, replication, replicas, bad)


def check_file(stat: Mapping[str, Any], cluster: Cluster) -> list[Problem]:
    """Problems of every chunk of one file stat (with chunks)."""
    k = int(stat.get("replication") or 0) or cluster.default_replication
    out = []
    for chunk in stat.get("chunks") or []:
        p = check_chunk(str(stat["path"]), chunk, k, cluster)
        if p is not None:
            out.append(p)
    return out


def worst(problems: Iterable[Problem]) -> Problem | None:
    return min(problems, key=lambda p: (_RANK[p.problem], p.live), default=None)


def summarize(path: str, stats: Sequence[Mapping[str, Any]], cluster: Cluster) -> dict[str, Any]:
    """The ``fsck --json`` report over file stats (with chunks) below ``path``.

    Chunk counts are of distinct chunks (copies made by ``cp`` share theirs); ``problems`` lists
    each affected (file, chunk).
    """
    chunks: dict[int, str] = {}
    problems: list[Problem] = []
    size = 0
    for st in stats:
        size += int(st.get("size") or 0)
        found = {p.chunk: p for p in check_file(st, cluster)}
        problems.extend(found.values())
        for c in st.get("chunks") or []:
            cid = int(c["id"])
            kind = found[cid].problem if cid in found else "ok"
            if _RANK.get(kind, 9) < _RANK.get(chunks.get(cid, "ok"), 9):
                chunks[cid] = kind
            else:
                chunks.setdefault(cid, kind)
    counts = {k: sum(1 for v in chunks.values() if v == k) for k in (UNDER, MISSING, CORRUPT)}
    return {
        "path": path,
        "healthy": not problems,
        "files": len(stats),
        "bytes": size,
        "chunks": len(chunks),
        "under_replicated": counts[UNDER],
        "missing": counts[MISSING],
        "corrupt": counts[CORRUPT],
        "problems": [p.to_json() for p in problems],
    }


# -- gathering ---------------------------------------------------------------------------------


async def cluster_view(client: Client) -> Cluster:
    nodes = await client.nodes()
    try:
        health = await client.call("GET", "/v1/health", what="health")
    except errors.FahadfsError:
        health = None
    return Cluster.from_api(nodes, health, client.config.replication)


async def file_stats(client: Client, files: list[str], parallel: int = 32) -> list[dict[str, Any]]:
    """Strict stats (with chunks) of ``files``, in order; files removed meanwhile are skipped."""
    sem = asyncio.Semaphore(parallel)

    async def one(path: str) -> dict[str, Any] | None:
        async with sem:
            try:
                st = await client.stat(path)
            except errors.NotFound:
                return None
            return st if st.get("type") == "file" else None

    found = await asyncio.gather(*(one(p) for p in files))
    return [st for st in found if st is not None]

"""Soft state of the file nodes on every master, rebuilt from heartbeats (never through Raft).

Liveness, reported usage, in-flight transfers, what each node says it holds, and bytes that
were placed on a node but are not in its reports yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fahadfs.meta_raft.placement import NodeView

PLANNED_TTL = 10.0  # seconds a placement counts against a node before reports catch up


@dataclass
class NodeReport:
    """The latest heartbeat of one node."""

    address: str
    capacity: int
    used: int
    free: int
    inflight: int
    last_seen: float
    chunks: dict[int, int] | None = None  # chunk id -> generation, from the last full report
    chunks_at: float = 0.0
    planned: list[tuple[float, int]] = field(default_factory=list)


class NodeTracker:
    """Heartbeat bookkeeping; ``now`` is a monotonic clock reading passed in by the caller."""

    def __init__(self, dead_after: float) -> None:
        self.dead_after = dead_after
        self.reports: dict[str, NodeReport] = {}

    def heartbeat(self, node_id: str, body: dict[str, Any], now: float) -> NodeReport:
        prev = self.reports.get(node_id)
        report = NodeReport(
            address=str(body["address"]),
            capacity=int(body["capacity"]),
            used=int(body.get("used", 0)),
            free=int(body.get("free", 0)),
            inflight=int(body.get("inflight", 0)),
            last_seen=now,
            chunks=prev.chunks if prev else None,
            chunks_at=prev.chunks_at if prev else 0.0,
            planned=[p for p in (prev.planned if prev else []) if now - p[0] < PLANNED_TTL],
        )
        chunks = body.get("chunks")
        if chunks is not None:
            report.chunks = {_chunk_id(c[0]): int(c[1]) for c in chunks}
            report.chunks_at = now
        self.reports[node_id] = report
        return report

    def alive(self, node_id: str, now: float) -> bool:
        r = self.reports.get(node_id)
        return r is not None and now - r.last_seen < self.dead_after

    def add_planned(self, node_id: str, size: int, now: float) -> None:
        r = self.reports.get(node_id)
        if r is not None:
            r.planned.append((now, size))

    def views(self, registry: Iterable[dict[str, Any]], now: float) -> list[NodeView]:
        """Placement views of the registered nodes (registry rows from MetaState.nodes())."""
        out = []
        for row in registry:
            r = self.reports.get(row["id"])
            if r is None:
                out.append(
                    NodeView(row["id"], row["address"], False, row["state"], row["capacity"], 0, 0)
                )
                continue
            planned = sum(size for t, size in r.planned if now - t < PLANNED_TTL)
            out.append(
                NodeView(
                    id=row["id"],
                    address=r.address,
                    alive=now - r.last_seen < self.dead_after,
                    state=row["state"],
                    capacity=row["capacity"],
                    used=r.used,
                    free=r.free,
                    inflight=r.inflight,
                    planned=planned,
                )
            )
        return out


def _chunk_id(value: object) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)

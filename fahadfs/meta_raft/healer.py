"""The leader's healer: carries out the pure decisions of repair.py, one pass per interval.

Only the leader acts, and only after safemode: a new leader waits one dead-node timeout (so
every live node has heartbeated it) before it declares anything dead or deletes anything.
Copies are made node to node (the source streams to the target), at most N per node at once;
the replica map changes only through Raft, after the copy is durable. Every action is
failsafe: one failure is counted and logged, and the pass goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import cbor2

from fahadfs import auth
from fahadfs.errors import FahadfsError
from fahadfs.meta_raft import repair
from fahadfs.meta_raft.repair import ChunkRow, Copy
from fahadfs.meta_raft.state import ChunkTable

if TYPE_CHECKING:
    from fahadfs.meta_raft.server import Master

ADMIN_TTL_MS = 60_000


@dataclass
class HealerStats:
    """What the healer has done since this process started (exported as metrics)."""

    repairs_done: int = 0
    repairs_failed: int = 0
    repair_bytes: int = 0
    repair_seconds: float = 0.0
    deleted: int = 0
    orphans_collected: int = 0
    trims: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0  # bytes/s of recent repairs (exponential average)


class Healer:
    """Periodic task (see fahadfs.periodic): ``run_once`` is one healing pass."""

    name = "healer"

    def __init__(self, master: Master) -> None:
        self.master = master
        self.config = master.config
        self.interval = master.config.healer.interval
        self.log = master.log
        self.stats = HealerStats()
        self.leader_since: float | None = None
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.busy: Counter[str] = Counter()
        self.orphan_seen: dict[tuple[int, str], float] = {}
        self.garbage: list[tuple[int, str]] = []
        self._session: aiohttp.ClientSession | None = None
        self._alive: set[str] | None = None
        self.added_at: dict[tuple[int, str], float] = {}  # (chunk, node) -> when listed
        self.wakeup = asyncio.Event()  # set when a copy ends: plan the next one at once

    # -- state ----------------------------------------------------------------------------------

    def safemode(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.leader_since is None or now - self.leader_since < self.config.timeouts.dead_node

    def enqueue_garbage(self, garbage: Any) -> None:
        """Chunks a committed op released: delete them from the nodes that hold them."""
        for item in garbage or []:
            if isinstance(item, dict):
                for node in item.get("replicas", []):
                    self.garbage.append((int(item["id"]), node))

    def note_added(self, chunk: int, node: str, now: float | None = None) -> None:
        """A copy of ``chunk`` on ``node`` was just listed: reports taken before may lack it."""
        self.added_at[(chunk, node)] = time.monotonic() if now is None else now

    def _young(self, now: float) -> frozenset[tuple[int, str]]:
        window = 3 * self.config.timeouts.chunk_report + 5.0
        self.added_at = {c: t for c, t in self.added_at.items() if now - t < window}
        return frozenset(self.added_at)

    def _trusted(self, now: float) -> dict[str, dict[int, int]]:
        """Chunk reports taken while this master led (so no copy listed before it is missed)."""
        assert self.leader_since is not None
        since = self.leader_since + 2 * self.config.timeouts.heartbeat
        return {
            n: dict(r.chunks)
            for n, r in self.master.tracker.reports.items()
            if r.chunks is not None and r.chunks_at > since and self.master.tracker.alive(n, now)
        }

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300))
        return self._session

    async def close(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    # -- one pass -------------------------------------------------------------------------------

    async def run_once(self) -> dict[str, Any]:
        m = self.master
        now = time.monotonic()
        if not m.raft.is_leader():
            self.leader_since = None
            self.garbage.clear()
            return {}
        if self.leader_since is None:
            self.leader_since = now
            self.log.info("healer.safemode", seconds=self.config.timeouts.dead_node)
        table, pending, registry = m.read(self._snapshot)
        views = m.tracker.views(registry, now)
        self._log_liveness({v.id for v in views if v.alive}, now)
        held = {
            n: dict(r.chunks)
            for n, r in m.tracker.reports.items()
            if r.chunks is not None and m.tracker.alive(n, now)
        }
        # Decoding and planning a million chunks takes seconds: keep it off the event loop.
        rows, plan = await asyncio.to_thread(
            self._decide,
            table,
            views,
            held,
            dict(self.busy),
            frozenset(self.inflight),
            self._trusted(now),
            self._young(now),
        )
        self._publish(plan, rows)
        if self.safemode(now):
            return {"safemode": True, "under": sum(plan.under.values())}
        await self._expire_sessions()
        await self._apply_map_changes(plan)
        await self._collect(plan, held, rows, pending, views, now)
        for copy in plan.copies:
            self._start_copy(copy)
        if not plan.copies and not plan.under and not self.inflight:
            for copy in repair.rebalance(
                rows,
                views,
                self.config.healer.rebalance_threshold,
                dict(self.busy),
                self.config.healer.max_repairs_per_node,
                max_moves=8,
            ):
                self._start_copy(copy)
        self.stats.last = {
            "under": sum(plan.under.values()),
            "missing": len(plan.missing),
            "copies": len(self.inflight),
            "trims": len(plan.trims),
        }
        return self.stats.last

    def _log_liveness(self, alive: set[str], now: float) -> None:
        if self._alive is not None and not self.safemode(now):
            for node in sorted(self._alive - alive):
                self.log.warning("node.dead", node=node)
            for node in sorted(alive - self._alive):
                self.log.info("node.alive", node=node)
        self._alive = alive

    def _snapshot(self) -> tuple[ChunkTable, set[int], list[dict[str, Any]]]:
        """Cheap copies taken under the state lock."""
        state = self.master.raft.state
        return state.chunk_table(), set(state.pending_chunks()), state.nodes()

    def _decide(
        self,
        table: ChunkTable,
        views: list[Any],
        held: dict[str, dict[int, int]],
        busy: dict[str, int],
        inflight: frozenset[int],
        trusted: dict[str, dict[int, int]],
        young: frozenset[tuple[int, str]],
    ) -> tuple[list[ChunkRow], repair.Plan]:
        default = self.config.replication
        rows = [ChunkRow(c, s, g, r, k or default) for c, s, g, r, k in table]
        plan = repair.plan(
            rows,
            views,
            held,
            busy,
            inflight,
            self.config.healer.max_repairs_per_node,
            trusted=trusted,
            young=young,
        )
        return rows, plan

    def _publish(self, plan: repair.Plan, rows: list[ChunkRow]) -> None:
        metrics = self.master.metrics
        metrics.safemode.set(1 if self.safemode() else 0)
        for missing in range(1, 4):
            metrics.under_replicated.labels(missing=str(missing)).set(plan.under.get(missing, 0))
        metrics.lost_chunks.set(len(plan.missing))
        metrics.repair_queue.set(sum(plan.under.values()))
        metrics.repairs_running.set(len(self.inflight))
        rate = self.stats.rate
        metrics.redundancy_eta.set(plan.under_bytes / rate if plan.under_bytes and rate else 0)
        self.last_plan = plan

    async def _expire_sessions(self) -> None:
        if not self.master.read(lambda: self.master.raft.state.counts()["sessions"]):
            return
        with contextlib.suppress(FahadfsError):
            result = await self.master.propose({"op": "expire_sessions"})
            self.enqueue_garbage(result.get("garbage"))

    async def _apply_map_changes(self, plan: repair.Plan) -> None:
        for chunk, node in plan.adopt:
            await self._propose_quietly({"op": "replica_add", "chunk_id": chunk, "node_id": node})
        for trim in plan.trims:
            ok = await self._propose_quietly(
                {"op": "replica_remove", "chunk_id": trim.chunk, "node_id": trim.node}
            )
            if ok:
                self.stats.trims += 1
                self.log.info(
                    "replica.trimmed",
                    chunk=f"{trim.chunk:016x}",
                    node=trim.node,
                    reason=trim.reason,
                )
                if trim.delete:
                    self.garbage.append((trim.chunk, trim.node))
        for node in plan.decommission:
            if await self._propose_quietly(
                {"op": "node_update", "node_id": node, "admin_state": "decommissioned"}
            ):
                self.log.info("node.decommissioned", node=node)

    async def _collect(
        self,
        plan: repair.Plan,
        held: dict[str, dict[int, int]],
        rows: list[ChunkRow],
        pending: set[int],
        views: list[Any],
        now: float,
    ) -> None:
        """Delete released chunks, stale copies and (after the grace period) orphans."""
        deletes = list(self.garbage) + [(c, n) for c, n in plan.stale if c not in self.inflight]
        self.garbage.clear()
        orphans = repair.orphans(held, (r.id for r in rows), pending)
        seen = {}
        for key in orphans:
            first = self.orphan_seen.get(key, now)
            seen[key] = first
            if now - first >= self.config.timeouts.orphan_grace:
                deletes.append(key)
                self.stats.orphans_collected += 1
        self.orphan_seen = seen
        address = {v.id: v.address for v in views if v.alive}
        for chunk, node in deletes:
            if node in address:
                await self._delete(address[node], chunk, node)

    # -- actions on file nodes --------------------------------------------------------------------

    def _admin_headers(self, op: str, chunk: int) -> dict[str, str]:
        token = auth.sign(
            self.config.secret,
            "admin",
            {"op": op, "chunk": f"{chunk:016x}"},
            int(time.time() * 1000),
            ADMIN_TTL_MS,
        )
        return {"X-Fahadfs-Token": token, "Accept": "application/cbor"}

    async def _delete(self, address: str, chunk: int, node: str) -> None:
        url = f"http://{address}/v1/chunk/{chunk:016x}"
        try:
            async with self.session().delete(
                url, headers=self._admin_headers("delete", chunk)
            ) as r:
                if r.status in (200, 204, 404):
                    self.stats.deleted += 1
                    if node in self.master.tracker.reports:
                        held = self.master.tracker.reports[node].chunks
                        if held is not None:
                            held.pop(chunk, None)
                    return
                self.log.warning(
                    "chunk.delete_failed", chunk=f"{chunk:016x}", node=node, status=r.status
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.log.warning(
                "chunk.delete_failed", chunk=f"{chunk:016x}", node=node, error=repr(exc)
            )

    def _start_copy(self, copy: Copy) -> None:
        if copy.chunk in self.inflight:
            return
        self.busy[copy.source] += 1
        self.busy[copy.target] += 1
        self.log.info("repair.start", **_fields(copy))
        task = asyncio.get_running_loop().create_task(self._copy(copy))
        self.inflight[copy.chunk] = task

    async def _copy(self, copy: Copy) -> None:
        started = time.monotonic()
        try:
            if await self._replicate(copy):
                elapsed = time.monotonic() - started
                self.stats.repairs_done += 1
                self.stats.repair_bytes += copy.size
                self.stats.repair_seconds += elapsed
                inst = copy.size / max(elapsed, 1e-6)
                self.stats.rate = (
                    inst if not self.stats.rate else 0.8 * self.stats.rate + 0.2 * inst
                )
                self.master.metrics.repair_bytes.inc(copy.size)
                self.master.metrics.repair_seconds.inc(elapsed)
                self.master.metrics.repairs.labels(reason=copy.reason, result="ok").inc()
            else:
                self.stats.repairs_failed += 1
                self.master.metrics.repairs.labels(reason=copy.reason, result="failed").inc()
        except Exception:
            self.stats.repairs_failed += 1
            self.log.exception("repair.crashed", chunk=f"{copy.chunk:016x}")
        finally:
            self.busy[copy.source] -= 1
            self.busy[copy.target] -= 1
            self.inflight.pop(copy.chunk, None)
            self.wakeup.set()

    async def _replicate(self, copy: Copy) -> bool:
        m = self.master
        views = {v.id: v for v in m.tracker.views(m.read(m.raft.state.nodes), time.monotonic())}
        info = m.read(lambda: m.raft.state.chunk(copy.chunk))
        src, dst = views.get(copy.source), views.get(copy.target)
        if info is None or src is None or dst is None:
            return False
        now_ms = int(time.time() * 1000)
        write_token = auth.sign(
            self.config.secret,
            "write",
            {"chunk": f"{copy.chunk:016x}", "max": info["size"]},
            now_ms,
            ADMIN_TTL_MS,
        )
        body = cbor2.dumps(
            {"chunk": f"{copy.chunk:016x}", "targets": [dst.address], "token": write_token}
        )
        headers = {
            **self._admin_headers("replicate", copy.chunk),
            "Content-Type": "application/cbor",
        }
        try:
            async with self.session().post(
                f"http://{src.address}/v1/replicate", data=body, headers=headers
            ) as r:
                raw = await r.read()
                answer = cbor2.loads(raw) if raw and "cbor" in r.content_type else {}
                if r.status != 200:
                    self.log.warning(
                        "repair.failed",
                        chunk=f"{copy.chunk:016x}",
                        source=copy.source,
                        target=copy.target,
                        status=r.status,
                        error=answer.get("message") if isinstance(answer, dict) else "",
                    )
                    return False
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.log.warning(
                "repair.failed",
                chunk=f"{copy.chunk:016x}",
                source=copy.source,
                target=copy.target,
                error=repr(exc),
            )
            return False
        acks = answer.get("acks", []) if isinstance(answer, dict) else []
        good = any(
            a.get("node") == copy.target and a.get("checksum") == info["checksum"]
            for a in acks
            if isinstance(a, dict)
        )
        if not good:
            self.log.warning("repair.bad_ack", chunk=f"{copy.chunk:016x}", acks=acks)
            return False
        ok = await self._propose_quietly(
            {"op": "replica_add", "chunk_id": copy.chunk, "node_id": copy.target}
        )
        if ok:
            self.log.info("replica.repaired", **_fields(copy))
        return ok

    async def _propose_quietly(self, op: dict[str, Any]) -> bool:
        try:
            await self.master.propose(op)
            return True
        except FahadfsError as exc:
            self.log.warning("healer.op_failed", op=op["op"], code=exc.code, error=exc.message)
            return False


def _fields(copy: Copy) -> dict[str, Any]:
    """How a copy appears in log events (tests and bench.heal read these)."""
    return {
        "chunk": f"{copy.chunk:016x}",
        "source": copy.source,
        "target": copy.target,
        "live_before": copy.live,
        "reason": copy.reason,
    }

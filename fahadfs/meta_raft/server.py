"""The master's aiohttp API: namespace ops through group commit, plans, commits, node heartbeats.

Leader-only calls on a follower answer 307 naming the leader; with no leader, 503 + Retry-After.
Strict reads (stat, ls, walk) pass a read barrier (a committed no-op) on the leader first.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from fahadfs import auth, paths, periodic
from fahadfs.config import Config
from fahadfs.errors import (
    FahadfsError,
    IntegrityError,
    InvalidArgument,
    NoLeader,
    NotEnoughNodes,
    NotLeader,
    from_code,
)
from fahadfs.meta_raft import placement
from fahadfs.meta_raft._wire import decode_body, respond
from fahadfs.meta_raft.healer import Healer
from fahadfs.meta_raft.nodes import NodeTracker
from fahadfs.meta_raft.raft import GroupCommitter, RaftNode
from fahadfs.metrics import CONTENT_TYPE, MasterMetrics

CLIENT_OPS = frozenset({"mkdir", "create", "renew", "release", "rm", "rmdir", "mv", "cp"})
WRITE_TOKEN_TTL_MS = 10 * 60 * 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Master:
    """Everything one master process serves; handlers are its methods."""

    def __init__(self, raft: RaftNode, config: Config, log: Any) -> None:
        self.raft = raft
        self.config = config
        self.log = log
        self.metrics = MasterMetrics()
        self.tracker = NodeTracker(dead_after=config.timeouts.dead_node)
        self.committer = GroupCommitter(raft)
        self.healer = Healer(self)
        # Copies reported corrupt that are still listed (e.g. the last copy); and recent reports.
        self.bad_reports: dict[int, set[str]] = {}
        self.recent_bad: collections.deque[dict[str, Any]] = collections.deque(maxlen=256)
        self.started = time.monotonic()
        self._last_leader: str | None = None
        self._registering: set[str] = set()
        self._counted = (0, 0)

    # -- plumbing ---------------------------------------------------------------------------

    def ensure_leader(self, request: web.Request) -> None:
        """Raise unless this master leads: a redirect to the leader, or 503 without one."""
        if self.raft.is_leader():
            return
        leader = self.raft.leader()
        term = self.raft.status()["term"]
        if leader is None or leader.id == self.raft.me.id:
            raise NoLeader("no leader elected yet; retry shortly", term=term)
        raise NotLeader(
            f"{self.raft.me.id} is not the leader; {leader.id} is",
            leader=leader.id,
            leader_url=f"http://{leader.http_address}",
            term=term,
        )

    async def propose(self, op: dict[str, Any]) -> dict[str, Any]:
        """Commit one op through group commit and return its success fields (or raise)."""
        result = await self.committer.submit(op, timeout=self.config.timeouts.request)
        if not result.get("ok"):
            raise from_code(
                str(result.get("code", "EIO")),
                str(result.get("message", "")),
                **{k: v for k, v in result.items() if k not in ("ok", "code", "message")},
            )
        if result.get("garbage"):
            self.healer.enqueue_garbage(result["garbage"])
        if op.get("op") == "commit":
            for chunk in op.get("chunks", ()):
                for node in chunk[3]:
                    self.healer.note_added(chunk[0], node)
        elif op.get("op") == "replica_add":
            self.healer.note_added(op["chunk_id"], op["node_id"])
        return {k: v for k, v in result.items() if k != "ok"}

    async def read_barrier(self) -> None:
        await self.propose({"op": "noop"})

    def read(self, fn: Callable[[], Any]) -> Any:
        with self.raft.lock:
            return fn()

    # -- namespace ----------------------------------------------------------------------------

    async def meta_op(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        if op not in CLIENT_OPS:
            raise InvalidArgument(f"unknown operation {op!r}")
        body = await decode_body(request)
        self.ensure_leader(request)
        _check_paths(body)
        return respond(request, await self.propose({**body, "op": op}))

    async def batch(self, request: web.Request) -> web.StreamResponse:
        body = await decode_body(request)
        ops = body.get("ops")
        if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
            raise InvalidArgument("batch: 'ops' must be a list of op objects")
        for o in ops:
            if o.get("op") not in CLIENT_OPS:
                raise InvalidArgument(f"batch: unknown operation {o.get('op')!r}")
            _check_paths(o)
        self.ensure_leader(request)
        results = await asyncio.gather(
            *(self.committer.submit(o, self.config.timeouts.request) for o in ops)
        )
        for r in results:
            if r.get("garbage"):
                self.healer.enqueue_garbage(r["garbage"])
        return respond(request, {"results": list(results)})

    async def stat(self, request: web.Request) -> web.StreamResponse:
        path = _query_path(request)
        await self._strict(request)
        return respond(request, self.read(lambda: self.raft.state.stat(path)))

    async def ls(self, request: web.Request) -> web.StreamResponse:
        path = _query_path(request)
        await self._strict(request)
        return respond(request, {"entries": self.read(lambda: self.raft.state.ls(path))})

    async def walk(self, request: web.Request) -> web.StreamResponse:
        path = _query_path(request)
        await self._strict(request)
        entries = self.read(lambda: [[p, s] for p, s in self.raft.state.walk(path)])
        return respond(request, {"entries": entries})

    async def _strict(self, request: web.Request) -> None:
        if request.query.get("stale") == "1":
            return
        self.ensure_leader(request)
        await self.read_barrier()

    # -- data path ----------------------------------------------------------------------------

    async def plan(self, request: web.Request) -> web.StreamResponse:
        body = await decode_body(request)
        self.ensure_leader(request)
        path = paths.normalize(body.get("path"))
        size = _int(body, "size", minimum=0)
        chunk_size = _int(body, "chunk_size", default=self.config.chunk_size, minimum=1)
        k = _int(body, "replication", default=self.config.replication, minimum=1)
        exclude = body.get("exclude") or []
        if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
            raise InvalidArgument("plan: 'exclude' must be a list of node ids")
        if "count" in body:
            sizes = [size] * _int(body, "count", minimum=1)
        else:
            sizes = [min(chunk_size, size - off) for off in range(0, size, chunk_size)]
        now = time.monotonic()
        views = self.tracker.views(self.read(self.raft.state.nodes), now)
        pipelines = placement.choose_many(views, k, sizes, exclude)
        by_id = {v.id: v for v in views}
        now_ms = int(time.time() * 1000)
        chunks, offset = [], 0
        for size_i, pipeline in zip(sizes, pipelines, strict=True):
            chunk_id = secrets.randbits(63)
            for node_id in pipeline:
                self.tracker.add_planned(node_id, size_i, now)
            chunks.append(
                {
                    "id": chunk_id,
                    "offset": offset,
                    "size": size_i,
                    "pipeline": [{"id": n, "address": by_id[n].address} for n in pipeline],
                    "token": auth.sign(
                        self.config.secret,
                        "write",
                        {"chunk": f"{chunk_id:016x}", "max": size_i},
                        now_ms,
                        WRITE_TOKEN_TTL_MS,
                    ),
                }
            )
            offset += size_i
        self.log.debug("plan", path=path, chunks=len(chunks))
        return respond(request, {"chunk_size": chunk_size, "replication": k, "chunks": chunks})

    async def commit(self, request: web.Request) -> web.StreamResponse:
        body = await decode_body(request)
        self.ensure_leader(request)
        path = paths.normalize(body.get("path"))
        k = _int(body, "replication", default=self.config.replication, minimum=1)
        raw_chunks = body.get("chunks")
        if not isinstance(raw_chunks, list):
            raise InvalidArgument("commit: 'chunks' must be a list")
        chunks = [_verified_chunk(c, k, path) for c in raw_chunks]
        op = {
            "op": "commit",
            "rid": body.get("rid"),
            "path": path,
            "lease_id": body.get("lease_id"),
            "token": body.get("token"),
            "size": _int(body, "size", minimum=0),
            "replication": k,
            "chunks": chunks,
            "mtime": int(time.time() * 1000),
        }
        return respond(request, await self.propose(op))

    async def report_bad(self, request: web.Request) -> web.StreamResponse:
        body = await decode_body(request)
        self.ensure_leader(request)
        chunk_id, node = body.get("chunk"), body.get("node")
        if isinstance(chunk_id, str):
            chunk_id = _hex_id(chunk_id)
        if not isinstance(chunk_id, int) or not isinstance(node, str):
            raise InvalidArgument("report_bad: needs 'chunk' and 'node'")
        self.log.warning(
            "replica.reported_bad",
            chunk=f"{chunk_id:016x}",
            node=node,
            reason=str(body.get("reason", "")),
        )
        reason = str(body.get("reason", ""))
        self.recent_bad.append(
            {"chunk": f"{chunk_id:016x}", "node": node, "reason": reason, "time": int(time.time())}
        )
        report = self.tracker.reports.get(node)
        if report is not None and report.chunks is not None:
            # Its last report predates the quarantine: never re-adopt the bad copy from it.
            report.chunks.pop(chunk_id, None)
        info = self.read(lambda: self.raft.state.chunk(chunk_id))
        # Drop the bad copy from the map only while another copy remains; the healer restores k
        # and later deletes the unlisted file. The last copy stays listed and flagged corrupt.
        if info and node in info["replicas"] and len(info["replicas"]) > 1:
            await self.propose({"op": "replica_remove", "chunk_id": chunk_id, "node_id": node})
        elif info and node in info["replicas"]:
            self.bad_reports.setdefault(chunk_id, set()).add(node)
        return respond(request, {})

    def current_bad_reports(self) -> dict[str, list[str]]:
        """Reported-corrupt copies that the replica map still lists (forgets healed ones)."""
        out = {}
        for chunk_id, nodes in list(self.bad_reports.items()):
            info = self.read(lambda c=chunk_id: self.raft.state.chunk(c))
            still = sorted(n for n in nodes if info and n in info["replicas"])
            if still:
                out[f"{chunk_id:016x}"] = still
            else:
                del self.bad_reports[chunk_id]
        return out

    # -- file nodes ---------------------------------------------------------------------------

    async def heartbeat(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Fahadfs ").strip()
        claims = auth.verify(self.config.secret, "node", token, int(time.time() * 1000))
        body = await decode_body(request)
        node_id = body.get("node")
        if node_id != claims.get("node"):
            raise InvalidArgument("heartbeat: node id does not match its token")
        try:
            report = self.tracker.heartbeat(node_id, body, time.monotonic())
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"heartbeat: bad body: {exc}") from None
        if self.raft.is_leader():
            self._maybe_register(node_id, report.address, report.capacity)
        leader = self.raft.leader()
        return respond(request, {"leader": leader.id if leader else None})

    def _maybe_register(self, node_id: str, address: str, capacity: int) -> None:
        known = {n["id"]: n for n in self.read(self.raft.state.nodes)}
        row = known.get(node_id)
        if row and row["address"] == address and row["capacity"] == capacity:
            return
        if node_id in self._registering:
            return
        self._registering.add(node_id)

        async def register() -> None:
            try:
                await self.propose(
                    {
                        "op": "node_register",
                        "node_id": node_id,
                        "address": address,
                        "capacity": capacity,
                    }
                )
                self.log.info("node.registered", node=node_id, address=address)
            except FahadfsError as exc:
                self.log.warning("node.register_failed", node=node_id, error=exc.message)
            finally:
                self._registering.discard(node_id)

        asyncio.get_running_loop().create_task(register())

    async def list_nodes(self, request: web.Request) -> web.StreamResponse:
        return respond(request, {"nodes": self.node_rows()})

    def node_rows(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        registry = self.read(self.raft.state.nodes)
        counts = self._replica_counts()
        rows = []
        for row, view in zip(registry, self.tracker.views(registry, now), strict=True):
            rows.append(
                {
                    "id": row["id"],
                    "address": view.address,
                    "state": row["state"],
                    "alive": view.alive,
                    "capacity": row["capacity"],
                    "used_bytes": view.used,
                    "free_bytes": view.free,
                    "inflight": view.inflight,
                    "chunks": counts.get(row["id"], 0),
                }
            )
        return rows

    def _replica_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _chunk, _size, _gen, replicas, _k in self.read(self.raft.state.chunk_table):
            for node in replicas:
                counts[node] = counts.get(node, 0) + 1
        return counts

    async def set_node_state(self, request: web.Request) -> web.StreamResponse:
        body = await decode_body(request)
        self.ensure_leader(request)
        op = {
            "op": "node_update",
            "rid": body.get("rid"),
            "node_id": request.match_info["node"],
            "admin_state": body.get("state"),
        }
        return respond(request, await self.propose(op))

    # -- observability ------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.StreamResponse:
        """The healer's view: safemode, under-replicated and lost chunks, repairs, ETA."""
        self.ensure_leader(request)
        return respond(request, self.health_summary())

    def health_summary(self) -> dict[str, Any]:
        plan = getattr(self.healer, "last_plan", None)
        under = plan.under if plan else {}
        st = self.healer.stats
        return {
            "safemode": self.healer.safemode(),
            "under_replicated_chunks": sum(under.values()),
            "under_replicated": {str(k): v for k, v in sorted(under.items())},
            "missing_chunks": [f"{c:016x}" for c in (plan.missing if plan else [])],
            "corrupt_reports": self.current_bad_reports(),
            "recent_bad_reports": list(self.recent_bad)[-20:],
            "repairs_running": len(self.healer.inflight),
            "repairs_done": st.repairs_done,
            "repairs_failed": st.repairs_failed,
            "repair_bytes": st.repair_bytes,
            "orphans_collected": st.orphans_collected,
            "seconds_to_full_redundancy": (
                round(plan.under_bytes / st.rate, 1)
                if plan and plan.under_bytes and st.rate
                else 0.0
            ),
        }

    async def status(self, request: web.Request) -> web.StreamResponse:
        s = self.raft.status()
        counts = self.read(self.raft.state.counts)
        if s["role"] == "leader":
            s["health"] = self.health_summary()
        s.update(
            {
                "uptime": round(time.monotonic() - self.started, 3),
                "namespace": counts,
                "group_commit": {"entries": self.committer.entries, "ops": self.committer.ops},
                "http": self.raft.me.http_address,
            }
        )
        return web.json_response(s)

    async def metrics_handler(self, request: web.Request) -> web.StreamResponse:
        self.refresh_gauges()
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    def refresh_gauges(self) -> None:
        m, s = self.metrics, self.raft.status()
        m.raft_term.set(s["term"])
        m.is_leader.set(1 if s["role"] == "leader" else 0)
        m.commit_index.set(s["commit_index"])
        m.last_applied.set(s["last_applied"])
        m.journal_flushes.set(s["journal_flushes"])
        m.journal_flush_seconds.set(s["journal_flush_seconds"])
        m.entries.inc(self.committer.entries - self._counted[0])
        m.batched_ops.inc(self.committer.ops - self._counted[1])
        self._counted = (self.committer.entries, self.committer.ops)
        for kind, n in self.read(self.raft.state.counts).items():
            m.namespace.labels(kind=kind).set(n)
        now = time.monotonic()
        alive = sum(self.tracker.alive(n, now) for n in self.tracker.reports)
        m.nodes.labels(alive="true").set(alive)
        m.nodes.labels(alive="false").set(len(self.tracker.reports) - alive)
        m.orphans_collected.set(self.healer.stats.orphans_collected)
        m.chunks_deleted.set(self.healer.stats.deleted)

    async def watch_leader(self) -> None:
        """Count leader changes and log them (a small periodic check on the event loop)."""
        while True:
            leader = self.raft.leader()
            lid = leader.id if leader else None
            if lid != self._last_leader:
                if lid is not None:
                    self.metrics.leader_changes.inc()
                self.log.info("raft.leader", leader=lid, term=self.raft.status()["term"])
                self._last_leader = lid
            await asyncio.sleep(0.1)


def _query_path(request: web.Request) -> str:
    return paths.normalize(request.query.get("path", "/"))


def _check_paths(body: dict[str, Any]) -> None:
    for key in ("path", "src", "dst"):
        if key in body:
            paths.split(body[key])


def _int(body: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    value = body.get(key, default)
    if value is None:
        raise InvalidArgument(f"missing '{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"'{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _hex_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise InvalidArgument(f"bad chunk id {text!r}") from None


def _verified_chunk(c: Any, k: int, path: str) -> list[Any]:
    """The three-way check: every replica's checksum must equal the client's."""
    if not isinstance(c, dict):
        raise InvalidArgument("commit: each chunk must be an object")
    chunk_id, size, checksum = c.get("id"), c.get("size"), c.get("checksum")
    acks = c.get("acks")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (chunk_id, size, checksum)):
        raise InvalidArgument("commit: chunk needs integer 'id', 'size', 'checksum'")
    if not isinstance(acks, list) or not all(isinstance(a, dict) for a in acks):
        raise InvalidArgument("commit: chunk needs a list of 'acks'")
    nodes: list[str] = []
    for ack in acks:
        node = ack.get("node")
        if not isinstance(node, str):
            raise InvalidArgument("commit: ack without a node id")
        if ack.get("checksum") != checksum:
            raise IntegrityError(
                f"commit {path}: chunk {chunk_id:016x} on {node} has checksum "
                f"{ack.get('checksum')}, client sent {checksum}",
                chunk=chunk_id,
                node=node,
            )
        if "size" in ack and ack["size"] != size:
            raise IntegrityError(f"commit {path}: chunk {chunk_id:016x} on {node} has wrong size")
        if node not in nodes:
            nodes.append(node)
    if len(nodes) < k:
        raise NotEnoughNodes(
            f"commit {path}: chunk {chunk_id:016x} stored on {len(nodes)} nodes, need {k}"
        )
    return [chunk_id, size, checksum, nodes]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    master: Master = request.app["master"]
    op = request.match_info.get("op") or (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    )
    start = time.perf_counter()
    code = "OK"
    try:
        return await handler(request)
    except FahadfsError as exc:
        code = exc.code
        headers = {}
        if isinstance(exc, NotLeader):
            headers["Location"] = f"{exc.details['leader_url']}{request.path_qs}"
            return respond(request, exc.to_wire(), status=307, headers=headers)
        if exc.status == 503:
            headers["Retry-After"] = "1"
        return respond(request, exc.to_wire(), status=exc.status, headers=headers)
    except web.HTTPException:
        raise
    except Exception as exc:
        code = "EIO"
        master.log.exception("request.failed", path=request.path)
        return respond(request, {"code": "EIO", "message": f"internal error: {exc!r}"}, status=500)
    finally:
        master.metrics.requests.labels(op=op, code=code).inc()
        master.metrics.latency.labels(op=op).observe(time.perf_counter() - start)


def make_app(master: Master) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=64 << 20)
    app["master"] = master
    r = app.router
    r.add_post("/v1/meta/{op}", master.meta_op)
    r.add_post("/v1/batch", master.batch)
    r.add_get("/v1/stat", master.stat)
    r.add_get("/v1/ls", master.ls)
    r.add_get("/v1/walk", master.walk)
    r.add_post("/v1/plan", master.plan)
    r.add_post("/v1/commit", master.commit)
    r.add_post("/v1/report_bad", master.report_bad)
    r.add_post("/v1/node/heartbeat", master.heartbeat)
    r.add_get("/v1/nodes", master.list_nodes)
    r.add_post("/v1/node/{node}/state", master.set_node_state)
    r.add_get("/v1/health", master.health)
    r.add_get("/status", master.status)
    r.add_get("/metrics", master.metrics_handler)

    async def lifecycle(app: web.Application) -> Any:
        master.committer.start()
        watcher = asyncio.get_running_loop().create_task(master.watch_leader())
        yield
        watcher.cancel()
        await master.committer.stop()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(periodic.background([master.healer], master.log))

    async def close_healer(app: web.Application) -> None:
        await master.healer.close()

    app.on_cleanup.append(close_healer)
    return app

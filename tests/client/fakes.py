"""Small fake master and file-node aiohttp apps on 127.0.0.1, speaking docs/API.md.

The fake master keeps a dict namespace, answers as leader, follower (307) or without a leader
(503), and records every request; fake nodes keep chunks in a dict, store the whole pipeline
(by calling the other fakes directly) and can be told to fail, corrupt or stall.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from aiohttp import web

from fahadfs import checksum, config, errors

CBOR = "application/cbor"


def cbor(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=cbor2.dumps(body), status=status, content_type=CBOR, headers=headers)


def err(exc: errors.FahadfsError, status: int | None = None) -> web.Response:
    return cbor(exc.to_wire(), status=status or exc.status)


def dead_address() -> str:
    """A loopback address nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Served:
    """An aiohttp app on an ephemeral loopback port."""

    address: str

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app(), handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Request:
    method: str
    path: str
    body: Any
    query: dict[str, str]


Hook = Callable[[web.Request, Any], Awaitable[web.StreamResponse | None]]


class FakeMaster(Served):
    """``mode``: "leader", "noleader", or a URL to redirect to (a follower)."""

    def __init__(self, cluster: FakeCluster | None = None, mode: str = "leader") -> None:
        super().__init__()
        self.cluster = cluster
        self.mode = mode
        self.requests: list[Request] = []
        self.hook: Hook | None = None  # may answer a request before the normal handler
        self.dirs: set[str] = {"/"}
        self.files: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}  # rid -> first result
        self.sessions: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.next_chunk = 0x1000
        self.bad_reports: list[dict[str, Any]] = []
        self.alive: dict[str, bool] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = cbor2.loads(raw) if raw else None
        self.requests.append(Request(request.method, request.path, body, dict(request.query)))
        if self.hook is not None:
            answer = await self.hook(request, body)
            if answer is not None:
                return answer
        if self.mode == "noleader":
            return cbor(
                {"code": "ENOLEADER", "message": "no leader elected yet"},
                status=503,
                headers={"Retry-After": "1"},
            )
        if self.mode != "leader":
            return cbor(
                {"code": "ENOTLEADER", "message": "not the leader", "leader_url": self.mode},
                status=307,
                headers={"Location": f"{self.mode}{request.path_qs}"},
            )
        try:
            return cbor(self.dispatch(request, body or {}))
        except errors.FahadfsError as exc:
            return err(exc)

    # -- the fake leader

    def dispatch(self, request: web.Request, body: dict[str, Any]) -> Any:
        path = request.path
        if path.startswith("/v1/meta/"):
            rid = body.get("rid")
            if rid in self.results:
                return {**self.results[rid], "dup": True}
            out = getattr(self, "op_" + path.rsplit("/", 1)[1])(body)
            if rid:
                self.results[rid] = out
            return out
        if path == "/v1/stat":
            return self.stat(request.query["path"])
        if path == "/v1/ls":
            p = request.query["path"]
            names = sorted(x for x in [*self.dirs, *self.files] if x != "/" and _parent(x) == p)
            return {"entries": [{"name": n.rsplit("/", 1)[1]} for n in names]}
        if path == "/v1/walk":
            return {"entries": [[p, {"type": "dir"}] for p in sorted(self.dirs)]}
        if path == "/v1/plan":
            return self.plan(body)
        if path == "/v1/commit":
            return self.commit(body)
        if path == "/v1/report_bad":
            self.bad_reports.append(body)
            return {}
        if path == "/v1/nodes":
            assert self.cluster is not None
            return {
                "nodes": [
                    {"id": n.id, "address": n.address, "alive": self.alive.get(n.id, True)}
                    for n in self.cluster.nodes
                ]
            }
        raise errors.InvalidArgument(f"fake master: no route {path}")

    def stat(self, path: str) -> dict[str, Any]:
        if path in self.dirs:
            return {"path": path, "type": "dir", "size": 0, "version": 0}
        if path not in self.files:
            raise errors.NotFound(f"stat {path}: no such file or directory")
        return {"path": path, "type": "file", **self.files[path]}

    def op_mkdir(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["path"] in self.dirs:
            raise errors.AlreadyExists(f"mkdir {body['path']}: exists")
        self.dirs.add(body["path"])
        return {}

    def op_rm(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.files.pop(body["path"], None) is None:
            raise errors.NotFound(f"rm {body['path']}: no such file")
        return {"garbage": []}

    def op_create(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.sessions[body["path"]] = {**body, "token": self.version, "pending": []}
        return {"token": self.version, "lease_id": body["lease_id"], "expires": 0}

    def op_renew(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.sessions.get(body["path"])
        if s is None or s["lease_id"] != body["lease_id"]:
            raise errors.StaleSession("renew: no live session")
        s["pending"] = list(body.get("chunks", []))
        return {"expires": 0}

    def op_release(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.sessions.pop(body["path"], None)
        if s is None or s["lease_id"] != body["lease_id"]:
            raise errors.StaleSession("release: no live session")
        return {"garbage": s["pending"]}

    def plan(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None
        size, cs = body["size"], body.get("chunk_size", 64 << 20)
        k = body.get("replication", 3)
        if "count" in body:
            sizes = [size] * body["count"]
        else:
            sizes = [min(cs, size - off) for off in range(0, size, cs)]
        usable = [n for n in self.cluster.nodes if n.id not in set(body.get("exclude", []))]
        if len(usable) < k:
            raise errors.NotEnoughNodes(f"plan: {len(usable)} nodes usable, need {k}")
        chunks, offset = [], 0
        for i, n in enumerate(sizes):
            self.next_chunk += 1
            pipe = [usable[(i + j) % len(usable)] for j in range(k)]
            chunks.append(
                {
                    "id": self.next_chunk,
                    "offset": offset,
                    "size": n,
                    "pipeline": [{"id": p.id, "address": p.address} for p in pipe],
                    "token": f"tok-{self.next_chunk:016x}",
                }
            )
            offset += n
        return {"chunk_size": cs, "replication": k, "chunks": chunks}

    def commit(self, body: dict[str, Any]) -> dict[str, Any]:
        rid = body.get("rid")
        if rid in self.results:
            return {**self.results[rid], "dup": True}
        chunks = []
        for c in body["chunks"]:
            for a in c["acks"]:
                if a["checksum"] != c["checksum"]:
                    raise errors.IntegrityError(f"commit: {a['node']} disagrees", node=a["node"])
            chunks.append(
                {
                    "id": c["id"],
                    "size": c["size"],
                    "checksum": c["checksum"],
                    "generation": 0,
                    "replicas": [a["node"] for a in c["acks"]],
                }
            )
        if body.get("lease_id") is not None:
            s = self.sessions.pop(body["path"], None)
            if s is None or s["lease_id"] != body["lease_id"] or s["token"] != body["token"]:
                raise errors.StaleSession("commit: no such session")
        self.version += 1
        self.files[body["path"]] = {"size": body["size"], "version": self.version, "chunks": chunks}
        out = {"version": self.version, "garbage": []}
        self.results[rid] = out
        return out

    def ops(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.path in (f"/v1/meta/{name}", f"/v1/{name}")]


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


@dataclass
class FakeNode(Served):
    id: str
    cluster: FakeCluster
    chunks: dict[int, bytes] = field(default_factory=dict)
    puts: list[dict[str, str]] = field(default_factory=list)  # headers of each PUT received
    gets: list[int] = field(default_factory=list)
    fail_puts: list[web.Response | str] = field(default_factory=list)  # popped per PUT
    corrupt: set[int] = field(default_factory=set)  # serve these with a flipped byte
    put_delay: float = 0.0

    def __post_init__(self) -> None:
        Served.__init__(self)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 << 20)
        app.router.add_put("/v1/chunk/{id}", self.put)
        app.router.add_get("/v1/chunk/{id}", self.get)
        return app

    async def put(self, request: web.Request) -> web.StreamResponse:
        self.puts.append(dict(request.headers))
        cid = int(request.match_info["id"], 16)
        if self.fail_puts:
            failure = self.fail_puts.pop(0)
            if failure == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            assert isinstance(failure, web.Response)
            await request.read()
            return failure
        data = await request.read()
        if self.put_delay:
            await asyncio.sleep(self.put_delay)
        if len(data) != int(request.headers["Content-Length"]):
            return err(errors.InvalidArgument("short body"))
        claimed = request.headers.get("X-Fahadfs-Checksum")
        if claimed is not None and int(claimed) != checksum.of(data):
            return err(errors.IntegrityError("checksum mismatch", node=self.id))
        acks = []
        chain = [self.address]
        pipe = request.headers.get("X-Fahadfs-Pipeline", "")
        chain += [a for a in pipe.split(",") if a]
        for address in chain:
            node = self.cluster.by_address(address)
            node.chunks[cid] = data
            acks.append({"node": node.id, "checksum": checksum.of(data), "size": len(data)})
        return cbor({"acks": acks})

    async def get(self, request: web.Request) -> web.StreamResponse:
        cid = int(request.match_info["id"], 16)
        self.gets.append(cid)
        if cid not in self.chunks:
            return err(errors.ChunkNotFound(f"chunk {cid:016x}: not here"))
        data = self.chunks[cid]
        headers = {"X-Fahadfs-Checksum": str(checksum.of(data)), "X-Fahadfs-Generation": "0"}
        if cid in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return web.Response(body=data, headers=headers, content_type="application/octet-stream")


class FakeCluster:
    """Three fake masters (m1 leader unless told otherwise) and four fake nodes."""

    def __init__(self, n_masters: int = 1, n_nodes: int = 4) -> None:
        self.masters = [FakeMaster(self) for _ in range(n_masters)]
        self.nodes = [FakeNode(f"n{i + 1}", self) for i in range(n_nodes)]

    @property
    def leader(self) -> FakeMaster:
        return self.masters[0]

    def by_address(self, address: str) -> FakeNode:
        return next(n for n in self.nodes if n.address == address)

    def node(self, node_id: str) -> FakeNode:
        return next(n for n in self.nodes if n.id == node_id)

    async def start(self) -> None:
        for s in [*self.masters, *self.nodes]:
            await s.start()

    async def stop(self) -> None:
        for s in [*self.masters, *self.nodes]:
            await s.stop()

    def config(self, masters: list[str] | None = None, **cluster: Any) -> config.Config:
        return make_config(masters or [m.address for m in self.masters], **cluster)


def make_config(masters: list[str], **cluster: Any) -> config.Config:
    timeouts = cluster.pop("timeouts", {})
    raw = {
        "cluster": {"secret": "test-secret", "replication": 3, "chunk_size": 1 << 20, **cluster},
        "timeouts": timeouts,
        "master": [{"id": "m1", "host": "127.0.0.1", "raft_port": 1, "http_port": 2}],
    }
    return config.from_dict(raw).with_masters(masters)

"""The workload: concurrent clients doing namespace operations and file puts and gets.

Layout of the file system it uses:

    /once/w<k>-<n>      write-once files: put once, never touched again (durability)
    /ns/e<i>/d<j>/{f0,f1,f2,s0,s1}
                        a small namespace per directory where mkdir, rmdir, put, create+commit
                        ("touch"), mv, cp, rm, stat, get and ls race (linearizability);
                        mv and cp stay inside one directory, so directories are independent;
                        epoch i changes every ``epoch_seconds``, which keeps the history of
                        each directory short however long the run

Every operation is recorded as an invocation and an outcome (chaos.history). Every mutation
carries a request id made from the seed; when its outcome is unknown the same request is
sent again with the same id (and, now and then, a successful one too: a duplicate probe).
Contents are made from the seed, so their sha256 and chunk fingerprint are recorded before
they are sent. Every wait is bounded by the operation timeout.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chaos import content
from chaos.history import FAIL, INFO, OK, HistoryWriter
from fahadfs import errors
from fahadfs.client import Client
from fahadfs.config import Config

ONCE, NS = "/once", "/ns"
FILES, DIRS = ("f0", "f1", "f2"), ("s0", "s1")
NAMES = FILES + DIRS
RETRIES = 2  # extra sends of a mutation whose outcome is unknown
TOUCH_TTL_MS = 5000
MAX_OPS_PER_WORKER = 100_000

# Errors that are definite answers: the operation certainly did not take effect.
_DEFINITE = (
    errors.NamespaceError, errors.SessionError, errors.NoSpace, errors.IntegrityError,
    errors.ChunkNotFound, errors.Forbidden, errors.NotEnoughNodes, errors.ConfigError,
)  # fmt: skip


def outcome_of(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """(``fail`` or ``info``, error dict) for an exception raised by a client call."""
    code = getattr(exc, "code", None) or type(exc).__name__
    err = {"code": code, "message": str(exc)[:300]}
    if isinstance(exc, _DEFINITE):
        return FAIL, err
    return INFO, err


@dataclass
class WorkloadConfig:
    seed: int
    workers: int = 5
    dirs: int = 4
    chunk_size: int = 64 << 10
    op_timeout: float = 8.0
    max_chunks: int = 4
    duration: float = 30.0
    epoch_seconds: float = 30.0

    @property
    def epochs(self) -> int:
        return max(1, int(self.duration // self.epoch_seconds) + 1)

    def ns_dirs(self) -> list[str]:
        return [f"{NS}/e{i}/d{j}" for i in range(self.epochs) for j in range(self.dirs)]


@dataclass
class Shared:
    once: list[str] = field(default_factory=list)  # once-paths invoked so far
    ops: int = 0


class Worker:
    def __init__(self, wl: Workload, index: int, client: Client) -> None:
        self.wl = wl
        self.name = f"w{index}"
        self.client = client
        self.rng = random.Random(f"{wl.cfg.seed}:worker:{index}")
        self.n = 0

    # -- plumbing ----------------------------------------------------------------------------

    def _rid(self) -> str:
        self.n += 1
        return f"{self.wl.cfg.seed}-{self.name}-{self.n}-{self.rng.getrandbits(32):08x}"

    async def _bounded(self, coro: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(coro, self.wl.cfg.op_timeout + 2.0)

    async def read(self, f: str, path: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> str:
        h = self.wl.history
        op = h.invoke(self.name, f, path=path)
        try:
            value = await self._bounded(call())
        except Exception as exc:
            kind, err = outcome_of(exc)
            h.complete(op, self.name, f, kind, error=err)
            return kind
        h.complete(op, self.name, f, OK, value=value)
        return OK

    async def mutate(
        self,
        f: str,
        args: dict[str, Any],
        call: Callable[[str], Awaitable[dict[str, Any]]],
        probe: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """Run a mutation, resending it with the same request id while its outcome is unknown."""
        h, rid = self.wl.history, self._rid()
        kind, value = INFO, {}
        for attempt in range(1 + RETRIES):
            op = h.invoke(self.name, f, **args, rid=rid, attempt=attempt)
            try:
                value = dict(await self._bounded(call(rid)) or {})
            except Exception as exc:
                kind, err = outcome_of(exc)
                h.complete(op, self.name, f, kind, error=err)
                if kind == INFO and attempt < RETRIES:
                    await asyncio.sleep(0.3)
                    continue
                return kind, {}
            kind = OK
            h.complete(op, self.name, f, OK, value=_jsonable(value))
            break
        if kind == OK and probe and self.rng.random() < 0.15:
            await self._probe(f, args, call, rid)
        return kind, value

    async def _probe(self, f: str, args: dict[str, Any], call: Any, rid: str) -> None:
        """Send an acknowledged mutation again with its request id: it must not apply twice."""
        h = self.wl.history
        op = h.invoke(self.name, f, **args, rid=rid, attempt=RETRIES + 1, retry=True)
        try:
            value = dict(await self._bounded(call(rid)) or {})
        except Exception as exc:
            kind, err = outcome_of(exc)
            h.complete(op, self.name, f, kind, error=err)
            return
        h.complete(op, self.name, f, OK, value=_jsonable(value))

    def _content(self) -> bytes:
        cs, r = self.wl.cfg.chunk_size, self.rng.random()
        if r < 0.4:
            size = self.rng.randrange(0, 4096)
        elif r < 0.75:
            size = self.rng.randrange(4096, cs + 1)
        else:
            size = self.rng.randrange(cs + 1, cs * self.wl.cfg.max_chunks + 1)
        return content.make(f"{self.wl.cfg.seed}:{self.name}:{self.n}:{self.rng.random()}", size)

    # -- operations ----------------------------------------------------------------------------

    async def put(self, path: str, once: bool = False) -> None:
        data = self._content()
        args = {
            "path": path, "size": len(data), "sha256": content.sha256(data),
            "fp": content.fingerprint(data, self.wl.cfg.chunk_size), "once": once,
        }  # fmt: skip
        h = self.wl.history
        op = h.invoke(self.name, "put", **args)
        if once:
            self.wl.shared.once.append(path)
        try:
            res = await self._bounded(self.client.put(data, path, deadline=self.wl.cfg.op_timeout))
        except Exception as exc:
            kind, err = outcome_of(exc)
            h.complete(op, self.name, "put", kind, error=err)
            return
        h.complete(op, self.name, "put", OK, value={"version": res.version, "chunks": res.chunks})

    async def get(self, path: str) -> str:
        async def call() -> dict[str, Any]:
            data = await self.client.read_bytes(path, deadline=self.wl.cfg.op_timeout)
            return {"sha256": content.sha256(data), "size": len(data)}

        return await self.read("get", path, call)

    async def stat(self, path: str) -> None:
        async def call() -> dict[str, Any]:
            s = await self.client.stat(path, deadline=self.wl.cfg.op_timeout)
            if s.get("type") == "dir":
                return {"type": "dir"}
            return {
                "type": "file",
                "size": s.get("size"),
                "version": s.get("version"),
                "fp": content.stat_fingerprint(s),
            }

        await self.read("stat", path, call)

    async def ls(self, path: str) -> None:
        async def call() -> dict[str, Any]:
            rows = await self.client.ls(path, deadline=self.wl.cfg.op_timeout)
            return {"entries": [[e["name"], e["type"], e.get("size", 0)] for e in rows]}

        await self.read("ls", path, call)

    async def touch(self, path: str) -> None:
        """create (a write session with a fencing token) + commit of an empty file."""
        c, dl = self.client, self.wl.cfg.op_timeout
        lease = f"{self.name}-{self.rng.getrandbits(48):012x}"
        create_args = {
            "path": path,
            "holder": f"chaos-{self.name}",
            "lease_id": lease,
            "ttl_ms": TOUCH_TTL_MS,
        }
        kind, got = await self.mutate(
            "create",
            create_args,
            lambda rid: c.mutate("create", create_args, rid=rid, deadline=c.deadline_for(dl)),
        )
        if kind != OK:
            return
        token = got.get("token")
        body = {"path": path, "lease_id": lease, "token": token, "size": 0, "chunks": []}

        def commit(rid: str) -> Awaitable[Any]:
            return c.call(
                "POST", "/v1/commit", body={**body, "rid": rid}, deadline=c.deadline_for(dl)
            )

        kind, _ = await self.mutate("commit", body, commit)
        if kind != OK:
            rel = {"path": path, "lease_id": lease}
            await self.mutate(
                "release",
                rel,
                lambda rid: c.mutate("release", rel, rid=rid, deadline=c.deadline_for(dl)),
            )

    async def namespace_op(self) -> None:
        c, dl, r = self.client, self.wl.cfg.op_timeout, self.rng
        d = f"{NS}/e{self.wl.epoch()}/d{r.randrange(self.wl.cfg.dirs)}"
        kind = r.choices(
            ["mkdir", "rmdir", "put", "touch", "mv", "cp", "rm", "stat", "get", "ls"],
            weights=[6, 5, 12, 6, 8, 5, 7, 10, 6, 5],
        )[0]
        name = r.choice(DIRS if kind in ("mkdir", "rmdir") and r.random() < 0.9 else FILES)
        path = f"{d}/{name}"
        dlx = c.deadline_for(dl)
        if kind == "put":
            await self.put(path)
        elif kind == "touch":
            await self.touch(path)
        elif kind in ("stat", "get"):
            await (self.stat if kind == "stat" else self.get)(f"{d}/{r.choice(NAMES)}")
        elif kind == "ls":
            await self.ls(d)
        elif kind == "mkdir":
            await self.mutate(
                "mkdir", {"path": path}, lambda rid: c.mkdir(path, rid=rid, deadline=dl), probe=True
            )
        elif kind == "rmdir":
            await self.mutate(
                "rmdir", {"path": path}, lambda rid: c.rmdir(path, rid=rid, deadline=dl), probe=True
            )
        elif kind == "rm":
            await self.mutate(
                "rm", {"path": path}, lambda rid: c.rm(path, rid=rid, deadline=dl), probe=True
            )
        else:
            src, dst = f"{d}/{r.choice(NAMES if kind == 'mv' else FILES)}", f"{d}/{r.choice(NAMES)}"
            args = {"src": src, "dst": dst}
            if kind == "mv":
                await self.mutate(
                    "mv", args, lambda rid: c.mv(src, dst, rid=rid, deadline=dl), probe=True
                )
            else:
                await self.mutate(
                    "cp", args, lambda rid: c.mutate("cp", args, rid=rid, deadline=dlx), probe=True
                )

    async def step(self) -> None:
        r = self.rng.random()
        if r < 0.25:
            await self.put(f"{ONCE}/{self.name}-{self.n}", once=True)
            self.n += 1
        elif r < 0.35 and self.wl.shared.once:
            await self.get(self.rng.choice(self.wl.shared.once))
        else:
            await self.namespace_op()
        self.wl.shared.ops += 1

    async def run(self, stop: asyncio.Event) -> None:
        for _ in range(MAX_OPS_PER_WORKER):
            if stop.is_set():
                return
            await self.step()


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    if "garbage" in out:
        out["garbage"] = len(out["garbage"]) if isinstance(out["garbage"], list) else out["garbage"]
    return out


class Workload:
    def __init__(self, config: Config, history: HistoryWriter, cfg: WorkloadConfig) -> None:
        self.config = config
        self.history = history
        self.cfg = cfg
        self.shared = Shared()
        self.started: float | None = None

    def epoch(self) -> int:
        if self.started is None:
            return 0
        elapsed = asyncio.get_running_loop().time() - self.started
        return min(int(elapsed // self.cfg.epoch_seconds), self.cfg.epochs - 1)

    def client(self) -> Client:
        return Client(self.config, deadline=self.cfg.op_timeout)

    async def setup(self, timeout: float = 30.0) -> None:
        """Create /once and the /ns directories (before any fault); raises if it cannot."""
        async with self.client() as c:
            w = Worker(self, 0, c)
            w.name = "setup"
            epochs = [f"{NS}/e{i}" for i in range(self.cfg.epochs)]
            for path in [ONCE, NS, *epochs, *self.cfg.ns_dirs()]:
                for _ in range(int(timeout)):
                    kind, _ = await w.mutate(
                        "mkdir", {"path": path}, lambda rid, p=path: c.mkdir(p, rid=rid)
                    )
                    if kind == OK:
                        break
                    await asyncio.sleep(1.0)
                else:
                    raise RuntimeError(f"setup: could not create {path}")

    async def run(self, stop: asyncio.Event) -> None:
        self.started = asyncio.get_running_loop().time()
        clients = [self.client() for _ in range(self.cfg.workers)]
        try:
            for c in clients:
                await c.open()
            workers = [Worker(self, i, c) for i, c in enumerate(clients)]
            await asyncio.gather(*(w.run(stop) for w in workers))
        finally:
            for c in clients:
                await c.close()

    async def final_reads(self, parallel: int = 8) -> None:
        """Read back every write-once file and every namespace entry (process ``final``)."""
        async with self.client() as c:
            w = Worker(self, 0, c)
            w.name = "final"
            sem = asyncio.Semaphore(parallel)

            async def limited(coro: Awaitable[None]) -> None:
                async with sem:
                    await coro

            reads: list[Awaitable[None]] = [
                self._read_until_answered(w, path) for path in sorted(set(self.shared.once))
            ]
            for d in self.cfg.ns_dirs():
                reads.append(w.ls(d))
                for name in NAMES:
                    reads += [w.stat(f"{d}/{name}"), w.get(f"{d}/{name}")]
            await asyncio.gather(*(limited(r) for r in reads))

    async def _read_until_answered(self, w: Worker, path: str) -> None:
        for _ in range(3):
            if await w.get(path) != INFO:
                return
            await asyncio.sleep(1.0)

"""PySyncObj wiring: the replicated MetaState, durable journal flushing, and group commit.

Threading (see ../shared/notes/pysyncobj.md): PySyncObj's tick thread applies entries and fires
callbacks. The asyncio side never blocks on it: `GroupCommitter.submit` queues an op, a task
gathers concurrent ops into one Raft entry (`{"now", "ops"}`), and the entry's callback hands
the per-op results back with `loop.call_soon_threadsafe`. Reads of the state hold `RaftNode.lock`,
which the apply path also holds.

Durability: PySyncObj never fsyncs its journal. `_DurableSyncObj` msyncs the journal after every
tick that appended entries, and results of a committed entry are released to clients only after
that flush, so an acknowledged mutation is on the leader's disk and, within one tick (a few ms),
on every follower's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from fahadfs.config import Config, MasterConfig
from fahadfs.errors import FahadfsError, NoLeader, Unavailable
from fahadfs.meta_raft.state import MetaState

# Failures after which the entry was certainly not applied: safe to retry with a new proposal.
_NEVER_APPLIED = {
    FAIL_REASON.QUEUE_FULL,
    FAIL_REASON.MISSING_LEADER,
    FAIL_REASON.NOT_LEADER,
    FAIL_REASON.DISCARDED,
}


class _Snapshot:
    """Pickled by PySyncObj in its forked dump child: encodes the state with cbor2 there.

    ``__reduce__`` runs inside the child, so the tick thread never pays for encoding.
    """

    __slots__ = ("state",)

    def __init__(self, state: MetaState) -> None:
        self.state = state

    def __reduce__(self) -> tuple[Callable[[bytes], _Snapshot], tuple[bytes]]:
        return (_Snapshot.load, (self.state.snapshot(),))

    @staticmethod
    def load(blob: bytes) -> _Snapshot:
        return _Snapshot(MetaState.from_snapshot(blob))


class MetaConsumer(SyncObjConsumer):
    """The one replicated object: holds MetaState; `apply` is the only replicated entry point."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__()
        self.lock = lock
        self.state = MetaState()

    @replicated
    def apply(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        # MetaState.apply_entry never raises; a raise here would wedge every replica forever.
        try:
            with self.lock:
                return self.state.apply_entry(entry)
        except Exception as exc:  # pragma: no cover - belt and braces
            n = len(entry.get("ops", ())) if isinstance(entry, dict) else 0
            return [{"ok": False, "code": "EIO", "message": f"apply failed: {exc!r}"}] * n

    def _serialize(self) -> _Snapshot:  # type: ignore[override]
        return _Snapshot(self.state)

    def _deserialize(self, data: Any) -> None:
        state = data.state if isinstance(data, _Snapshot) else MetaState()
        with self.lock:
            self.state = state


class _DurableSyncObj(SyncObj):
    """SyncObj that msyncs its journal once per tick and then releases held-back results."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._released: list[Callable[[], None]] = []
        self._released_lock = threading.Lock()
        self.flushes = 0
        self.flush_seconds = 0.0
        super().__init__(*args, **kwargs)

    def hold_until_flushed(self, release: Callable[[], None]) -> None:
        """Run ``release`` (from the tick thread) after the journal flush of this tick."""
        with self._released_lock:
            self._released.append(release)

    def _onTick(self, timeToWait: float = 0.0) -> None:
        super()._onTick(timeToWait)
        journal = getattr(self, "_SyncObj__raftLog", None)
        with self._released_lock:
            pending, self._released = self._released, []
        flush = getattr(journal, "flush", None)
        if flush is not None and (pending or self._journal_grew(journal)):
            start = time.perf_counter()
            flush()
            self.flush_seconds += time.perf_counter() - start
            self.flushes += 1
        for release in pending:
            release()

    def _journal_grew(self, journal: Any) -> bool:
        size = len(journal)
        grew = size != getattr(self, "_last_flushed_len", None)
        self._last_flushed_len = size
        return grew


@dataclass(frozen=True)
class RaftTuning:
    """PySyncObj timeouts (tuned for ~1 s failover; see notes/pysyncobj.md)."""

    raft_min: float = 0.2
    raft_max: float = 0.5
    append_period: float = 0.05
    leader_fallback: float = 1.5
    connection_retry: float = 0.5
    compaction_entries: int = 200_000


def make_conf(data_dir: Path, secret: str, tuning: RaftTuning) -> SyncObjConf:
    data_dir.mkdir(parents=True, exist_ok=True)
    return SyncObjConf(
        journalFile=str(data_dir / "raft.journal"),
        fullDumpFile=str(data_dir / "raft.dump"),
        password=secret,
        raftMinTimeout=tuning.raft_min,
        raftMaxTimeout=tuning.raft_max,
        appendEntriesPeriod=tuning.append_period,
        appendEntriesUseBatch=False,
        autoTickPeriod=0.005,
        connectionTimeout=max(1.0, tuning.raft_max * 2),
        connectionRetryTime=tuning.connection_retry,
        leaderFallbackTimeout=tuning.leader_fallback,
        logCompactionMinEntries=tuning.compaction_entries,
        logCompactionMinTime=600,
        commandsWaitLeader=False,
        dynamicMembershipChange=False,
    )


class RaftNode:
    """One master's Raft replica. Build it in the main thread (the tick thread follows it)."""

    def __init__(self, me: MasterConfig, config: Config, data_dir: Path) -> None:
        t = config.timeouts
        tuning = RaftTuning(
            raft_min=t.raft_min,
            raft_max=t.raft_max,
            append_period=t.raft_append_period,
            leader_fallback=t.raft_leader_fallback,
            connection_retry=t.raft_connection_retry,
        )
        self.me = me
        self.config = config
        self.lock = threading.Lock()
        self.consumer = MetaConsumer(self.lock)
        self._peers = {m.raft_address: m for m in config.masters if m.id != me.id}
        self.syncobj = _DurableSyncObj(
            me.raft_address,
            sorted(self._peers),
            make_conf(data_dir, config.secret, tuning),
            consumers=[self.consumer],
        )

    @property
    def state(self) -> MetaState:
        return self.consumer.state

    def status(self) -> dict[str, Any]:
        s = self.syncobj.getStatus()
        leader = s.get("leader")
        leader_addr = str(leader) if leader is not None else None
        peers = []
        for addr, m in sorted(self._peers.items()):
            peers.append(
                {
                    "id": m.id,
                    "address": addr,
                    "connected": bool(s.get(f"partner_node_status_server_{addr}", 0)),
                    "match_index": s.get(f"match_idx_server_{addr}"),
                }
            )
        return {
            "id": self.me.id,
            "role": {0: "follower", 1: "candidate", 2: "leader"}.get(s["state"], "unknown"),
            "term": s["raft_term"],
            "leader": self.master_id(leader_addr),
            "commit_index": s["commit_idx"],
            "last_applied": s["last_applied"],
            "log_len": s["log_len"],
            "has_quorum": bool(s["has_quorum"]),
            "peers": peers,
            "journal_flushes": self.syncobj.flushes,
            "journal_flush_seconds": round(self.syncobj.flush_seconds, 6),
        }

    def master_id(self, raft_address: str | None) -> str | None:
        if raft_address is None:
            return None
        if raft_address == self.me.raft_address:
            return self.me.id
        m = self._peers.get(raft_address)
        return m.id if m else None

    def leader(self) -> MasterConfig | None:
        leader = self.syncobj._getLeader()
        if leader is None:
            return None
        addr = str(leader)
        return self.me if addr == self.me.raft_address else self._peers.get(addr)

    def is_leader(self) -> bool:
        return bool(self.syncobj._isLeader())

    def is_ready(self) -> bool:
        return bool(self.syncobj.isReady())

    def propose(self, entry: dict[str, Any], done: Callable[[Any, int | None], None]) -> None:
        """Propose one entry; ``done(results, err)`` runs in the tick thread after the flush."""

        def callback(result: Any, err: int) -> None:
            if err == FAIL_REASON.SUCCESS:
                self.syncobj.hold_until_flushed(lambda: done(result, None))
            else:
                done(None, err)

        self.consumer.apply(entry, callback=callback)

    def destroy(self) -> None:
        self.syncobj.destroy_synchronous()


def raft_failure(err: int) -> FahadfsError:
    """Turn a PySyncObj FAIL_REASON into a retryable error (never applied, or unknown)."""
    if err in _NEVER_APPLIED:
        return NoLeader(f"not committed: raft {_reason(err)}; retry", applied=False)
    return Unavailable(f"outcome unknown: raft {_reason(err)}; retry with the same request id")


def _reason(err: int) -> str:
    for name in dir(FAIL_REASON):
        if not name.startswith("_") and getattr(FAIL_REASON, name) == err:
            return name.lower()
    return str(err)


class GroupCommitter:
    """Gathers concurrent ops for a moment and proposes them as one Raft entry.

    Up to ``max_inflight`` entries are pipelined; each op's future gets its own result.
    """

    def __init__(
        self,
        raft: RaftNode,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        window: float = 0.001,
        max_batch: int = 512,
        max_inflight: int = 8,
    ) -> None:
        self.raft = raft
        self.clock_ms = clock_ms
        self.window = window
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = (
            asyncio.Queue()
        )
        self._slots = asyncio.Semaphore(max_inflight)
        self._task: asyncio.Task[None] | None = None
        self.entries = 0
        self.ops = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(NoLeader("master shutting down", applied=False))

    async def submit(self, op: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Propose ``op`` and wait for its result dict (``{"ok": ...}``)."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, fut))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise Unavailable(
                f"no commit within {timeout:.1f}s; outcome unknown, retry with the same request id"
            ) from None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            await self._slots.acquire()
            if self.window:
                await asyncio.sleep(self.window)
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._propose(loop, batch)

    def _propose(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]],
    ) -> None:
        entry = {"now": self.clock_ms(), "ops": [op for op, _ in batch]}
        futures = [fut for _, fut in batch]
        self.entries += 1
        self.ops += len(batch)

        def resolve(results: Any, err: int | None) -> None:
            self._slots.release()
            for i, fut in enumerate(futures):
                if fut.done():
                    continue
                if err is not None:
                    fut.set_exception(raft_failure(err))
                elif not isinstance(results, list) or i >= len(results):
                    fut.set_exception(Unavailable("malformed apply result"))
                else:
                    fut.set_result(results[i])

        def done(results: Any, err: int | None) -> None:
            loop.call_soon_threadsafe(resolve, results, err)

        try:
            self.raft.propose(entry, done)
        except Exception as exc:  # the library refused synchronously
            self._slots.release()
            for fut in futures:
                if not fut.done():
                    fut.set_exception(NoLeader(f"proposal refused: {exc!r}", applied=False))

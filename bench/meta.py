"""`python -m bench.meta [--json]`: the metadata master against raw baselines, in one run.

(1) raw PySyncObj pipelined entries/s (3 replicas in one process, trivial state, no HTTP);
(2) raw aiohttp requests/s to a handler that does nothing (64 concurrent clients);
(3) fahadfs mutations/s through the master API (mkdir and one-op create+commit of empty files);
(4) ratio (3)/(2); (5) leader failover SIGKILL -> first commit, median and max of 5 trials;
(6) resident bytes per file, (7) snapshot dump and (8) restore of a 1M-file namespace through the
same PySyncObj serializer path a restarting master uses.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import _load
from fahadfs.localcluster import ClusterSpec, LocalCluster, free_ports


def raw_pysyncobj(entries: int = 20000) -> float:
    """Committed entries/s for a trivial 3-node SyncObj in this process, 20k in flight."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_raw_pysyncobj_child, args=(q, entries))
    p.start()
    rate = q.get(timeout=300)
    p.join(30)
    return rate


def _raw_pysyncobj_child(q: Any, entries: int) -> None:
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Counter(SyncObj):
        def __init__(self, me: str, others: list[str]) -> None:
            super().__init__(
                me,
                others,
                SyncObjConf(raftMinTimeout=0.2, raftMaxTimeout=0.5, appendEntriesPeriod=0.05),
            )
            self.value = 0

        @replicated
        def incr(self) -> int:
            self.value += 1
            return self.value

    ports = free_ports(3)
    addrs = [f"127.0.0.1:{p}" for p in ports]
    nodes = [Counter(a, [o for o in addrs if o != a]) for a in addrs]
    while not any(n._isLeader() for n in nodes):
        time.sleep(0.05)
    leader = next(n for n in nodes if n._isLeader())
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def cb(result: Any, err: Any) -> None:
        with lock:
            count[0] += 1
            if count[0] == entries:
                done.set()

    start = time.perf_counter()
    for _ in range(entries):
        leader.incr(callback=cb)
    done.wait(120)
    elapsed = time.perf_counter() - start
    for n in nodes:
        n.destroy()
    q.put(count[0] / elapsed)


def raw_http(duration: float) -> float:
    port = free_ports(1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "bench._trivial", str(port), tmp])
        try:
            _wait_port(port)
            return _load.measure([f"http://127.0.0.1:{port}/noop"], "noop", 64, duration)[
                "ops_per_s"
            ]
        finally:
            proc.terminate()
            proc.wait(10)


def _wait_port(port: int, timeout: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} never opened")


def fahadfs_ops(cluster: LocalCluster, duration: float) -> dict[str, float]:
    from fahadfs.rawhttp import call

    leader = cluster.http(cluster.leader_id())
    run = uuid.uuid4().hex[:8]
    call(leader, "/v1/meta/mkdir", {"path": f"/bench-{run}", "rid": uuid.uuid4().hex})
    mkdir = _load.measure([f"{leader}/v1/meta/mkdir"], "mkdir", 64, duration, run=run)
    commit = _load.measure([f"{leader}/v1/commit"], "commit_empty", 64, duration, run=run)
    return {
        "mkdir_ops_per_s": mkdir["ops_per_s"],
        "create_commit_ops_per_s": commit["ops_per_s"],
        "errors": mkdir["errors"] + commit["errors"],
    }


def failover(cluster: LocalCluster, trials: int) -> list[float]:
    """SIGKILL the leader; time until a mutation commits on the new one. Restart between trials."""
    from fahadfs.rawhttp import call

    times = []
    for _ in range(trials):
        old = cluster.leader_id()
        time.sleep(2.0)  # steady state: the follower-follower link is up
        others = [m.id for m in cluster.config.masters if m.id != old]
        t0 = time.monotonic()
        cluster.kill(old)
        committed = None
        while committed is None and time.monotonic() - t0 < 30:
            for mid in others:
                try:
                    status, _, _ = call(
                        cluster.http(mid),
                        "/v1/meta/mkdir",
                        {"path": f"/fo-{uuid.uuid4().hex}"},
                        timeout=1.0,
                    )
                except OSError:
                    continue
                if status == 200:
                    committed = time.monotonic() - t0
                    break
            time.sleep(0.01)
        times.append(committed if committed is not None else float("inf"))
        cluster.start_master(old)
        cluster.wait_ready(node_ids=[])
    return times


def namespace_memory(files: int = 1_000_000, dirs: int = 10_000) -> dict[str, float]:
    """Build files (1 chunk, 3 replicas) in dirs; RSS per file; dump/restore via PySyncObj."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_namespace_child, args=(q, files, dirs))
    p.start()
    result = q.get(timeout=1800)
    p.join(60)
    return result


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _namespace_child(q: Any, files: int, dirs: int) -> None:
    from pysyncobj.serializer import Serializer

    from fahadfs.meta_raft.raft import MetaConsumer
    from fahadfs.meta_raft.state import MetaState

    gc.collect()
    base = _rss()
    state = MetaState()
    now = 1_700_000_000_000
    state.apply_entry(
        {
            "now": now,
            "ops": [
                {
                    "op": "node_register",
                    "node_id": f"n{i}",
                    "address": f"h:{i}",
                    "capacity": 1 << 40,
                }
                for i in range(5)
            ],
        }
    )
    per_dir = files // dirs
    chunk = 1
    for d in range(dirs):
        ops: list[dict[str, Any]] = [{"op": "mkdir", "path": f"/d{d:05d}"}]
        for f in range(per_dir):
            reps = [f"n{(chunk + j) % 5}" for j in range(3)]
            ops.append(
                {
                    "op": "commit",
                    "path": f"/d{d:05d}/f{f:04d}",
                    "lease_id": None,
                    "token": None,
                    "size": 4096,
                    "replication": 3,
                    "mtime": now,
                    "chunks": [[chunk, 4096, chunk * 2654435761 % (1 << 32), reps]],
                }
            )
            chunk += 1
        results = state.apply_entry({"now": now, "ops": ops})
        assert all(r["ok"] for r in results), results[:2]
    gc.collect()
    used = _rss() - base
    counts = state.counts()

    import threading as _t

    consumer = MetaConsumer(_t.Lock())
    consumer.state = state
    with tempfile.TemporaryDirectory() as tmp:
        ser = Serializer(str(Path(tmp) / "dump"), 2**16, False, None, None, None)
        t0 = time.perf_counter()
        ser.serialize(([{}, consumer._serialize()], ("x", 1, 1), ("x", 2, 1), set()), 2)
        dump_s = time.perf_counter() - t0
        size = (Path(tmp) / "dump").stat().st_size
        del consumer, state
        gc.collect()
        other = MetaConsumer(_t.Lock())
        t0 = time.perf_counter()
        data = ser.deserialize()
        other._deserialize(data[0][1])
        load_s = time.perf_counter() - t0
        assert other.state.counts() == counts
    q.put(
        {
            "bytes_per_file": used / files,
            "snapshot_dump_s": dump_s,
            "snapshot_load_s": load_s,
            "snapshot_bytes": size,
            "files": counts["files"],
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.meta", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    ap.add_argument("--files", type=int, default=1_000_000, help="namespace size for (6)-(8)")
    ap.add_argument("--trials", type=int, default=5, help="failover trials")
    args = ap.parse_args(argv)

    out: dict[str, Any] = {}
    out["raw_pysyncobj_ops_per_s"] = raw_pysyncobj()
    out["raw_http_ops_per_s"] = raw_http(args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp) / "c", ClusterSpec(nodes=0))
        try:
            cluster.start(nodes=False)
            ops = fahadfs_ops(cluster, args.duration)
            out["fahadfs_ops_per_s"] = min(ops["mkdir_ops_per_s"], ops["create_commit_ops_per_s"])
            out.update(ops)
            leader = cluster.status(cluster.leader_id())
            out["journal_flushes"] = leader["journal_flushes"]
            out["journal_flush_seconds"] = leader["journal_flush_seconds"]
            out["ops_per_raft_entry"] = leader["group_commit"]["ops"] / max(
                1, leader["group_commit"]["entries"]
            )
            fo = failover(cluster, args.trials)
        finally:
            cluster.stop()
    out["ratio"] = out["fahadfs_ops_per_s"] / out["raw_http_ops_per_s"]
    out["failover_median_s"] = statistics.median(fo)
    out["failover_max_s"] = max(fo)
    out["failover_trials_s"] = fo
    out.update(namespace_memory(args.files, max(1, args.files // 100)))
    if args.json:
        print(json.dumps(out))
    else:
        _table(out)
    return 0


def _table(out: dict[str, Any]) -> None:
    rows = [
        ("(1) raw PySyncObj entries/s (pipelined)", f"{out['raw_pysyncobj_ops_per_s']:,.0f}"),
        ("(2) raw aiohttp requests/s (64 clients)", f"{out['raw_http_ops_per_s']:,.0f}"),
        ("(3) fahadfs mkdir/s", f"{out['mkdir_ops_per_s']:,.0f}"),
        ("(3) fahadfs create+commit/s", f"{out['create_commit_ops_per_s']:,.0f}"),
        ("(4) ratio (3)/(2)", f"{out['ratio']:.2f}  (target >= 0.5)"),
        ("    ops per Raft entry (group commit)", f"{out['ops_per_raft_entry']:.1f}"),
        (
            "    journal msyncs / seconds in msync",
            f"{out['journal_flushes']} / {out['journal_flush_seconds']:.3f}",
        ),
        (
            "(5) failover median / max s",
            f"{out['failover_median_s']:.2f} / {out['failover_max_s']:.2f}  (<= 1.0 / 2.0)",
        ),
        ("(6) resident bytes per file", f"{out['bytes_per_file']:.0f}  (target <= 350)"),
        ("(7) snapshot dump s", f"{out['snapshot_dump_s']:.2f}"),
        ("(8) snapshot restore s", f"{out['snapshot_load_s']:.2f}  (target <= 5)"),
    ]
    for name, value in rows:
        print(f"{name:<42} {value}")


if __name__ == "__main__":
    raise SystemExit(main())

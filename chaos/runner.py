"""One chaos run: cluster up, workload + nemesis on the schedule, heal, quiesce, final reads,
checks, summary. Everything started is stopped and everything created is removed, whatever
happens (try/finally here, atexit in chaos.cluster / chaos.netfilter / chaos.netns).

Run directory layout:

    schedule.json     the schedule (written before anything starts; --replay takes it)
    history.jsonl     every invocation, outcome, fault and monitor sample
    results.jsonl     one line per checker, then the summary line
    cluster.toml, data/<id>/<id>.log|.out   the processes' config and logs
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import cluster as cluster_mod
from chaos import history, nemesis, probe, schedule
from chaos.checkers import (
    CheckResult,
    duplicates,
    durability,
    linearizable,
    recovery,
    replicas,
    sessions,
)
from chaos.history import HistoryWriter
from chaos.report import Summary, longest_stall, summarize, verdict
from chaos.workload import RETRIES, Workload, WorkloadConfig

MONITOR_INTERVAL = 1.0


@dataclass
class RunConfig:
    out: Path = Path("chaos-runs")
    hosts: str = "loopback"
    restore_bound: float = 30.0
    quiesce_timeout: float = 60.0
    op_timeout: float = 8.0
    chunk_size: int = 64 << 10
    env: dict[str, str] = field(default_factory=dict)
    keep_data: bool = False


class Monitor:
    """Samples redundancy (chunks short of copies on nodes that are up) during the run."""

    def __init__(self, ctx: nemesis.Ctx, hist: HistoryWriter) -> None:
        self.ctx = ctx
        self.hist = hist
        self._force = asyncio.Event()
        self.probe = probe.Redundancy(ctx.cluster)

    def force(self) -> None:
        self._force.set()

    async def run(self, stop: asyncio.Event) -> None:
        import aiohttp

        last: Any = None
        async with aiohttp.ClientSession() as session:
            for _ in range(1_000_000):
                if stop.is_set():
                    return
                forced = self._force.is_set()
                self._force.clear()
                since, down = self.hist.now(), set(self.ctx.down)
                sample = await self._sample(session, down)
                if sample is not None and (forced or (sample[0], sorted(down)) != last):
                    last = (sample[0], sorted(down))
                    self.hist.monitor(
                        {"f": "redundancy", "under": sample[0], "chunks": sample[1],
                         "down": sorted(down), "since": since}
                    )  # fmt: skip
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._force.wait(), MONITOR_INTERVAL)

    async def _sample(self, session: Any, down: set[str]) -> tuple[int, int] | None:
        try:
            base = await probe.leader_url(session, self.ctx.cluster)
            if base is None:
                return None
            return await asyncio.wait_for(self.probe.sample(session, base, down), 20.0)
        except Exception:
            return None


async def _nemesis(
    sched: schedule.Schedule, ctx: nemesis.Ctx, hist: HistoryWriter, monitor: Monitor
) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for a in sched.actions:
        delay = a.at - (loop.time() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        event = await asyncio.to_thread(nemesis.run, ctx, a.action, dict(a.args))
        hist.nemesis({**event, "at": a.at, "args": a.args})
        monitor.force()


async def _converge(ctx: nemesis.Ctx, timeout: float) -> dict[str, Any] | None:
    """Wait (bounded) until the replica check passes; returns the last snapshot taken."""
    deadline = time.monotonic() + timeout
    snap = None
    for _ in range(10_000):
        try:
            snap = await probe.snapshot(ctx.cluster)
            if replicas.check_snapshot(snap, ctx.cluster.config.replication).ok:
                return snap
        except Exception:
            pass
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)
    return snap


async def _drive(
    sched: schedule.Schedule, ctx: nemesis.Ctx, hist: HistoryWriter, rc: RunConfig
) -> dict[str, Any] | None:
    cfg = WorkloadConfig(
        seed=sched.seed, workers=sched.workers, chunk_size=rc.chunk_size, op_timeout=rc.op_timeout,
        duration=sched.duration,
    )  # fmt: skip
    wl = Workload(ctx.cluster.config, hist, cfg)
    _log_loop_errors(ctx.cluster.root / "harness.log")
    await wl.setup()
    stop, stop_monitor = asyncio.Event(), asyncio.Event()
    monitor = Monitor(ctx, hist)
    mon_task = asyncio.create_task(monitor.run(stop_monitor))
    nem_task = asyncio.create_task(_nemesis(sched, ctx, hist, monitor))
    wl_task = asyncio.create_task(wl.run(stop))
    try:
        await asyncio.sleep(sched.duration)
        stop.set()
        await asyncio.wait_for(wl_task, (rc.op_timeout + 3) * (RETRIES + 2) + 10)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(nem_task), 60)
        for event in await asyncio.to_thread(nemesis.heal_all, ctx):
            hist.nemesis({**event, "phase": "heal"})
        monitor.force()
        await asyncio.to_thread(ctx.cluster.local.wait_ready, 90.0)
        await _converge(ctx, rc.quiesce_timeout)
        await wl.final_reads()
        return await probe.snapshot(ctx.cluster)
    finally:
        stop.set()
        stop_monitor.set()
        for task in (wl_task, nem_task, mon_task):
            task.cancel()
        await asyncio.gather(wl_task, nem_task, mon_task, return_exceptions=True)


def _log_loop_errors(path: Path) -> None:
    """Unhandled errors of background tasks (e.g. the client's) go to harness.log, not stdout."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        with open(path, "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {context.get('message')}: {exc!r}\n")

    asyncio.get_running_loop().set_exception_handler(handler)


def cluster_options(sched: schedule.Schedule, rc: RunConfig) -> cluster_mod.Options:
    root = os.geteuid() == 0
    needs = sched.needs
    return cluster_mod.Options(
        hosts=rc.hosts,
        gids=root,
        tmpfs_nodes=list(needs.get("tmpfs_nodes", [])) if root else [],
        faketime=list(needs.get("faketime", [])) if cluster_mod.faketime_lib() else [],
        env=dict(rc.env),
    )


def check(
    events: list[dict[str, Any]], snap: dict[str, Any] | None, rc: RunConfig, k: int = 3
) -> list[CheckResult]:
    """Every checker over a finished run (pure)."""
    ops = history.ops(events)
    results = [
        durability.check_history(ops),
        linearizable.check_history(ops),
        duplicates.check_history(ops),
        sessions.check_history(ops),
        recovery.check_events(events, rc.restore_bound),
    ]
    if snap is None:
        results.append(CheckResult("replicas", False, [{"kind": "no snapshot after healing"}]))
    else:
        results.append(replicas.check_snapshot(snap, k))
    return results


def _run_dir(rc: RunConfig, sched: schedule.Schedule) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{sched.scenario.replace('+', '_')}-s{sched.seed}-{stamp}-{secrets.token_hex(2)}"
    d = rc.out / name
    d.mkdir(parents=True, exist_ok=False)
    return d


def run(sched: schedule.Schedule, rc: RunConfig) -> Summary:
    run_dir = _run_dir(rc, sched)
    schedule.save(sched, run_dir / "schedule.json")
    hist = HistoryWriter(run_dir / "history.jsonl")
    errors: list[str] = []
    snap = None
    cluster = None
    ctx = None
    try:
        cluster = cluster_mod.ChaosCluster(
            run_dir, cluster_mod.spec(rc.chunk_size), cluster_options(sched, rc)
        )
        ctx = nemesis.Ctx(cluster, run_tag=secrets.token_hex(3))
        entered = cluster.topology.entered() if cluster.topology else contextlib.nullcontext()
        with entered:
            cluster.start_all(timeout=90.0)
            snap = asyncio.run(_drive(sched, ctx, hist, rc))
    except Exception as exc:
        errors.append(f"harness error: {exc!r}"[:500])
        (run_dir / "error.txt").write_text(traceback.format_exc())
    finally:
        if ctx is not None and ctx.firewall is not None:
            ctx.firewall.destroy()
        if cluster is not None:
            cluster.stop()
        hist.close()
    k = cluster.config.replication if cluster else 3
    results = check(hist.events, snap, rc, k)
    errors += [
        f"fault action {e['f']} failed: {e.get('error', '')}"[:300]
        for e in history.of_type(hist.events, "nemesis")
        if e.get("status") == "fail"
    ]
    skipped = sorted(
        {
            f"{e['f']} ({e.get('reason', '')})"
            for e in history.of_type(hist.events, "nemesis")
            if e.get("status") == "skip"
        }
    )
    counts = history.counts(hist.events)
    summary = Summary(
        scenario=sched.scenario,
        seed=sched.seed,
        ops=counts["ops"],
        ok=counts["ok"],
        fail=counts["fail"],
        info=counts["info"],
        run_dir=str(run_dir),
    )
    summarize(summary, results)
    summary.stall = longest_stall(hist.events)
    summary.result, summary.reasons = verdict(results, skipped, errors)
    with open(run_dir / "results.jsonl", "w") as fh:
        for r in results:
            fh.write(json.dumps(r.to_json(), default=str) + "\n")
        fh.write(json.dumps(summary.to_json(), default=str) + "\n")
    if not rc.keep_data:
        _drop_chunk_data(run_dir)
    return summary


def _drop_chunk_data(run_dir: Path) -> None:
    """Remove chunk blobs (large) but keep logs, history and results."""
    for d in (run_dir / "data").glob("*/"):
        for sub in ("chunks", "quarantine", "disk"):
            shutil.rmtree(d / sub, ignore_errors=True)

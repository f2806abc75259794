"""`python -m bench.heal [--json]`: how fast fahadfs restores k=3, against a raw copy, in one run.

Raw: one aiohttp stream from one disk-backed server to another (GET piped into a fsynced PUT)
of a 256 MiB blob. fahadfs: 5 file nodes each holding ~`--gib` of chunks (64 MiB), SIGKILL one,
time until every chunk has 3 live copies again. repair_MiBps counts the bytes the healer copied
over the span from its first repair to its last; restore_seconds runs from the kill (so it
includes the dead-node timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.meta import _wait_port
from fahadfs.client import Client
from fahadfs.localcluster import ClusterSpec, LocalCluster, free_ports
from fahadfs.rawhttp import call

MiB = 1 << 20


async def _pipe(src_port: int, dst_port: int, size: int) -> float:
    async with aiohttp.ClientSession() as s:
        block = os.urandom(MiB)

        async def gen() -> Any:
            for _ in range(size // MiB):
                yield block

        async with s.put(f"http://127.0.0.1:{src_port}/blob/x", data=gen()) as r:
            await r.read()
        t0 = time.perf_counter()
        async with s.get(f"http://127.0.0.1:{src_port}/blob/x") as src:

            async def body() -> Any:
                async for piece in src.content.iter_chunked(MiB):
                    yield piece

            async with s.put(f"http://127.0.0.1:{dst_port}/blob/x", data=body()) as r:
                await r.read()
        return size / MiB / (time.perf_counter() - t0)


def raw_copy(size: int, workdir: Path) -> float:
    ports = free_ports(2)
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench._trivial", str(p), str(workdir / f"s{p}")])
        for p in ports
    ]
    try:
        for p in ports:
            _wait_port(p)
        return asyncio.run(_pipe(ports[0], ports[1], size))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def _events(c: LocalCluster, master: str) -> list[dict[str, Any]]:
    out = []
    for line in (c.config.process_dir(master) / f"{master}.log").read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def fahadfs_restore(gib: float, workdir: Path) -> dict[str, float]:
    per_file = 256 * MiB
    files = max(1, round(gib * (1 << 30) * 5 / 3 / per_file))
    spec = ClusterSpec(nodes=5, chunk_size=64 * MiB, node_capacity=64 << 30, dead_node=2.0)
    c = LocalCluster(workdir / "c", spec)
    try:
        c.start()
        src = workdir / "f.bin"
        with open(src, "wb") as fh:
            block = os.urandom(MiB)
            for _ in range(per_file // MiB):
                fh.write(block)

        async def load() -> None:
            async with Client(c.config) as cl:
                for i in range(files):
                    await cl.put(src, f"/heal/f{i}")

        asyncio.run(_mkdir_and(c, load))
        leader = c.leader_id()
        base = c.http(leader)
        _, _, nodes = call(base, "/v1/nodes")
        victim = max(nodes["nodes"], key=lambda n: n["chunks"])
        t0 = time.time()
        c.kill(victim["id"])
        deadline = time.monotonic() + 900
        seen_under = False
        while time.monotonic() < deadline:
            _, _, h = call(base, "/v1/health")
            busy = h["safemode"] or h["under_replicated_chunks"] or h["repairs_running"]
            seen_under = seen_under or bool(h["under_replicated_chunks"])
            if seen_under and not busy:
                break
            time.sleep(0.1)
        restore = time.time() - t0
        events = _events(c, leader)
        starts = [_ts(e) for e in events if e.get("event") == "repair.start" and _ts(e) >= t0]
        ends = [_ts(e) for e in events if e.get("event") == "replica.repaired" and _ts(e) >= t0]
        _, _, h = call(base, "/v1/health")
        span = max(ends) - min(starts) if starts and ends else float("nan")
        return {
            "restore_seconds": restore,
            "repaired_bytes": h["repair_bytes"],
            "repair_MiBps": h["repair_bytes"] / MiB / span,
            "victim_bytes": victim["used_bytes"],
        }
    finally:
        c.stop()


async def _mkdir_and(c: LocalCluster, then: Any) -> None:
    async with Client(c.config) as cl:
        await cl.mkdir("/heal", parents=True)
    await then()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.heal", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--gib", type=float, default=1.0, help="GiB of chunks on the killed node")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fahadfs-heal-", dir=Path.cwd()) as tmp:
        out: dict[str, Any] = {"raw_copy_MiBps": raw_copy(256 * MiB, Path(tmp))}
        out.update(fahadfs_restore(args.gib, Path(tmp)))
    out["ratio"] = out["repair_MiBps"] / out["raw_copy_MiBps"]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'raw node-to-node copy (MiB/s)':<40} {out['raw_copy_MiBps']:>10.1f}")
        print(f"{'fahadfs repair (MiB/s)':<40} {out['repair_MiBps']:>10.1f}")
        print(f"{'ratio (target >= 0.5)':<40} {out['ratio']:>10.2f}")
        print(f"{'restore k=3 after kill (s)':<40} {out['restore_seconds']:>10.1f}")
        print(f"{'bytes repaired (MiB)':<40} {out['repaired_bytes'] / MiB:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

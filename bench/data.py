"""`python -m bench.data [--json]`: the data path against raw aiohttp, in one run.

Raw: one-stream PUT (written and fsynced) and GET of a 256 MiB body to a trivial aiohttp
server, and 4 KiB PUTs at 16 concurrent clients. fahadfs: put and get of a 256 MiB file with
k=3 on a local cluster, and 4 KiB-file puts/s at 16 concurrent clients. On one machine k=3
writes every byte three times to the same disk, so put_ratio = put / (raw_put / 3).
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
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import _load
from bench.meta import _wait_port
from fahadfs.client import Client
from fahadfs.localcluster import ClusterSpec, LocalCluster, free_ports

MiB = 1 << 20


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        for _ in range(size // MiB):
            fh.write(block)


async def _raw_stream(port: int, src: Path, size: int) -> tuple[float, float]:
    url = f"http://127.0.0.1:{port}/blob/big"

    async def body() -> Any:
        with open(src, "rb") as fh:
            while piece := fh.read(MiB):
                yield piece

    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        async with s.put(url, data=body(), headers={"Content-Length": str(size)}) as r:
            await r.read()
        put_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            async with s.get(url) as r:
                async for piece in r.content.iter_chunked(MiB):
                    sink.write(piece)
        get_s = time.perf_counter() - t0
    return size / MiB / put_s, size / MiB / get_s


def raw(src: Path, size: int, duration: float) -> dict[str, float]:
    port = free_ports(1)[0]
    with tempfile.TemporaryDirectory(dir=src.parent) as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "bench._trivial", str(port), tmp])
        try:
            _wait_port(port)
            put, get = asyncio.run(_raw_stream(port, src, size))
            small = _load.measure(
                [f"http://127.0.0.1:{port}/blob"], "put4k", 16, duration, run=uuid.uuid4().hex[:6]
            )
        finally:
            proc.terminate()
            proc.wait(10)
    return {"raw_put_MiBps": put, "raw_get_MiBps": get, "raw_small_put_per_s": small["ops_per_s"]}


async def _fahadfs(
    cluster: LocalCluster, src: Path, size: int, duration: float
) -> dict[str, float]:
    async with Client(cluster.config) as c:
        await c.mkdir("/bench", parents=True)
        t0 = time.perf_counter()
        await c.put(src, "/bench/big.bin", parallel=4)
        put_s = time.perf_counter() - t0
        dst = src.parent / "fetched.bin"
        t0 = time.perf_counter()
        await c.get("/bench/big.bin", dst, parallel=4)
        get_s = time.perf_counter() - t0
        dst.unlink()
        await c.mkdir("/small", parents=True)
        payload = os.urandom(4096)
        stop = time.perf_counter() + duration
        done = 0

        async def worker(w: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < stop:
                await c.put(payload, f"/small/{w}-{i}")
                done += 1
                i += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(16)))
        small = done / (time.perf_counter() - t0)
    return {
        "put_MiBps": size / MiB / put_s,
        "get_MiBps": size / MiB / get_s,
        "small_put_per_s": small,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--size-mib", type=int, default=256, help="large file size")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of small-file load")
    args = ap.parse_args(argv)
    size = args.size_mib * MiB
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fahadfs-bench-", dir=Path.cwd()) as tmp:
        src = Path(tmp) / "big.bin"
        _make_file(src, size)
        out.update(raw(src, size, args.duration))
        cluster = LocalCluster(
            Path(tmp) / "c", ClusterSpec(nodes=4, chunk_size=64 * MiB, node_capacity=64 << 30)
        )
        try:
            cluster.start()
            out.update(asyncio.run(_fahadfs(cluster, src, size, args.duration)))
        finally:
            cluster.stop()
    out["put_ratio"] = out["put_MiBps"] / (out["raw_put_MiBps"] / 3)
    out["get_ratio"] = out["get_MiBps"] / out["raw_get_MiBps"]
    out["small_ratio"] = out["small_put_per_s"] / out["raw_small_put_per_s"]
    if args.json:
        print(json.dumps(out))
    else:
        rows = [
            ("raw PUT 1 stream, fsynced (MiB/s)", out["raw_put_MiBps"]),
            ("fahadfs put k=3 (MiB/s)", out["put_MiBps"]),
            ("put_ratio vs raw/3 (target >= 0.7)", out["put_ratio"]),
            ("raw GET 1 stream (MiB/s)", out["raw_get_MiBps"]),
            ("fahadfs get (MiB/s)", out["get_MiBps"]),
            ("get_ratio (target >= 0.8)", out["get_ratio"]),
            ("raw 4 KiB PUT/s, 16 clients", out["raw_small_put_per_s"]),
            ("fahadfs 4 KiB put/s, 16 clients", out["small_put_per_s"]),
            ("small_ratio (target >= 0.5)", out["small_ratio"]),
        ]
        for name, value in rows:
            print(f"{name:<40} {value:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

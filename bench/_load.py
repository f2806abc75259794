"""The one HTTP load generator every benchmark uses, run in its own process.

`measure(...)` starts a child process with `concurrency` asyncio workers on one aiohttp
session; each worker POSTs CBOR bodies for `duration` seconds (bounded also by `max_requests`)
and the child reports completed requests per second. Bodies are made by a named factory so the
child can build them without pickling closures.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
import uuid
from typing import Any

import aiohttp
import cbor2

SMALL = b"x" * 4096


def _request(kind: str, url: str, worker: int, i: int, run: str) -> tuple[str, str, bytes]:
    """(method, url, body) of request ``i`` of ``worker``."""
    if kind == "put4k":
        return "PUT", f"{url}/{run}-{worker}-{i}", SMALL
    return "POST", url, cbor2.dumps(_body(kind, worker, i, run))


def _body(kind: str, worker: int, i: int, run: str) -> dict[str, Any]:
    if kind == "noop":
        return {"x": i}
    if kind == "mkdir":
        return {"path": f"/bench-{run}/w{worker}-{i}", "rid": uuid.uuid4().hex}
    if kind == "commit_empty":
        return {
            "path": f"/bench-{run}/f{worker}-{i}",
            "rid": uuid.uuid4().hex,
            "size": 0,
            "chunks": [],
        }
    raise ValueError(kind)


async def _run(
    urls: list[str], kind: str, concurrency: int, duration: float, max_requests: int, run: str
) -> dict[str, Any]:
    done = errors = 0
    stop_at = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(w: int) -> None:
            nonlocal done, errors
            i = 0
            url = urls[w % len(urls)]
            while time.perf_counter() < stop_at and done + errors < max_requests:
                method, target, data = _request(kind, url, w, i, run)
                async with session.request(
                    method,
                    target,
                    data=data,
                    headers={"Content-Type": "application/cbor", "Accept": "application/cbor"},
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1
                    else:
                        errors += 1
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"ops": done, "errors": errors, "seconds": elapsed, "ops_per_s": done / elapsed}


def _child(q: Any, *args: Any) -> None:
    q.put(asyncio.run(_run(*args)))


def measure(
    urls: list[str],
    kind: str,
    concurrency: int = 64,
    duration: float = 5.0,
    max_requests: int = 1_000_000,
    run: str = "x",
) -> dict[str, Any]:
    """Run the load generator in a child process and return its counts."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, urls, kind, concurrency, duration, max_requests, run))
    p.start()
    try:
        deadline = time.monotonic() + duration + 120
        while True:
            try:
                return q.get(timeout=1.0)
            except queue.Empty:
                if not p.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"load generator ({kind}) died without a result") from None
    finally:
        p.join(30)

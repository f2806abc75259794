"""The scrubber: re-read every chunk at ``scrub.rate`` bytes/s to find bit rot.

A copy whose bytes no longer match its checksum is quarantined (moved aside, no longer served
or reported) and reported to the masters, which re-replicate it from a good copy. One pass over
all chunks is one ``run_once``; a failure on one chunk is logged and the pass goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fahadfs.errors import ChunkNotFound
from fahadfs.storage.chunkstore import ChunkInfo, ChunkStore
from fahadfs.storage.metrics import NodeMetrics

Report = Callable[[ChunkInfo, str], Awaitable[bool]]


class Scrubber:
    name = "scrubber"

    def __init__(
        self,
        store: ChunkStore,
        *,
        rate: int,
        interval: float,
        report: Report,
        log: Any,
        metrics: NodeMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._store = store
        self._rate = rate
        self._report = report
        self._log = log
        self._metrics = metrics
        self._sleep = sleep
        self._clock = clock

    async def run_once(self) -> dict[str, int]:
        stats = {"checked": 0, "bytes": 0, "bad": 0, "gone": 0, "errors": 0}
        started = self._clock()
        for info in self._store.list():
            try:
                ok = await self._store.verify(info.id)
                if not ok:
                    stats["bad"] += 1
                    await self.condemn(info, "scrub")
            except ChunkNotFound:
                stats["gone"] += 1
                continue
            except Exception:
                stats["errors"] += 1
                self._log.exception("scrub.chunk_failed", chunk=info.hex)
                continue
            stats["checked"] += 1
            stats["bytes"] += info.size
            if self._metrics is not None:
                self._metrics.scrubbed_bytes.inc(info.size)
            await self._throttle(stats["bytes"], started)
        if self._metrics is not None:
            self._metrics.scrub_passes.inc()
        if stats["bad"] or stats["errors"]:
            self._log.warning("scrub.pass_done", **stats)
        return stats

    async def _throttle(self, done: int, started: float) -> None:
        if self._rate <= 0:
            return
        ahead = done / self._rate - (self._clock() - started)
        if ahead > 0:
            await self._sleep(ahead)

    async def condemn(self, info: ChunkInfo, reason: str) -> None:
        """Quarantine a bad local copy and tell the masters (also used by replication)."""
        if self._metrics is not None:
            self._metrics.checksum_failures.labels(reason).inc()
        if await self._store.quarantine(info.id, reason):
            if self._metrics is not None:
                self._metrics.quarantined.inc()
            await self._report(info, reason)

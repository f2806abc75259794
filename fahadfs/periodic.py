"""The one loop shape of every background task (heartbeat, scrubber, healer, ...).

A task is an object with a ``name``, an ``interval`` (seconds) and ``async run_once()``
returning a small stats dict. :func:`run_forever` is the only ``while True``: a jittered first
start, then each iteration followed by a sleep for the rest of the interval; an exception in one
iteration is logged with its traceback and the loop goes on. :func:`background` turns tasks
into an aiohttp ``cleanup_ctx`` entry, so they start and stop with the app::

    app.cleanup_ctx.append(periodic.background([heartbeat, scrubber], log))
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web


class PeriodicTask(Protocol):
    name: str
    interval: float

    async def run_once(self) -> Mapping[str, Any] | None: ...


async def run_forever(
    task: PeriodicTask,
    log: Any,
    *,
    first_delay: float | None = None,
    rng: random.Random | None = None,
) -> None:
    """Run ``task.run_once`` every ``task.interval`` seconds until cancelled.

    ``first_delay`` defaults to a random fraction of the interval, so many processes started
    together do not beat in step.
    """
    if first_delay is None:
        first_delay = (rng or random).uniform(0, task.interval)
    await asyncio.sleep(first_delay)
    while True:
        started = time.monotonic()
        try:
            stats = await task.run_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(f"{task.name}.failed")
        else:
            if stats:
                log.debug(f"{task.name}.done", **stats)
        elapsed = time.monotonic() - started
        wakeup: asyncio.Event | None = getattr(task, "wakeup", None)
        if wakeup is None:
            await asyncio.sleep(max(0.0, task.interval - elapsed))
        else:
            # A task may ask to run again early (the healer does when a copy finishes).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), max(0.0, task.interval - elapsed))
            wakeup.clear()


def background(
    tasks: Sequence[PeriodicTask],
    log: Any,
    *,
    first_delay: float | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry running ``tasks`` for the life of the app."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        running = [
            asyncio.create_task(run_forever(t, log, first_delay=first_delay), name=t.name)
            for t in tasks
        ]
        yield
        for r in running:
            r.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    return ctx

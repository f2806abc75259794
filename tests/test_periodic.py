"""The shared loop shape of background tasks (fahadfs.periodic)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from structlog.testing import capture_logs

from fahadfs import periodic


class Counting:
    name = "counting"

    def __init__(self, interval: float, fail_on: set[int] | None = None) -> None:
        self.interval = interval
        self.runs = 0
        self.fail_on = fail_on or set()
        self.ran = asyncio.Event()

    async def run_once(self) -> dict[str, Any]:
        self.runs += 1
        if self.runs >= 3:
            self.ran.set()
        if self.runs in self.fail_on:
            raise RuntimeError(f"run {self.runs} failed")
        return {"runs": self.runs}


async def test_run_forever_repeats_and_survives_a_failing_iteration() -> None:
    task = Counting(interval=0.01, fail_on={1})
    with capture_logs() as logs:
        runner = asyncio.create_task(
            periodic.run_forever(task, structlog.get_logger(), first_delay=0)
        )
        await asyncio.wait_for(task.ran.wait(), 5)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert runner.cancelled() and task.runs >= 3
    failures = [e for e in logs if e["event"] == "counting.failed"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"


async def test_first_run_is_jittered_within_the_interval() -> None:
    import random

    task = Counting(interval=100.0)
    runner = asyncio.create_task(
        periodic.run_forever(task, structlog.get_logger(), rng=random.Random(1))
    )
    await asyncio.sleep(0.05)
    assert task.runs == 0  # waiting for its random start (seeded: ~13 s)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_background_tasks_live_and_die_with_the_app() -> None:
    task = Counting(interval=0.01)
    app = web.Application()
    app.cleanup_ctx.append(periodic.background([task], structlog.get_logger(), first_delay=0))
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.wait_for(task.ran.wait(), 5)
    await runner.cleanup()
    runs = task.runs
    await asyncio.sleep(0.05)
    assert task.runs == runs  # cancelled with the app

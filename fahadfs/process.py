"""Process plumbing shared by `fahadfs master` and `fahadfs node`: pid files and stop signals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path


def pid_file(process_dir: Path, process_id: str) -> Path:
    """``<data_dir>/<id>/<id>.pid``."""
    return process_dir / f"{process_id}.pid"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def owned_pid_file(path: Path) -> Iterator[None]:
    """Write our pid to ``path`` for the life of the block; refuse if a live process owns it."""
    other = read_pid(path)
    if other is not None and other != os.getpid() and pid_alive(other):
        raise SystemExit(f"fahadfs: {path.parent.name} already running as pid {other} ({path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pid.tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(path)
    try:
        yield
    finally:
        if read_pid(path) == os.getpid():
            path.unlink(missing_ok=True)


def stop_event_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop

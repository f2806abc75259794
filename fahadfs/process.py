"""Process plumbing shared by `fahadfs master` and `fahadfs node`: pid files and stop signals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from fahadfs.errors import Busy


def pid_file(process_dir: Path, process_id: str) -> Path:
    """``<data_dir>/<id>/<id>.pid``."""
    return process_dir / f"{process_id}.pid"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is a fahadfs process (a recycled pid is some other program)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return b"fahadfs" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def claim_pid_file(path: Path) -> None:
    """Write our pid to ``path``; Busy if a live fahadfs process already holds it."""
    other = read_pid(path)
    if other is not None and other != os.getpid() and pid_alive(other):
        raise Busy(f"{path.parent.name} is already running as pid {other} ({path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def release_pid_file(path: Path) -> None:
    """Remove ``path`` if it still names this process."""
    if read_pid(path) == os.getpid():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def owned_pid_file(path: Path) -> Iterator[None]:
    """Hold the pid file for the life of the block."""
    claim_pid_file(path)
    try:
        yield
    finally:
        release_pid_file(path)


def stop_event_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop

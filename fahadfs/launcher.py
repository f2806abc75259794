"""Start and stop fahadfs processes by pid: used by `fahadfs cluster up/down`, tests and chaos.

Each process runs as ``python -m fahadfs master|node --id ID -c FILE`` in its own session, with
stdout/stderr in ``<data_dir>/<id>/<id>.out`` and a pid file the process writes itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fahadfs.config import Config
from fahadfs.process import pid_alive, pid_file, read_pid

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def is_local(host: str) -> bool:
    """True if ``host`` names this machine (loopback or one of its own addresses)."""
    if host in LOCAL_HOSTS or host.startswith("127."):
        return True
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@dataclass
class Proc:
    """One spawned fahadfs process."""

    kind: str  # master | node
    id: str
    popen: subprocess.Popen[bytes] | None
    pid: int
    out: Path
    argv: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)


def spawn(
    kind: str,
    process_id: str,
    config_path: Path,
    config: Config,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    group: int | None = None,
    wrapper: Sequence[str] = (),
) -> Proc:
    """Start ``fahadfs <kind> --id <id>`` detached in its own session."""
    pdir = config.process_dir(process_id)
    pdir.mkdir(parents=True, exist_ok=True)
    out = pdir / f"{process_id}.out"
    argv = [
        *wrapper,
        sys.executable,
        "-m",
        "fahadfs",
        kind,
        "--id",
        process_id,
        "-c",
        str(config_path),
        *extra,
    ]
    with open(out, "ab") as fh:
        popen = subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            group=group,
        )
    return Proc(kind, process_id, popen, popen.pid, out, argv)


def running_pid(config: Config, process_id: str) -> int | None:
    pid = read_pid(pid_file(config.process_dir(process_id), process_id))
    return pid if pid is not None and pid_alive(pid) else None


def stop_pid(pid: int, timeout: float = 10.0, popen: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; reaps ``popen`` if given."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        popen.wait(5)


def kill(proc: Proc, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        return
    if sig == signal.SIGKILL and proc.popen is not None:
        proc.popen.wait(10)


def http_json(url: str, timeout: float = 1.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def cluster_view(config: Config, timeout: float = 1.0) -> dict[str, Any]:
    """Masters' /status (unreachable ones marked) and the leader's node list."""
    masters = []
    leader_addr = None
    for m in config.masters:
        try:
            s = http_json(f"http://{m.http_address}/status", timeout)
            s["alive"] = True
            if s.get("role") == "leader":
                leader_addr = m.http_address
        except (OSError, urllib.error.URLError, ValueError):
            s = {"id": m.id, "alive": False}
        masters.append(s)
    nodes: list[dict[str, Any]] = []
    if leader_addr:
        try:
            nodes = http_json(f"http://{leader_addr}/v1/nodes", timeout)["nodes"]
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            nodes = []
    return {"masters": masters, "leader": leader_addr, "nodes": nodes}


def wait_ready(
    config: Config,
    node_ids: Sequence[str],
    timeout: float = 30.0,
    procs: Sequence[Proc] = (),
) -> dict[str, Any]:
    """Wait until a leader leads a quorum and every node in ``node_ids`` is registered alive.

    Raises TimeoutError (naming what is missing) or RuntimeError if a process died.
    """
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for p in procs:
            if not p.alive():
                tail = p.out.read_text(errors="replace")[-2000:] if p.out.exists() else ""
                raise RuntimeError(f"{p.kind} {p.id} exited early:\n{tail}")
        view = cluster_view(config, timeout=0.5)
        alive = {n["id"] for n in view["nodes"] if n.get("alive")}
        leader_ok = any(m.get("role") == "leader" and m.get("has_quorum") for m in view["masters"])
        if leader_ok and set(node_ids) <= alive:
            return view
        time.sleep(0.1)
    missing = set(node_ids) - {n["id"] for n in view.get("nodes", []) if n.get("alive")}
    raise TimeoutError(
        f"cluster not ready after {timeout:.0f}s: leader={view.get('leader')}, "
        f"nodes not registered: {sorted(missing)}"
    )

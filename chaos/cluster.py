"""The cluster under test: 3 masters and 5 file nodes, real processes, in a fresh directory.

Built on :mod:`fahadfs.localcluster` (cluster.toml with free ports, readiness checks) and
:func:`fahadfs.launcher.spawn`, plus what faults need:

- every process in its own session and under its own group id (61001.. for m1.., 61011.. for
  n1..) when we are root, so nftables rules can tell their packets apart;
- optionally a node's data on a small tmpfs (the full-disk fault), and processes under
  libfaketime reading their clock offset from a file (the clock-jump fault);
- with ``hosts="netns"``, every process in its own network namespace (chaos.netns).

Everything started is stopped by pid, and everything mounted or created is removed, in
:meth:`ChaosCluster.stop` (also registered with atexit).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import netns
from fahadfs import launcher
from fahadfs.localcluster import ClusterSpec, LocalCluster, render_toml

GID_BASE = 61000
TMPFS_SIZE = 24 << 20
FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)

# Timeouts and intervals short enough that healing happens within a run.
EXTRA_TOML = """
[healer]
interval = 0.5

[scrub]
rate = "256MiB"
interval = 3
"""


def spec(chunk_size: int = 64 << 10) -> ClusterSpec:
    return ClusterSpec(
        masters=3, nodes=5, replication=3, chunk_size=chunk_size, node_capacity=1 << 30,
        heartbeat=0.2, dead_node=2.0, session=10.0, orphan_grace=30.0, chunk_report=2.0,
        extra_toml=EXTRA_TOML,
    )  # fmt: skip


def faketime_lib() -> str | None:
    for pattern in FAKETIME_LIBS:
        for path in glob.glob(pattern):
            return path
    return None


@dataclass
class Options:
    hosts: str = "loopback"  # loopback | netns
    gids: bool = field(default_factory=lambda: os.geteuid() == 0)
    tmpfs_nodes: list[str] = field(default_factory=list)
    faketime: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class ChaosCluster:
    def __init__(self, root: Path, cluster_spec: ClusterSpec, opts: Options) -> None:
        self.root = root
        self.opts = opts
        self.topology: netns.Topology | None = None
        self.mounts: list[Path] = []
        self.paused: set[str] = set()
        root.mkdir(parents=True, exist_ok=True)
        ids = [f"m{i + 1}" for i in range(cluster_spec.masters)]
        ids += [f"n{j + 1}" for j in range(cluster_spec.nodes)]
        hosts = None
        if opts.hosts == "netns":
            self.topology = netns.Topology(ids).create()
            hosts = [self.topology.address(i) for i in ids]
        text = render_toml(cluster_spec, root / "data", hosts)
        (root / "cluster.toml").write_text(text)
        self.local = LocalCluster(root, cluster_spec, env=dict(opts.env))
        self.config = self.local.config
        self.ids = ids
        atexit.register(self.stop)

    # -- identities ----------------------------------------------------------------------------

    @property
    def masters(self) -> list[str]:
        return [m.id for m in self.config.masters]

    @property
    def nodes(self) -> list[str]:
        return [n.id for n in self.config.nodes]

    def gid(self, pid: str) -> int | None:
        if not self.opts.gids:
            return None
        kind, num = pid[0], int(pid[1:])
        return GID_BASE + num + (10 if kind == "n" else 0)

    def ports(self, pid: str) -> list[int]:
        node = self.config.node(pid)
        if node is not None:
            return [node.port]
        m = self.config.master(pid)
        return [m.raft_port, m.http_port]

    def http(self, pid: str) -> str:
        return self.local.http(pid)

    def data_dir(self, node_id: str) -> Path:
        """Where a node keeps its chunks."""
        if node_id in self.opts.tmpfs_nodes:
            return self.config.process_dir(node_id) / "disk"
        return self.config.process_dir(node_id)

    def clock_file(self, pid: str) -> Path:
        return self.root / "clock" / f"{pid}.faketime"

    def log_files(self) -> list[Path]:
        out: list[Path] = []
        for pid in self.ids:
            for d in {self.config.process_dir(pid), self.data_dir(pid)}:
                out += sorted(d.glob("*.log")) + sorted(d.glob("*.out"))
        return out

    # -- processes -----------------------------------------------------------------------------

    def _env(self, pid: str) -> dict[str, str]:
        env = dict(self.opts.env)
        if pid in self.opts.faketime:
            lib = faketime_lib()
            if lib is None:
                raise RuntimeError("libfaketime is not installed")
            f = self.clock_file(pid)
            f.parent.mkdir(parents=True, exist_ok=True)
            if not f.exists():
                f.write_text("+0\n")
            # Wall and monotonic clock together: with FAKETIME_DONT_FAKE_MONOTONIC libfaketime
            # 0.9.10 makes time.sleep() fail with EINVAL (clock_nanosleep TIMER_ABSTIME).
            env.update(
                {
                    "LD_PRELOAD": lib,
                    "FAKETIME_TIMESTAMP_FILE": str(f),
                    "FAKETIME_CACHE_DURATION": "1",
                }
            )
        return env

    def _prepare_tmpfs(self, node_id: str) -> list[str]:
        disk = self.data_dir(node_id)
        if disk in self.mounts:
            return ["--data", str(disk)]
        disk.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(disk)],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        self.mounts.append(disk)
        return ["--data", str(disk)]

    def start(self, pid: str) -> launcher.Proc:
        """Start (or restart) one process; returns at once (readiness is the caller's business)."""
        kind = "node" if self.config.node(pid) is not None else "master"
        extra = self._prepare_tmpfs(pid) if pid in self.opts.tmpfs_nodes else []
        wrapper = self.topology.exec_prefix(pid) if self.topology else []
        old = self.local.procs.get(pid)
        if old is not None and old.alive():
            raise RuntimeError(f"{pid} is already running as pid {old.pid}")
        proc = launcher.spawn(
            kind, pid, self.local.config_path, self.config, extra=extra, env=self._env(pid),
            group=self.gid(pid), wrapper=wrapper,
        )  # fmt: skip
        self.local.procs[pid] = proc
        self.paused.discard(pid)
        return proc

    def start_all(self, timeout: float = 60.0) -> None:
        for pid in self.ids:
            self.start(pid)
        self.local.wait_ready(timeout)

    def alive(self, pid: str) -> bool:
        p = self.local.procs.get(pid)
        return p is not None and p.alive()

    def pid_of(self, pid: str) -> int | None:
        p = self.local.procs.get(pid)
        return p.pid if p is not None else None

    def signal(self, pid: str, sig: int) -> bool:
        """Send ``sig`` to a running process; False if it is not running."""
        p = self.local.procs.get(pid)
        if p is None or not p.alive():
            return False
        if sig == signal.SIGSTOP:
            self.paused.add(pid)
        elif sig == signal.SIGCONT:
            self.paused.discard(pid)
        launcher.kill(p, sig)
        return True

    def status(self, pid: str, timeout: float = 1.0) -> dict[str, Any] | None:
        try:
            return launcher.http_json(f"{self.http(pid)}/status", timeout=timeout)  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def leader(self, timeout: float = 10.0) -> str | None:
        """A live master that says it leads with a quorum (None if none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.masters:
                if m in self.paused or not self.alive(m):
                    continue
                s = self.status(m, timeout=0.5)
                if s and s.get("role") == "leader" and s.get("has_quorum"):
                    return m
            time.sleep(0.1)
        return None

    # -- teardown ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process by pid, unmount, remove namespaces. Idempotent."""
        for pid in list(self.local.procs):
            p = self.local.procs[pid]
            with contextlib.suppress(Exception):
                if p.alive():
                    os.kill(p.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                    launcher.stop_pid(p.pid, timeout=5.0, popen=p.popen)
                elif p.popen is not None:
                    p.popen.poll()
        self.paused.clear()
        for disk in reversed(self.mounts):
            for log in [*disk.glob("*.log"), *disk.glob("*.out")]:
                with contextlib.suppress(OSError):
                    shutil.copy(log, disk.parent / f"disk-{log.name}")
            subprocess.run(
                ["umount", "-l", str(disk)], capture_output=True, timeout=10, check=False
            )
        self.mounts.clear()
        if self.topology is not None:
            self.topology.destroy()

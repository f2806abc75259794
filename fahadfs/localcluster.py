"""A throwaway cluster of real processes on 127.0.0.1: for integration tests, chaos and benchmarks.

Writes a cluster.toml with free ports into a fresh directory, starts masters and file nodes via
`fahadfs.launcher`, waits on readiness (leader with quorum, nodes registered) and stops every
process it started by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fahadfs import config as config_mod
from fahadfs import launcher


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that were free a moment ago."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


@dataclass
class ClusterSpec:
    masters: int = 3
    nodes: int = 4
    replication: int = 3
    chunk_size: int = 1 << 20
    node_capacity: int = 1 << 30
    heartbeat: float = 0.2
    dead_node: float = 2.0
    session: float = 30.0
    orphan_grace: float = 600.0
    chunk_report: float = 2.0
    host: str = "127.0.0.1"
    extra_toml: str = ""


def render_toml(spec: ClusterSpec, data_dir: Path, hosts: Sequence[str] | None = None) -> str:
    """cluster.toml text for ``spec``; ``hosts`` gives one address per process (masters first)."""
    total = spec.masters + spec.nodes
    addrs = list(hosts) if hosts else [spec.host] * total
    ports = free_ports(2 * spec.masters + spec.nodes) if not hosts else None
    lines = [
        "[cluster]",
        'name = "test"',
        'secret = "test-secret-0123456789"',
        f"replication = {spec.replication}",
        f"chunk_size = {spec.chunk_size}",
        f'data_dir = "{data_dir}"',
        "",
        "[timeouts]",
        f"heartbeat = {spec.heartbeat}",
        f"dead_node = {spec.dead_node}",
        f"session = {spec.session}",
        f"orphan_grace = {spec.orphan_grace}",
        f"chunk_report = {spec.chunk_report}",
        "request = 15",
        "",
    ]
    for i in range(spec.masters):
        raft_port, http_port = (ports[2 * i], ports[2 * i + 1]) if ports else (7101, 7201)
        lines += [
            "[[master]]",
            f'id = "m{i + 1}"',
            f'host = "{addrs[i]}"',
            f"raft_port = {raft_port}",
            f"http_port = {http_port}",
            "",
        ]
    for j in range(spec.nodes):
        port = ports[2 * spec.masters + j] if ports else 7301
        lines += [
            "[[node]]",
            f'id = "n{j + 1}"',
            f'host = "{addrs[spec.masters + j]}"',
            f"port = {port}",
            f"capacity = {spec.node_capacity}",
            "",
        ]
    return "\n".join(lines) + spec.extra_toml


@dataclass
class LocalCluster:
    """Processes of one cluster.toml; use as a context manager or call stop()."""

    root: Path
    spec: ClusterSpec = field(default_factory=ClusterSpec)
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, launcher.Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = self.root / "cluster.toml"
        if not self.config_path.exists():
            self.config_path.write_text(render_toml(self.spec, self.root / "data"))
        self.config = config_mod.load(self.config_path)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0, nodes: bool = True) -> LocalCluster:
        for m in self.config.masters:
            self.start_master(m.id)
        if nodes:
            for n in self.config.nodes:
                self.start_node(n.id)
        self.wait_ready(timeout)
        return self

    def start_master(self, master_id: str, **kw: Any) -> launcher.Proc:
        p = launcher.spawn("master", master_id, self.config_path, self.config, env=self.env, **kw)
        self.procs[master_id] = p
        return p

    def start_node(self, node_id: str, extra: Sequence[str] = (), **kw: Any) -> launcher.Proc:
        p = launcher.spawn(
            "node", node_id, self.config_path, self.config, extra=extra, env=self.env, **kw
        )
        self.procs[node_id] = p
        return p

    def wait_ready(self, timeout: float = 30.0, node_ids: Sequence[str] | None = None) -> None:
        if node_ids is None:
            node_ids = [n for n, p in self.procs.items() if p.kind == "node" and p.alive()]
        live = [p for p in self.procs.values() if p.alive()]
        launcher.wait_ready(self.config, node_ids, timeout=timeout, procs=live)

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM every process at once, wait together, SIGKILL whatever is left."""
        live = [p for p in self.procs.values() if p.alive()]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.alive() for p in live):
            time.sleep(0.05)
        for p in live:
            if p.alive():
                launcher.kill(p)
        for p in self.procs.values():
            if p.popen is not None:
                with contextlib.suppress(Exception):
                    p.popen.wait(5)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and queries -------------------------------------------------------------------

    def kill(self, process_id: str, sig: int = signal.SIGKILL) -> None:
        launcher.kill(self.procs[process_id], sig)

    def status(self, master_id: str) -> dict[str, Any]:
        return launcher.http_json(f"http://{self.config.master(master_id).http_address}/status")

    def leader_id(self, timeout: float = 15.0, exclude: Sequence[str] = ()) -> str:
        """Wait for a master (not in ``exclude``) that says it leads with a quorum."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.config.masters:
                if (
                    m.id in exclude
                    or not self.procs.get(m.id, None)
                    or not self.procs[m.id].alive()
                ):
                    continue
                try:
                    s = self.status(m.id)
                except OSError:
                    continue
                if s.get("role") == "leader" and s.get("has_quorum"):
                    return m.id
            time.sleep(0.05)
        raise TimeoutError("no leader elected")

    def http(self, process_id: str) -> str:
        node = self.config.node(process_id)
        if node is not None:
            return f"http://{node.address}"
        return f"http://{self.config.master(process_id).http_address}"

    def node_dir(self, node_id: str) -> Path:
        return self.config.process_dir(node_id)

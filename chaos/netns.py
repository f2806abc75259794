"""Separate "hosts": one Linux network namespace per process, joined by a bridge.

    fz<tag>br        a namespace holding only the bridge br0
    fz<tag><id>      one namespace per process (m1.., n1.., and h for the harness itself),
                     with eth0 = one end of a veth pair whose other end is on br0

Every host gets a link-local address 169.254.<net>.<i>/24 (no route leaves the namespaces, so
no packet can reach an address outside them). Cutting a host off the network is
``ip link set <its bridge port> down``. The harness joins its own namespace with setns(2) for
the duration of a run, so its clients reach the cluster over the bridge too. Everything is
deleted by :meth:`Topology.destroy` (also registered with atexit).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

CLONE_NEWNET = 0x40000000
PREFIX = "fz"
HARNESS = "h"


def available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=15)


class Topology:
    def __init__(self, ids: Sequence[str], tag: str | None = None) -> None:
        self.tag = tag or secrets.token_hex(2)
        self.net = 100 + int(self.tag, 16) % 100
        self.ids = [*ids, HARNESS]
        self.bridge_ns = f"{PREFIX}{self.tag}br"
        self.created: list[str] = []
        self.cut_links: set[str] = set()
        atexit.register(self.destroy)

    # -- names ----------------------------------------------------------------------------

    def ns(self, pid: str) -> str:
        return f"{PREFIX}{self.tag}{pid}"

    def port(self, pid: str) -> str:
        return f"b{self.tag}{pid}"

    def address(self, pid: str) -> str:
        index = 250 if pid == HARNESS else self.ids.index(pid) + 1
        return f"169.254.{self.net}.{index}"

    def exec_prefix(self, pid: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(pid)]

    # -- life cycle ------------------------------------------------------------------------

    def create(self) -> Topology:
        try:
            _ip("netns", "add", self.bridge_ns)
            self.created.append(self.bridge_ns)
            _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
            for pid in self.ids:
                self._add_host(pid)
        except Exception:
            self.destroy()
            raise
        return self

    def _add_host(self, pid: str) -> None:
        ns, port = self.ns(pid), self.port(pid)
        _ip("netns", "add", ns)
        self.created.append(ns)
        _ip(
            "-n",
            self.bridge_ns,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        _ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{self.address(pid)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=15, check=False)
        self.created.clear()

    # -- faults ----------------------------------------------------------------------------

    def cut(self, pid: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self.port(pid), "down")
        self.cut_links.add(pid)

    def restore(self, pid: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self.port(pid), "up")
        self.cut_links.discard(pid)

    # -- the harness's own namespace --------------------------------------------------------

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the calling thread (and threads it starts) inside the harness namespace."""
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(str(Path("/run/netns") / self.ns(HARNESS)), os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the harness namespace failed")
            try:
                yield
            finally:
                if libc.setns(home, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back home failed")
        finally:
            os.close(home)
            os.close(target)


def leftovers() -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=False
    )
    return [
        line.split()[0]
        for line in out.stdout.splitlines()
        if line.startswith(PREFIX) and len(line.split()[0]) <= 12
    ]

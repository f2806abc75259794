"""Partitions of processes that all live on 127.0.0.1, with nftables rules keyed on group ids.

Every cluster process runs under its own group id (chaos.cluster), so a rule can tell whose
socket sent a packet (``meta skgid``). Isolating a process drops:

- every packet its sockets send (``meta skgid G``), marking the connection first
  (``ct mark set``) so that
- every packet on a connection it took part in is dropped in both directions, and
- every packet addressed to its listening ports (new connections towards it).

All rules of a run live in one table, ``inet fahadfs_chaos_<run tag>``, one pair of chains
per isolated process; healing deletes that pair, and the end of the run (or exit) deletes the
table. Traffic only ever concerns 127.0.0.0/8.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
from collections.abc import Sequence

TABLE_PREFIX = "fahadfs_chaos_"


def available() -> str | None:
    """None if nft can be used here, else why not."""
    import os

    if os.geteuid() != 0:
        return "needs root for nftables"
    if shutil.which("nft") is None:
        return "nft (nftables) is not installed"
    return None


def _nft(script: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"], input=script.encode(), check=True, capture_output=True, timeout=10
    )


def rules(table: str, name: str, gid: int, ports: Sequence[int], mark: int) -> str:
    """The nft script adding chains ``<name>_out``/``<name>_in`` that isolate process ``gid``."""
    port_set = ", ".join(str(p) for p in sorted(ports))
    return f"""
table inet {table} {{
  chain {name}_out {{
    type filter hook output priority -150; policy accept;
    ip daddr != 127.0.0.0/8 accept
    meta skgid {gid} ct mark set {mark}
    ct mark {mark} drop
    tcp dport {{ {port_set} }} ct mark set {mark} drop
  }}
  chain {name}_in {{
    type filter hook input priority -150; policy accept;
    ip saddr != 127.0.0.0/8 accept
    ct mark {mark} drop
  }}
}}
"""


class Firewall:
    """The run's one nftables table; each isolated process is a pair of chains in it."""

    def __init__(self, tag: str) -> None:
        self.table = f"{TABLE_PREFIX}{tag}"
        self.active: dict[str, int] = {}  # chain name -> mark
        atexit.register(self.destroy)

    def isolate(self, name: str, gid: int, ports: Sequence[int]) -> None:
        if name in self.active:
            return
        mark = 0x0FA0 + len(self.active) + 1
        _nft(rules(self.table, name, gid, ports, mark))
        self.active[name] = mark

    def heal(self, name: str) -> None:
        if self.active.pop(name, None) is None:
            return
        for chain in (f"{name}_out", f"{name}_in"):
            subprocess.run(
                ["nft", "delete", "chain", "inet", self.table, chain],
                capture_output=True,
                timeout=10,
                check=False,
            )

    def destroy(self) -> None:
        """Delete the table (every rule of the run). Idempotent."""
        self.active.clear()
        delete_table(self.table)


def delete_table(table: str) -> None:
    subprocess.run(
        ["nft", "delete", "table", "inet", table], capture_output=True, timeout=10, check=False
    )


def leftover_tables() -> list[str]:
    """Tables of ours still loaded (for cleanup and tests)."""
    out = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, timeout=10, check=False
    )
    return [
        line.split()[-1]
        for line in out.stdout.splitlines()
        if line.startswith("table inet " + TABLE_PREFIX)
    ]

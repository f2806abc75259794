"""Named fault actions. Each takes the shared :class:`Ctx` and its schedule arguments, does one
thing to the cluster, and returns an event dict for the history:

    {"f": "kill_node", "status": "ok" | "skip" | "noop" | "fail", "target": "n3", ...}

``skip`` means the fault could not be injected here (no root, a missing tool) and makes the
scenario SKIP, never PASS; ``noop`` means there was nothing to do (the target was already down).
:func:`run` never raises: an unexpected error becomes ``status: fail``.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import netfilter
from chaos.cluster import ChaosCluster

Event = dict[str, Any]
FOOTER_SIZE = 40  # bytes after a chunk's data in its file (docs/FORMAT.md)
BALLAST = ".chaos-ballast"


@dataclass
class Ctx:
    cluster: ChaosCluster
    tags: dict[str, str] = field(default_factory=dict)  # tag -> process id it named
    partitions: dict[str, str] = field(default_factory=dict)  # tag -> isolated process id
    firewall: netfilter.Firewall | None = None
    run_tag: str = "run"  # names the run's nftables table
    down: set[str] = field(default_factory=set)  # processes we killed and not yet restarted
    offsets: dict[str, int] = field(default_factory=dict)  # process -> clock offset (s)

    @property
    def netns(self) -> bool:
        return self.cluster.topology is not None


def _ev(f: str, status: str, target: str | list[str] | None = None, **detail: Any) -> Event:
    out: Event = {"f": f, "status": status}
    if target is not None:
        out["target"] = target
    return {**out, **detail}


# -- processes ------------------------------------------------------------------------------


def _kill(ctx: Ctx, f: str, pid: str, tag: str | None) -> Event:
    if not ctx.cluster.alive(pid):
        return _ev(f, "noop", pid, reason="not running")
    ctx.down.add(pid)
    ctx.cluster.signal(pid, signal.SIGKILL)
    if tag:
        ctx.tags[tag] = pid
    return _ev(f, "ok", pid)


def kill_node(ctx: Ctx, node: str, tag: str | None = None) -> Event:
    return _kill(ctx, "kill_node", node, tag)


def kill_leader(ctx: Ctx, tag: str | None = None) -> Event:
    leader = ctx.cluster.leader(timeout=5.0)
    if leader is None:
        return _ev("kill_leader", "noop", reason="no leader to kill")
    return _kill(ctx, "kill_leader", leader, tag)


def kill_random_master(ctx: Ctx, master: str, tag: str | None = None) -> Event:
    return _kill(ctx, "kill_random_master", master, tag)


def restart(ctx: Ctx, tag: str) -> Event:
    pid = ctx.tags.pop(tag, None)
    if pid is None:
        return _ev("restart", "noop", reason=f"nothing tagged {tag}")
    if ctx.cluster.alive(pid):
        return _ev("restart", "noop", pid, reason="already running")
    ctx.cluster.start(pid)
    ctx.down.discard(pid)
    return _ev("restart", "ok", pid)


def pause_process(ctx: Ctx, target: str, tag: str | None = None) -> Event:
    pid = ctx.cluster.leader(timeout=5.0) if target == "leader" else target
    if pid is None or not ctx.cluster.alive(pid) or pid in ctx.cluster.paused:
        return _ev("pause_process", "noop", pid, reason="not running")
    ctx.cluster.signal(pid, signal.SIGSTOP)
    if tag:
        ctx.tags[tag] = pid
    return _ev("pause_process", "ok", pid)


def resume_process(ctx: Ctx, tag: str) -> Event:
    pid = ctx.tags.pop(tag, None)
    if pid is None or pid not in ctx.cluster.paused:
        return _ev("resume_process", "noop", pid)
    ctx.cluster.signal(pid, signal.SIGCONT)
    return _ev("resume_process", "ok", pid)


def _restart_all(ctx: Ctx, f: str, pids: list[str], down: float) -> Event:
    for pid in pids:
        ctx.down.add(pid)
        ctx.cluster.signal(pid, signal.SIGKILL)
    time.sleep(max(0.0, min(down, 30.0)))
    for pid in pids:
        if not ctx.cluster.alive(pid):
            ctx.cluster.start(pid)
        ctx.down.discard(pid)
    return _ev(f, "ok", pids, down=down)


def restart_all_masters(ctx: Ctx, down: float = 0.5) -> Event:
    return _restart_all(ctx, "restart_all_masters", ctx.cluster.masters, down)


def restart_all_nodes(ctx: Ctx, down: float = 0.5) -> Event:
    return _restart_all(ctx, "restart_all_nodes", ctx.cluster.nodes, down)


# -- network --------------------------------------------------------------------------------


def partition_leader(ctx: Ctx, tag: str) -> Event:
    """Cut the leader off from the other masters, the nodes and the clients."""
    if not ctx.netns:
        why = netfilter.available() or (None if ctx.cluster.opts.gids else "processes share a gid")
        if why:
            return _ev("partition_leader", "skip", reason=why)
    leader = ctx.cluster.leader(timeout=5.0)
    if leader is None:
        return _ev("partition_leader", "noop", reason="no leader")
    if ctx.netns:
        assert ctx.cluster.topology is not None
        ctx.cluster.topology.cut(leader)
        ctx.partitions[tag] = leader
        return _ev("partition_leader", "ok", leader, how="link down")
    gid = ctx.cluster.gid(leader)
    assert gid is not None
    if ctx.firewall is None:
        ctx.firewall = netfilter.Firewall(ctx.run_tag)
    name = tag.lower()
    ctx.firewall.isolate(name, gid, ctx.cluster.ports(leader))
    ctx.partitions[tag] = leader
    return _ev("partition_leader", "ok", leader, how="nftables", table=ctx.firewall.table)


def heal_partition(ctx: Ctx, tag: str) -> Event:
    pid = ctx.partitions.pop(tag, None)
    if pid is None:
        return _ev("heal_partition", "noop", reason=f"no partition tagged {tag}")
    if ctx.netns:
        assert ctx.cluster.topology is not None
        ctx.cluster.topology.restore(pid)
    elif ctx.firewall is not None:
        ctx.firewall.heal(tag.lower())
    return _ev("heal_partition", "ok", pid)


# -- disks ----------------------------------------------------------------------------------


def chunk_files(root: Path) -> list[Path]:
    """A node's chunk files, sorted (``<root>/chunks/<2 hex>/<16 hex>``)."""
    return sorted(p for p in (root / "chunks").glob("*/*") if len(p.name) == 16 and p.is_file())


def _pick_chunk(ctx: Ctx, node: str, pick: int) -> Path | None:
    files = chunk_files(ctx.cluster.data_dir(node))
    return files[pick % len(files)] if files else None


def flip_bit(ctx: Ctx, node: str, pick: int, bit: int) -> Event:
    """Rot one bit of the data of one stored chunk (its recorded checksum stays)."""
    path = _pick_chunk(ctx, node, pick)
    if path is None:
        return _ev("flip_bit", "noop", node, reason="no chunks")
    size = path.stat().st_size - FOOTER_SIZE
    if size <= 0:
        return _ev("flip_bit", "noop", node, chunk=path.name, reason="empty chunk")
    offset, mask = (bit // 8) % size, 1 << (bit % 8)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))
    return _ev("flip_bit", "ok", node, chunk=path.name, offset=offset, mask=mask)


def delete_chunk(ctx: Ctx, node: str, pick: int) -> Event:
    path = _pick_chunk(ctx, node, pick)
    if path is None:
        return _ev("delete_chunk", "noop", node, reason="no chunks")
    path.unlink()
    return _ev("delete_chunk", "ok", node, chunk=path.name)


def full_disk_node(ctx: Ctx, node: str) -> Event:
    """Fill the node's small tmpfs to the last byte."""
    disk = ctx.cluster.data_dir(node)
    if disk not in ctx.cluster.mounts:
        return _ev("full_disk_node", "skip", node, reason="node is not on a tmpfs (needs root)")
    written = 0
    fd = os.open(disk / BALLAST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 1):  # big blocks, then the last crumbs
            block = b"\0" * size
            for _ in range(1 << 12):  # bounded: 4 GiB of the largest block at most
                try:
                    written += os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    free = os.statvfs(disk)
    return _ev("full_disk_node", "ok", node, ballast=written, free=free.f_bavail * free.f_frsize)


def free_disk_node(ctx: Ctx, node: str) -> Event:
    ballast = ctx.cluster.data_dir(node) / BALLAST
    if not ballast.exists():
        return _ev("free_disk_node", "noop", node)
    ballast.unlink()
    return _ev("free_disk_node", "ok", node)


# -- clocks ---------------------------------------------------------------------------------


def clock_jump(ctx: Ctx, seconds: int, target: str | None = None, tag: str | None = None) -> Event:
    """Set a process's clock ``seconds`` away from real time (0: back to real time).

    ``target`` is a process id or ``leader``; a later action names the same process by ``tag``.
    libfaketime moves the wall and the monotonic clock together (faking only the wall clock
    breaks ``time.sleep``), and a monotonic clock that goes back freezes every timer of the
    process; so a running process only ever jumps forward, and a jump back is a restart with
    the new offset (a machine that reboots with its clock set differently).
    """
    pid = ctx.tags.pop(tag, None) if target is None and tag else target
    if pid == "leader":
        pid = ctx.cluster.leader(timeout=5.0)
    if pid is None:
        return _ev("clock_jump", "noop", reason="no such process")
    if pid not in ctx.cluster.opts.faketime:
        return _ev("clock_jump", "skip", pid, reason="process not under libfaketime")
    backwards = seconds < ctx.offsets.get(pid, 0)
    if backwards:
        ctx.down.add(pid)
        ctx.cluster.signal(pid, signal.SIGKILL)
    f = ctx.cluster.clock_file(pid)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(f"{seconds:+d}\n")
    tmp.replace(f)
    ctx.offsets[pid] = seconds
    if backwards and not ctx.cluster.alive(pid):
        ctx.cluster.start(pid)
        ctx.down.discard(pid)
    if tag and seconds:
        ctx.tags[tag] = pid
    return _ev("clock_jump", "ok", pid, seconds=seconds, restarted=backwards)


ACTIONS: dict[str, Callable[..., Event]] = {
    f.__name__: f
    for f in (
        kill_node, kill_leader, kill_random_master, restart, pause_process, resume_process,
        restart_all_masters, restart_all_nodes, partition_leader, heal_partition, flip_bit,
        delete_chunk, full_disk_node, free_disk_node, clock_jump,
    )
}  # fmt: skip


def run(ctx: Ctx, action: str, args: dict[str, Any]) -> Event:
    """Run one named action; never raises."""
    fn = ACTIONS.get(action)
    if fn is None:
        return _ev(action, "fail", error=f"unknown nemesis action {action!r}")
    started = time.monotonic()
    try:
        event = fn(ctx, **args)
    except Exception as exc:
        event = _ev(action, "fail", error=repr(exc), trace=traceback.format_exc(limit=3))
    event["took"] = round(time.monotonic() - started, 3)
    return event


def heal_all(ctx: Ctx) -> list[Event]:
    """Undo every fault: heal partitions, resume, reset clocks, free disks, restart the dead."""
    events: list[Event] = []
    for tag in list(ctx.partitions):
        events.append(run(ctx, "heal_partition", {"tag": tag}))
    for pid in sorted(ctx.cluster.paused):
        ctx.cluster.signal(pid, signal.SIGCONT)
        events.append(_ev("resume_process", "ok", pid, heal=True))
    for pid in sorted(p for p, off in ctx.offsets.items() if off):
        events.append(run(ctx, "clock_jump", {"target": pid, "seconds": 0}))
    for node in ctx.cluster.opts.tmpfs_nodes:
        if (ctx.cluster.data_dir(node) / BALLAST).exists():
            events.append(run(ctx, "free_disk_node", {"node": node}))
    if ctx.firewall is not None:
        ctx.firewall.destroy()
    ctx.tags.clear()
    for pid in ctx.cluster.ids:
        if not ctx.cluster.alive(pid):
            try:
                ctx.cluster.start(pid)
                events.append(_ev("restart", "ok", pid, heal=True))
            except Exception as exc:
                events.append(_ev("restart", "fail", pid, heal=True, error=repr(exc)))
        ctx.down.discard(pid)
    return events

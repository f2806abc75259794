"""`fahadfs cluster up [--detach]` / `fahadfs cluster down`: the local part of cluster.toml."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from fahadfs import config as config_mod
from fahadfs import launcher
from fahadfs.errors import Unavailable


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cluster",
        help="start or stop the local processes of a cluster file",
        epilog=(
            "examples:\n  fahadfs cluster up             start, wait, stay in the foreground"
            " (Ctrl-C stops)\n  fahadfs cluster up --detach    start and return\n"
            "  fahadfs cluster down           stop them by pid"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = csub.add_parser("up", help="start every local master and node that is not running")
    up.add_argument("--detach", action="store_true", help="return once the cluster is ready")
    up.set_defaults(run=run_up)
    down = csub.add_parser("down", help="stop every local master and node by pid")
    down.set_defaults(run=run_down)


def _config_path(args: argparse.Namespace) -> Path:
    cfg = config_mod.load(args.config)
    return Path(cfg.source).resolve()


def run_up(args: argparse.Namespace) -> int:
    path = _config_path(args)
    cfg = config_mod.load(path)
    started: list[launcher.Proc] = []
    for m in cfg.masters:
        if launcher.is_local(m.host) and launcher.running_pid(cfg, m.id) is None:
            started.append(launcher.spawn("master", m.id, path, cfg))
    for n in cfg.nodes:
        if launcher.is_local(n.host) and launcher.running_pid(cfg, n.id) is None:
            started.append(launcher.spawn("node", n.id, path, cfg))
    local_nodes = [n.id for n in cfg.nodes if launcher.is_local(n.host)]
    _say(args, f"started {len(started)} processes: {' '.join(p.id for p in started) or '-'}")
    try:
        launcher.wait_ready(cfg, local_nodes, timeout=args.timeout or 60.0, procs=started)
    except (TimeoutError, RuntimeError) as exc:
        for p in started:
            launcher.stop_pid(p.pid, popen=p.popen)
        raise Unavailable(f"cluster up: {exc}") from None
    view = launcher.cluster_view(cfg)
    _print_endpoints(cfg, view)
    if args.detach:
        return 0
    return _foreground(args, cfg, started)


def _print_endpoints(cfg: config_mod.Config, view: dict[str, Any]) -> None:
    leader = next((m["id"] for m in view["masters"] if m.get("role") == "leader"), "-")
    print(f"cluster {cfg.name!r} ready; leader {leader}")
    for m in cfg.masters:
        print(f"  master {m.id}  http://{m.http_address}  raft {m.raft_address}")
    for n in cfg.nodes:
        print(f"  node   {n.id}  http://{n.address}")
    print(f"  data   {cfg.data_dir}")


def _foreground(
    args: argparse.Namespace, cfg: config_mod.Config, started: list[launcher.Proc]
) -> int:
    print("running in the foreground; Ctrl-C stops the processes started here", flush=True)
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    reported: set[str] = set()
    while not stopping:
        for p in started:
            if not p.alive() and p.id not in reported:
                reported.add(p.id)
                print(f"fahadfs: {p.kind} {p.id} exited (see {p.out})", file=sys.stderr)
        time.sleep(0.2)
    print("stopping ...", flush=True)
    for p in started:
        launcher.stop_pid(p.pid, popen=p.popen)
    print(f"stopped {len(started)} processes")
    return 0


def run_down(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    stopped = []
    for pid_owner in [m.id for m in cfg.masters] + [n.id for n in cfg.nodes]:
        pid = launcher.running_pid(cfg, pid_owner)
        if pid is not None:
            launcher.stop_pid(pid)
            stopped.append(pid_owner)
    _say(args, f"stopped {len(stopped)} processes: {' '.join(stopped) or '-'}")
    return 0


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)

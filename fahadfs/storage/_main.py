"""``fahadfs node --id ID``: run one file node until SIGTERM/SIGINT (re-exported by server.py).

The node keeps everything in its directory (``<data_dir>/<id>/`` unless ``--data`` or the
node's ``data_dir`` in cluster.toml): ``chunks/``, ``quarantine/``, ``<id>.pid``, ``<id>.log``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from fahadfs import config as config_mod
from fahadfs import log as log_mod
from fahadfs.errors import ConfigError, FahadfsError
from fahadfs.process import claim_pid_file, release_pid_file
from fahadfs.storage.chunkstore import DiskChunkStore
from fahadfs.storage.pipeline import parse_address

DEFAULT_CAPACITY = "10GiB"
SHUTDOWN_TIMEOUT = 5.0


@dataclass(frozen=True)
class NodePlan:
    """Where and how one node runs, resolved from cluster.toml and the command line."""

    node_id: str
    host: str
    port: int
    advertise: str
    data_dir: Path
    capacity: int


def plan_node(
    cfg: config_mod.Config,
    node_id: str,
    listen: str | None,
    data: str | None,
    capacity: str | None = None,
) -> NodePlan:
    node_cfg = cfg.node(node_id)
    if node_cfg is None and listen is None:
        raise ConfigError(
            f"{cfg.source}: no [[node]] with id {node_id!r} (add one or pass --listen)"
        )
    if listen is not None:
        try:
            host, _, port_text = parse_address(listen, "--listen").rpartition(":")
        except FahadfsError as exc:
            raise ConfigError(exc.message) from None
        host, port = host.strip("[]"), int(port_text)
    else:
        assert node_cfg is not None
        host, port = node_cfg.host, node_cfg.port
    if host in ("0.0.0.0", "::", ""):
        advertise = f"{node_cfg.host if node_cfg else socket.gethostname()}:{port}"
    else:
        advertise = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    if data is not None:
        data_dir = Path(data)
    elif node_cfg is not None and node_cfg.data_dir:
        data_dir = Path(node_cfg.data_dir)
        if not data_dir.is_absolute() and cfg.source != "<memory>":
            data_dir = Path(cfg.source).resolve().parent / data_dir
    else:
        data_dir = cfg.process_dir(node_id)
    if capacity is not None:
        size = config_mod.parse_size(capacity, "--capacity")
    else:
        size = node_cfg.capacity if node_cfg else config_mod.parse_size(DEFAULT_CAPACITY)
    return NodePlan(node_id, host, port, advertise, data_dir.resolve(), size)


async def run_node(cfg: config_mod.Config, plan: NodePlan, log: Any, *, sync: str = "file") -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop, 1 if the port cannot be bound."""
    from fahadfs.storage.server import make_app

    store = await asyncio.to_thread(
        DiskChunkStore, plan.data_dir, plan.capacity, sync=sync, log=log
    )
    log.info("node.store_loaded", data_dir=str(plan.data_dir), sync=sync, **store.startup)
    app = make_app(plan.node_id, cfg, store, address=plan.advertise, log=log)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, plan.host, plan.port, backlog=1024, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            log.error("node.listen_failed", host=plan.host, port=plan.port, error=str(exc))
            print(
                f"fahadfs node: cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("node.listening", address=plan.advertise, listen=f"{plan.host}:{plan.port}")
        await stop.wait()
        log.info("node.stopping")
        return 0
    finally:
        await runner.cleanup()
        await store.close()
        log.info("node.stopped")


def main_node(
    node_id: str,
    config_path: str | None,
    listen: str | None,
    data: str | None,
    capacity: str | None = None,
) -> int:
    """The ``fahadfs node`` command: 0 after a clean stop, 1 with one line on stderr on error."""
    try:
        cfg = config_mod.load(config_path)
        plan = plan_node(cfg, node_id, listen, data, capacity)
        plan.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file = plan.data_dir / f"{node_id}.pid"
        claim_pid_file(pid_file)
    except FahadfsError as err:
        print(f"fahadfs node: {err.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"fahadfs node: {exc}", file=sys.stderr)
        return 1
    log = log_mod.setup(node_id, plan.data_dir / f"{node_id}.log")
    sync = os.environ.get("FAHADFS_NODE_SYNC", "file")
    try:
        return asyncio.run(run_node(cfg, plan, log, sync=sync))
    except FahadfsError as err:
        log.error("node.failed", error=err.message)
        print(f"fahadfs node: {err.message}", file=sys.stderr)
        return 1
    finally:
        release_pid_file(pid_file)

"""`fahadfs master --id ID -c FILE`: one master process (Raft replica + HTTP API)."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from fahadfs import config as config_mod
from fahadfs import log as log_mod
from fahadfs.errors import FahadfsError
from fahadfs.process import claim_pid_file, pid_file, release_pid_file, stop_event_on_signals


def main_master(master_id: str, config_path: str | None) -> int:
    """Run master ``master_id`` of the config until SIGTERM/SIGINT; returns the exit code."""
    from fahadfs.meta_raft.raft import RaftNode
    from fahadfs.meta_raft.server import Master

    try:
        config = config_mod.load(config_path)
        me = config.master(master_id)
        pdir = config.process_dir(master_id)
        pdir.mkdir(parents=True, exist_ok=True)
        claim_pid_file(pid_file(pdir, master_id))
    except FahadfsError as err:
        print(f"fahadfs master: {err.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"fahadfs master: {exc}", file=sys.stderr)
        return 1
    log = log_mod.setup(master_id, pdir / f"{master_id}.log")
    try:
        # The SyncObj tick thread exits with the thread that built it: build it here, in main.
        raft = RaftNode(me, config, pdir / "raft")
        log.info("master.start", raft=me.raft_address, http=me.http_address)
        try:
            asyncio.run(_serve(Master(raft, config, log), me.host, me.http_port))
        finally:
            raft.destroy()
            log.info("master.stop")
    finally:
        release_pid_file(pid_file(pdir, master_id))
    return 0


async def _serve(master: object, host: str, port: int) -> None:
    from fahadfs.meta_raft.server import make_app

    stop = stop_event_on_signals()
    runner = web.AppRunner(make_app(master), access_log=None)  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

"""`fahadfs node --id ID`: run a file node; `fahadfs node list|drain|undrain`: manage nodes."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from fahadfs import errors
from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session
from fahadfs.client import new_rid

EPILOG = """examples:
  fahadfs node --id n1 -c cluster.toml      run file node n1 in the foreground
  fahadfs node --id n9 --listen 127.0.0.1:7309 --data /srv/n9 --capacity 2TiB
                                            a node that is not in the file
  fahadfs node list                         every node: state, liveness, space, chunks
  fahadfs node drain n2 --wait              move n2's chunks away, wait until it is empty
  fahadfs node undrain n2                   make it active again
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "node",
        help="run a file node, or manage nodes (list, drain, undrain)",
        description="Run a file node (--id), or manage the cluster's nodes.",
        epilog=EPILOG,
    )
    p.add_argument("--id", help="node id (from cluster.toml, or a new one with --listen)")
    p.add_argument("--listen", help="HOST:PORT to serve on (default: from cluster.toml)")
    p.add_argument("--data", help="data directory (default: <data_dir>/<id>)")
    p.add_argument("--capacity", help="bytes to offer, e.g. 10GiB (default: from cluster.toml)")
    p.set_defaults(run=run)
    nsub = p.add_subparsers(dest="action", metavar="ACTION")
    ls = nsub.add_parser("list", help="list file nodes", description="List file nodes.")
    ls.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    ls.set_defaults(run=run_list)
    drain = nsub.add_parser(
        "drain",
        help="move a node's chunks to others before removing it",
        description="Mark a node draining: the healer copies its chunks elsewhere, then marks "
        "it decommissioned. New chunks are not placed on it.",
    )
    drain.add_argument("node_id", metavar="ID")
    drain.add_argument("--wait", action="store_true", help="wait until it holds no chunks")
    drain.add_argument("--wait-timeout", type=float, metavar="SECONDS", help="give up after")
    drain.set_defaults(run=run_drain)
    undrain = nsub.add_parser(
        "undrain", help="make a draining node active again", description="Set a node active."
    )
    undrain.add_argument("node_id", metavar="ID")
    undrain.set_defaults(run=run_undrain)


def run(args: argparse.Namespace) -> int:
    from fahadfs.storage.server import main_node

    if not args.id:
        print(
            "fahadfs node: give --id ID to run a node, or an action: list, drain, undrain",
            file=sys.stderr,
        )
        return 2
    return main_node(args.id, args.config, args.listen, args.data, args.capacity)


def run_list(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _list(s, args))


def run_drain(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _drain(s, args))


def run_undrain(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _set_state(s, args.node_id, "active"))


async def _list(s: Session, args: argparse.Namespace) -> int:
    nodes = sorted(await s.client.nodes(), key=lambda n: n["id"])
    if args.json:
        print(_format.to_json(nodes))
    else:
        print(_format.nodes_table(nodes, args.bytes))
    return 0


async def _set_state(s: Session, node_id: str, state: str) -> int:
    await _find(s, node_id)
    await s.client.call(
        "POST",
        f"/v1/node/{node_id}/state",
        body={"state": state, "rid": new_rid()},
        what=f"node {node_id} {state}",
    )
    s.info(f"node {node_id}: {state}")
    return 0


async def _find(s: Session, node_id: str) -> dict[str, Any]:
    for n in await s.client.nodes():
        if n["id"] == node_id:
            return n
    raise errors.NotFound(f"node {node_id}: no such node")


async def _drain(s: Session, args: argparse.Namespace) -> int:
    await _set_state(s, args.node_id, "draining")
    if not args.wait:
        return 0
    start = time.monotonic()
    last = None
    while True:
        n = await _find(s, args.node_id)
        chunks = int(n.get("chunks") or 0)
        if n.get("state") == "decommissioned" or (chunks == 0 and n.get("state") != "active"):
            s.info(f"node {args.node_id}: drained ({n.get('state')}), holds no chunks")
            if args.json:
                print(_format.to_json(n))
            return 0
        if n.get("state") == "active":
            raise errors.FahadfsError(f"node drain {args.node_id}: made active again meanwhile")
        if chunks != last:
            s.info(f"node {args.node_id}: draining, {chunks} chunks left")
            last = chunks
        if args.wait_timeout is not None and time.monotonic() - start > args.wait_timeout:
            raise errors.Unavailable(
                f"node drain {args.node_id}: {chunks} chunks left after {args.wait_timeout:g}s"
            )
        await asyncio.sleep(0.5)

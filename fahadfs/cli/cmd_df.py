"""`fahadfs df`: cluster capacity, used and free space, from the file nodes' reports."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session

NAME = "df"
HELP = "show cluster capacity, used and free space"
EPILOG = """examples:
  fahadfs df              totals over live nodes
  fahadfs df -n           and one line per node
  fahadfs df --json       {"capacity_bytes", "used_bytes", "free_bytes", "nodes", "live_nodes"}
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("-n", "--nodes", action="store_true", help="one line per node too")
    p.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _df(s, args))


def totals(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Capacity, used and free over live nodes that are not decommissioned."""
    live = [n for n in nodes if n.get("alive") and n.get("state") != "decommissioned"]
    cap = sum(int(n.get("capacity") or 0) for n in live)
    used = sum(int(n.get("used_bytes") or 0) for n in live)
    free = sum(int(n.get("free_bytes") or 0) for n in live)
    return {
        "capacity_bytes": cap,
        "used_bytes": used,
        "free_bytes": free,
        "use_percent": round(100.0 * used / cap, 1) if cap else 0.0,
        "nodes": len(nodes),
        "live_nodes": len(live),
    }


async def _df(s: Session, args: argparse.Namespace) -> int:
    nodes = sorted(await s.client.nodes(), key=lambda n: n["id"])
    t = totals(nodes)
    if args.json:
        out = dict(t)
        if args.nodes:
            out["per_node"] = nodes
        print(_format.to_json(out))
        return 0
    size = lambda n: _format.size(n, args.bytes)  # noqa: E731
    rows = [
        (
            "total",
            size(t["capacity_bytes"]),
            size(t["used_bytes"]),
            size(t["free_bytes"]),
            _format.percent(t["used_bytes"], t["capacity_bytes"]),
            f"{t['live_nodes']}/{t['nodes']} nodes live",
        )
    ]
    if args.nodes:
        for n in nodes:
            rows.append(
                (
                    n["id"],
                    size(n.get("capacity") or 0),
                    size(n.get("used_bytes") or 0),
                    size(n.get("free_bytes") or 0),
                    _format.percent(n.get("used_bytes") or 0, n.get("capacity") or 0),
                    ("live" if n.get("alive") else "dead") + f", {n.get('state')}",
                )
            )
    header = ("", "SIZE", "USED", "AVAIL", "USE%", "NODES")
    print(_format.table(rows, header=header, right=[1, 2, 3, 4]))
    return 0

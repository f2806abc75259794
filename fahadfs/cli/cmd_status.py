"""`fahadfs status [--json]`: masters (role, term, commit index), nodes, replication health."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fahadfs import errors
from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session

NAME = "status"
HELP = "show masters, file nodes and replication health"
EPILOG = """examples:
  fahadfs status
  fahadfs status --json   {"leader", "safemode", "under_replicated_chunks",
                           "masters": [{"id", "role", "term", "commit_index", "alive"}],
                           "nodes": [{"id", "alive", "state", "used_bytes", "free_bytes",
                                      "chunks"}]}
exit status: 0 when a leader answered, 1 when no master leads (the report is still printed).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _status(s, args))


async def _status(s: Session, args: argparse.Namespace) -> int:
    view = await s.client.status()
    nodes: list[dict[str, Any]] = []
    node_error = None
    if any(m.get("alive") for m in view["masters"]):
        try:
            nodes = await s.client.nodes(deadline=5.0)
        except errors.FahadfsError as exc:
            node_error = exc.message
    report = build(s, view, nodes)
    if args.json:
        print(_format.to_json(report))
    else:
        print(render(report, args.bytes))
        if node_error:
            print(f"(nodes unavailable: {node_error})")
    if report["leader"] is None:
        reachable = sum(1 for m in report["masters"] if m["alive"])
        print(
            f"fahadfs: status: no leader ({reachable} of {len(report['masters'])} masters "
            f"reachable)",
            file=sys.stderr,
        )
        return 1
    return 0


def build(s: Session, view: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``status --json`` object from the masters' /status and the node list."""
    ids = {m.http_address: m.id for m in s.config.masters}
    masters = []
    health: dict[str, Any] | None = None
    for m in view["masters"]:
        alive = bool(m.get("alive"))
        row = {
            "id": m.get("id") or ids.get(m["address"], m["address"]),
            "role": m.get("role", "unreachable") if alive else "unreachable",
            "term": m.get("term"),
            "commit_index": m.get("commit_index"),
            "alive": alive,
            "address": m["address"],
            "has_quorum": m.get("has_quorum"),
            "last_applied": m.get("last_applied"),
        }
        if not alive:
            row["error"] = m.get("error")
        if m.get("role") == "leader" and isinstance(m.get("health"), dict):
            health = m["health"]
        masters.append(row)
    h = health or {}
    return {
        "cluster": s.config.name,
        "leader": view.get("leader"),
        "term": max((m["term"] or 0 for m in masters), default=0),
        "safemode": h.get("safemode"),
        "under_replicated_chunks": h.get("under_replicated_chunks"),
        "missing_chunks": len(h.get("missing_chunks") or []),
        "corrupt_reports": len(h.get("corrupt_reports") or {}),
        "repairs_running": h.get("repairs_running"),
        "seconds_to_full_redundancy": h.get("seconds_to_full_redundancy"),
        "masters": masters,
        "nodes": [
            {
                "id": n["id"],
                "alive": bool(n.get("alive")),
                "state": n.get("state"),
                "used_bytes": n.get("used_bytes"),
                "free_bytes": n.get("free_bytes"),
                "chunks": n.get("chunks"),
                "capacity": n.get("capacity"),
                "address": n.get("address"),
            }
            for n in sorted(nodes, key=lambda n: n["id"])
        ],
    }


def render(r: dict[str, Any], exact: bool = False) -> str:
    leader = r["leader"] or "NONE"
    safemode = {True: "ON", False: "off", None: "unknown"}[r["safemode"]]
    lines = [f"cluster {r['cluster']}: leader {leader}, term {r['term']}, safemode {safemode}"]
    lines.append("replication: " + _health_line(r))
    lines.append("")
    rows = [
        (
            m["id"],
            m["role"],
            m["term"] if m["term"] is not None else "-",
            m["commit_index"] if m["commit_index"] is not None else "-",
            m["address"],
            "" if m["alive"] else (m.get("error") or ""),
        )
        for m in r["masters"]
    ]
    lines.append(
        _format.table(
            rows, header=("MASTER", "ROLE", "TERM", "COMMIT", "ADDRESS", ""), right=[2, 3]
        )
    )
    lines.append("")
    live = sum(1 for n in r["nodes"] if n["alive"])
    lines.append(f"{live} of {len(r['nodes'])} file nodes live")
    if r["nodes"]:
        lines.append(_format.nodes_table(r["nodes"], exact))
    return "\n".join(lines)


def _health_line(r: dict[str, Any]) -> str:
    under, missing = r["under_replicated_chunks"], r["missing_chunks"]
    if under is None:
        return "unknown (no leader)"
    reports = r["corrupt_reports"]
    note = f"; {reports} chunks had a corrupt copy reported" if reports else ""
    if not under and not missing:
        return "healthy (every chunk has its full count of replicas)" + note
    parts = [f"{under} chunks under-replicated", f"{missing} missing"]
    if r["repairs_running"]:
        parts.append(f"{r['repairs_running']} repairs running")
    eta = r.get("seconds_to_full_redundancy")
    if eta:
        parts.append(f"full redundancy in ~{_format.duration(eta)}")
    return ", ".join(parts) + note

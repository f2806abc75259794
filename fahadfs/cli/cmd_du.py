"""`fahadfs du [-s] [-a] [PATH...]`: space used below paths."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import paths
from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session

NAME = "du"
HELP = "sum file sizes below paths"
EPILOG = """examples:
  fahadfs du /backup        every directory's total, deepest first
  fahadfs du -s /backup     one total
  fahadfs du -sb --json /   {"path", "size", "stored_bytes", "files", "dirs"}
Sizes are logical (file bytes); stored_bytes counts every replica.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="*", default=["/"], metavar="PATH", help="default: /")
    p.add_argument("-s", "--summarize", action="store_true", help="only a total per PATH")
    p.add_argument("-a", "--all", action="store_true", help="list files too")
    p.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _du(s, args))


def usage(
    root: str, walked: list[tuple[str, dict[str, Any]]], default_k: int
) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    """Totals for ``root`` and ``(path, size, type)`` of it and everything below, in du order
    (children before their directory); a directory's size sums all files below it."""
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}
    files = dirs = stored = 0
    for p, st in walked:
        kinds[p] = str(st.get("type"))
        if kinds[p] == "dir":
            sizes.setdefault(p, 0)
            dirs += p != root
            continue
        size = int(st.get("size") or 0)
        files += 1
        stored += size * (int(st.get("replication") or 0) or default_k)
        sizes[p] = size
        q = p
        while q != root:
            q = paths.parent(q)
            sizes[q] = sizes.get(q, 0) + size
    rows = sorted(((p, sizes[p], kinds[p]) for p in sizes), key=lambda r: _post_order(r[0]))
    total = {
        "path": root,
        "size": sizes.get(root, 0),
        "stored_bytes": stored,
        "files": files,
        "dirs": dirs,
    }
    return total, rows


def _post_order(p: str) -> tuple[str, ...]:
    """A key that sorts a path after everything below it."""
    return (*paths.split(p), "\U0010ffff")


async def _du(s: Session, args: argparse.Namespace) -> int:
    totals, lines = [], []
    for arg in args.paths:
        root = _context.remote(arg)
        total, rows = usage(root, await s.client.walk(root), s.config.replication)
        totals.append(total)
        if args.summarize:
            lines.append((total["size"], root))
            continue
        for p, n, kind in rows:
            if kind == "dir" or args.all or p == root:
                lines.append((n, p))
    if args.json:
        print(_format.to_json(totals[0] if len(totals) == 1 else totals))
        return 0
    print(_format.table([(_format.size(n, args.bytes), p) for n, p in lines], right=[0]))
    return 0

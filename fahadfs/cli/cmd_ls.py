"""`fahadfs ls [-l] [-R] [PATH...]`: list directories."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import paths
from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session

NAME = "ls"
HELP = "list a directory (a file lists itself)"
EPILOG = """examples:
  fahadfs ls /                 names; directories end with /
  fahadfs ls -l /isos          type, size, modification time, name
  fahadfs ls -lR /backup       everything below /backup
  fahadfs ls --json /isos      [{"name", "type", "size", "mtime"}] (mtime: seconds since epoch)
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="*", default=["/"], metavar="PATH", help="default: /")
    p.add_argument("-l", "--long", action="store_true", help="type, size and time too")
    p.add_argument("-R", "--recursive", action="store_true", help="list subdirectories too")
    p.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _ls(s, args))


def entry_json(e: dict[str, Any], path: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": e["name"],
        "type": e["type"],
        "size": int(e.get("size") or 0),
        "mtime": (e["mtime"] / 1000.0) if e.get("mtime") is not None else None,
    }
    if path is not None:
        out["path"] = path
    return out


async def _ls(s: Session, args: argparse.Namespace) -> int:
    listings: list[tuple[str, list[dict[str, Any]]]] = []
    for arg in args.paths:
        path = _context.remote(arg)
        if args.recursive:
            listings.extend(_group(path, await s.client.walk(path)))
        else:
            listings.append((path, await s.client.ls(path)))
    if args.json:
        if args.recursive or len(listings) > 1:
            rows = [
                entry_json(e, _context.child(d, e["name"]))
                for d, entries in listings
                for e in entries
            ]
        else:
            rows = [entry_json(e) for e in listings[0][1]]
        print(_format.to_json(rows))
        return 0
    headed = len(listings) > 1
    for i, (d, entries) in enumerate(listings):
        if headed:
            print(("\n" if i else "") + f"{d}:")
        text = _render(entries, args.long, args.bytes)
        if text:
            print(text)
    return 0


def _group(
    root: str, walked: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """walk output -> [(directory, its entries)] in walk order (a file root lists itself)."""
    if walked and walked[0][1].get("type") == "file":
        p, st = walked[0]
        return [(paths.parent(p), [{**st, "name": paths.basename(p)}])]
    dirs: dict[str, list[dict[str, Any]]] = {}
    for p, st in walked:
        if st.get("type") == "dir":
            dirs.setdefault(p, [])
        if p != root:
            dirs.setdefault(paths.parent(p), []).append({**st, "name": paths.basename(p)})
    return list(dirs.items())


def _render(entries: list[dict[str, Any]], long: bool, exact: bool) -> str:
    if not long:
        return "\n".join(e["name"] + ("/" if e["type"] == "dir" else "") for e in entries)
    rows = [
        (
            "d" if e["type"] == "dir" else "-",
            "-" if e["type"] == "dir" else _format.size(e.get("size", 0), exact),
            _format.mtime(e.get("mtime")),
            e["name"] + ("/" if e["type"] == "dir" else ""),
        )
        for e in entries
    ]
    return _format.table(rows, right=[1])

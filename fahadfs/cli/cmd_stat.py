"""`fahadfs stat [--json] PATH`: a file's size, version, replication and chunk map."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs.cli import _context, _format
from fahadfs.cli._context import Session

NAME = "stat"
HELP = "show a file's or directory's metadata and chunk map"
EPILOG = """examples:
  fahadfs stat /isos/big.iso
  fahadfs stat --json /isos/big.iso   {"path", "type", "size", "version", "replication",
                                       "chunks": [{"id", "size", "checksum", "replicas"}]}
Chunk ids are 16 hex digits; checksums are CRC32C as unsigned integers.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _stat(s, args))


def to_json(st: dict[str, Any]) -> dict[str, Any]:
    is_file = st.get("type") == "file"
    out: dict[str, Any] = {
        "path": st["path"],
        "type": st.get("type"),
        "size": int(st.get("size") or 0),
        "version": st.get("version"),
        "replication": st.get("replication"),
        "mtime": st["mtime"] / 1000.0 if st.get("mtime") is not None else None,
        "chunks": [
            {
                "id": f"{int(c['id']):016x}",
                "size": int(c["size"]),
                "checksum": int(c["checksum"]),
                "replicas": list(c.get("replicas") or []),
            }
            for c in st.get("chunks") or []
        ],
    }
    if not is_file:
        out["entries"] = st.get("entries", 0)
    return out


async def _stat(s: Session, args: argparse.Namespace) -> int:
    stats = [to_json(await s.client.stat(_context.remote(a))) for a in args.paths]
    if args.json:
        print(_format.to_json(stats[0] if len(stats) == 1 else stats))
        return 0
    alive: set[str] | None = None
    if any(st["chunks"] for st in stats):
        alive = {n["id"] for n in await s.client.nodes() if n.get("alive")}
    print("\n\n".join(render(st, alive) for st in stats))
    return 0


def render(st: dict[str, Any], alive: set[str] | None = None) -> str:
    rows = [("path", st["path"]), ("type", st["type"])]
    if st["type"] == "file":
        rows += [
            ("size", f"{_format.size(st['size'])} ({st['size']} bytes)"),
            ("version", st["version"]),
            ("replication", st["replication"]),
        ]
    else:
        rows.append(("entries", st.get("entries", 0)))
    rows.append(("modified", _format.mtime(st["mtime"] * 1000 if st["mtime"] else None)))
    if st["type"] == "file":
        rows.append(("chunks", len(st["chunks"])))
    text = _format.table([(f"{k}:", v) for k, v in rows])
    if st["chunks"]:

        def replicas(c: dict[str, Any]) -> str:
            names = [r if alive is None or r in alive else f"{r}(dead)" for r in c["replicas"]]
            return ",".join(names) or "-"

        chunk_rows = [
            (i, c["id"], _format.size(c["size"]), f"{c['checksum']:08x}", replicas(c))
            for i, c in enumerate(st["chunks"])
        ]
        text += "\n" + _format.table(
            chunk_rows,
            header=("#", "CHUNK", "SIZE", "CRC32C", "REPLICAS"),
            right=[0, 2],
            indent="  ",
        )
    return text

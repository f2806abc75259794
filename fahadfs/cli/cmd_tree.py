"""`fahadfs tree [PATH]`: the file system as a tree, with sizes and replica health."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import paths
from fahadfs.cli import _context, _format, _health
from fahadfs.cli._context import Session

NAME = "tree"
HELP = "draw a directory tree with sizes; flag files missing replicas"
EPILOG = """examples:
  fahadfs tree /               everything, with per-directory totals
  fahadfs tree -L 1 /backup    one level deep
  fahadfs tree --no-health /   skip the per-file replica check (faster on huge trees)
A file is marked [k/n replicas] when some chunk has fewer live copies (k) than its replication
factor (n), [MISSING] when a chunk has no live copy, [CORRUPT] when a known-bad copy remains.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("path", nargs="?", default="/", metavar="PATH", help="default: /")
    p.add_argument("-L", "--level", type=int, metavar="N", help="descend at most N levels")
    p.add_argument("-b", "--bytes", action="store_true", help="exact sizes in bytes")
    p.add_argument("--no-health", action="store_true", help="do not check replicas")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _tree(s, args))


async def _tree(s: Session, args: argparse.Namespace) -> int:
    root = _context.remote(args.path)
    walked = await s.client.walk(root)
    marks: dict[str, _health.Problem] = {}
    if not args.no_health:
        cluster = await _health.cluster_view(s.client)
        files = [p for p, st in walked if st.get("type") == "file"]
        for st in await _health.file_stats(s.client, files):
            w = _health.worst(_health.check_file(st, cluster))
            if w is not None:
                marks[str(st["path"])] = w
    node = build(root, walked, marks)
    if args.json:
        print(_format.to_json(node))
        return 0
    print("\n".join(render(node, args.level, args.bytes)))
    return 0


def build(
    root: str, walked: list[tuple[str, dict[str, Any]]], marks: dict[str, _health.Problem]
) -> dict[str, Any]:
    """walk output -> nested ``{"name", "path", "type", "size", "files", "children"|"health"}``;
    a directory's size and files count everything below it."""
    nodes: dict[str, dict[str, Any]] = {}
    for p, st in walked:
        n: dict[str, Any] = {
            "name": paths.basename(p) or "/",
            "path": p,
            "type": st.get("type"),
            "size": int(st.get("size") or 0),
        }
        if st.get("type") == "dir":
            n.update(files=0, dirs=0, children=[])
        else:
            mark = marks.get(p)
            n["health"] = _mark_json(mark)
            n["replication"] = st.get("replication")
        nodes[p] = n
        if p != root:
            nodes[paths.parent(p)]["children"].append(n)
    top = nodes[root]
    _totals(top)
    return top


def _totals(n: dict[str, Any]) -> None:
    if n["type"] != "dir":
        return
    for c in n["children"]:
        _totals(c)
        n["size"] += c["size"]
        if c["type"] == "dir":
            n["files"] += c["files"]
            n["dirs"] += 1 + c["dirs"]
        else:
            n["files"] += 1


def _mark_json(p: _health.Problem | None) -> dict[str, Any]:
    if p is None:
        return {"ok": True}
    return {"ok": False, "problem": p.problem, "live": p.live, "replication": p.replication}


def _label(n: dict[str, Any], exact: bool, name: str | None = None) -> str:
    name = name if name is not None else n["name"]
    if n["type"] == "dir":
        slash = "" if name.endswith("/") else "/"
        total = _format.size(n["size"], exact)
        return f"{name}{slash}  ({_format.plural(n['files'], 'file')}, {total})"
    text = f"{name}  {_format.size(n['size'], exact)}"
    h = n.get("health") or {}
    if h.get("problem") == _health.MISSING:
        text += "  [MISSING]"
    elif h.get("problem") == _health.CORRUPT:
        text += "  [CORRUPT]"
    elif h.get("problem") == _health.UNDER:
        text += f"  [{h['live']}/{h['replication']} replicas]"
    return text


def render(top: dict[str, Any], level: int | None, exact: bool) -> list[str]:
    def items(n: dict[str, Any], depth: int) -> list[_format.TreeItem]:
        out: list[_format.TreeItem] = []
        for c in n.get("children", []):
            sub = None
            if c["type"] == "dir" and (level is None or depth < level):
                sub = items(c, depth + 1)
            out.append((_label(c, exact), sub))
        return out

    lines = _format.tree_lines(_label(top, exact, top["path"]), items(top, 1))
    flagged = _count_flagged(top)
    summary = (
        f"{_format.plural(top.get('dirs', 0), 'directory', 'directories')}, "
        f"{_format.plural(top.get('files', 1 if top['type'] == 'file' else 0), 'file')}, "
        f"{_format.size(top['size'], exact)}"
    )
    if flagged:
        summary += f"; {_format.plural(flagged, 'file')} short of replicas"
    return [*lines, "", summary]


def _count_flagged(n: dict[str, Any]) -> int:
    if n["type"] != "dir":
        return 0 if (n.get("health") or {}).get("ok", True) else 1
    return sum(_count_flagged(c) for c in n["children"])

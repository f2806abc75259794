"""`fahadfs cp [-r] SRC... DST`: copy files (the copy shares the chunks: no data moves)."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import errors, paths
from fahadfs.cli import _context
from fahadfs.cli._context import Session

NAME = "cp"
HELP = "copy files or trees (-r) inside the file system"
EPILOG = """examples:
  fahadfs cp /isos/a.iso /isos/a-copy.iso
  fahadfs cp /isos/a.iso /archive       into an existing directory
  fahadfs cp -r /backup/2024 /old       a tree
A copy references the same chunks (copy-on-write); it costs metadata only.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _cp(s, args))


async def _cp(s: Session, args: argparse.Namespace) -> int:
    if len(args.sources) > 1:
        dst = _context.remote(args.dst)
        st = await _context.stat_or_none(s.client, dst)
        if st is None or st.get("type") != "dir":
            raise errors.NotADirectory(f"cp: target {dst} is not an existing directory")
    for arg in args.sources:
        src = _context.remote(arg)
        st = await s.client.stat(src)
        name = paths.basename(src)
        target = await _context.resolve_target(s.client, f"cp {src}", args.dst, name or "root")
        if st.get("type") == "file":
            await s.client.cp(src, target)
            continue
        if not args.recursive:
            raise errors.IsADirectory(f"cp {src}: is a directory (use -r)")
        if paths.is_within(target, src):
            raise errors.InvalidArgument(f"cp {src} {target}: cannot copy a directory into itself")
        await _copy_tree(s, src, target)
    return 0


async def _copy_tree(s: Session, src: str, target: str) -> None:
    existing = await _context.stat_or_none(s.client, target)
    if existing is not None and existing.get("type") != "dir":
        raise errors.NotADirectory(f"cp {src}: {target} is a file, not a directory")
    if existing is None:
        await s.client.mkdir(target)
    walked = await s.client.walk(src)
    files = []
    for p, st in walked[1:]:
        dest = target + p[len(src) :]  # src is never / (a copy of / lands inside /)
        if st.get("type") == "dir":
            await s.client.mkdir(dest, parents=True)
        else:
            files.append((p, dest))

    def job(a: str, b: str) -> Any:
        return lambda: s.client.cp(a, b)

    await _context.bounded([job(a, b) for a, b in files], 16)

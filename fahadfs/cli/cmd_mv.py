"""`fahadfs mv SRC... DST`: rename or move into a directory (atomic, metadata only)."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import errors, paths
from fahadfs.cli import _context
from fahadfs.cli._context import Session

NAME = "mv"
HELP = "move or rename files and directories"
EPILOG = """examples:
  fahadfs mv /isos/a.iso /isos/b.iso   rename (replaces an existing file b.iso)
  fahadfs mv /isos/a.iso /archive      into an existing directory: /archive/a.iso
  fahadfs mv /a /b /c /dest/           several into a directory
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _mv(s, args))


async def _mv(s: Session, args: argparse.Namespace) -> int:
    if len(args.sources) > 1:
        dst = _context.remote(args.dst)
        st = await _context.stat_or_none(s.client, dst)
        if st is None or st.get("type") != "dir":
            raise errors.NotADirectory(f"mv: target {dst} is not an existing directory")
    for arg in args.sources:
        src = _context.remote(arg)
        target = await _context.resolve_target(
            s.client, f"mv {src}", args.dst, paths.basename(src) or "/"
        )
        await s.client.mv(src, target)
        s.debug(f"mv {src} -> {target}")
        if s.cache is not None:
            s.cache.discard(s.cluster, src)
    return 0

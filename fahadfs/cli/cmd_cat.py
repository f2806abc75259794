"""`fahadfs cat PATH...`: stream files to stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fahadfs import errors
from fahadfs.cli import _context, _transfer
from fahadfs.cli._context import Session
from fahadfs.cli._progress import Bar

NAME = "cat"
HELP = "write remote files to stdout"
EPILOG = """examples:
  fahadfs cat /etc/motd
  fahadfs cat /logs/a.log /logs/b.log | grep ERROR
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH", help="remote file")
    _context.add_cache_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _cat(s, args))


async def _cat(s: Session, args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    for arg in args.paths:
        path = _context.remote(arg)
        st = await s.client.stat(path)
        if st.get("type") != "file":
            raise errors.IsADirectory(f"cat {path}: is a directory")
        with Bar(args, 0, "cat") as bar:
            await _transfer.fetch(s, st, out, bar)
        out.flush()
    return 0

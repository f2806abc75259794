"""`fahadfs rmdir PATH...`: remove empty directories."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs.cli import _context
from fahadfs.cli._context import Session

NAME = "rmdir"
HELP = "remove empty directories"
EPILOG = """examples:
  fahadfs rmdir /isos        fails if /isos is not empty (see rm -r)
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _rmdir(s, args))


async def _rmdir(s: Session, args: argparse.Namespace) -> int:
    for arg in args.paths:
        await s.client.rmdir(_context.remote(arg))
    return 0

"""`fahadfs mkdir [-p] PATH...`: create directories."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import errors
from fahadfs.cli import _context
from fahadfs.cli._context import Session

NAME = "mkdir"
HELP = "create directories"
EPILOG = """examples:
  fahadfs mkdir /isos
  fahadfs mkdir -p /backup/2024/11    with missing parents; no error if it exists
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-p", "--parents", action="store_true", help="make parents; exist ok")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _mkdir(s, args))


async def _mkdir(s: Session, args: argparse.Namespace) -> int:
    for arg in args.paths:
        path = _context.remote(arg)
        try:
            await s.client.mkdir(path, parents=args.parents)
        except errors.NotFound as exc:
            raise errors.NotFound(f"{exc.message} (use -p)") from None
    return 0

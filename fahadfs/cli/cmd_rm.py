"""`fahadfs rm [-r] [-f] PATH...`: remove files (and directories with -r)."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs import errors
from fahadfs.cli import _context
from fahadfs.cli._context import Session

NAME = "rm"
HELP = "remove files, or directory trees with -r"
EPILOG = """examples:
  fahadfs rm /isos/old.iso
  fahadfs rm -r /backup/2023       a directory and everything below it
  fahadfs rm -f /maybe/there       no error if it does not exist
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-r", "--recursive", action="store_true", help="remove directories too")
    p.add_argument("-f", "--force", action="store_true", help="ignore paths that do not exist")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _rm(s, args))


async def _rm(s: Session, args: argparse.Namespace) -> int:
    for arg in args.paths:
        path = _context.remote(arg)
        try:
            await _rm_one(s, path, args.recursive)
        except errors.NotFound:
            if not args.force:
                raise
    return 0


async def _rm_one(s: Session, path: str, recursive: bool) -> None:
    try:
        await s.client.rm(path)
    except errors.IsADirectory:
        if not recursive:
            st = await s.client.stat(path)
            if st.get("entries"):
                raise errors.IsADirectory(
                    f"rm {path}: is a directory and not empty (use -r)"
                ) from None
            raise errors.IsADirectory(f"rm {path}: is a directory (use -r or rmdir)") from None
        await s.client.rmdir(path, recursive=True)
        return
    if s.cache is not None:
        s.cache.discard(s.cluster, path)

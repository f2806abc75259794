"""`fahadfs get REMOTE... LOCAL [-r]`: download files or trees (to stdout with -)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fahadfs import errors, paths
from fahadfs.cli import _context, _format, _transfer
from fahadfs.cli._context import Session
from fahadfs.cli._progress import Bar

NAME = "get"
HELP = "download remote files, directories (-r) or to stdout (-)"
EPILOG = """examples:
  fahadfs get /isos/big.iso copy.iso      download one file
  fahadfs get /docs/a.txt /docs/b.txt .   into an existing local directory
  fahadfs get -r /backup/photos ~/restore a tree
  fahadfs get /src.tar - | tar x          to stdout
A file downloaded within the cache TTL and unchanged since (same version) is served from the
local cache after one stat, verified against the chunk checksums; --no-cache skips the cache.
"""
PARALLEL_FILES = 4


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("sources", nargs="+", metavar="REMOTE", help="remote file or directory")
    p.add_argument("local", metavar="LOCAL", help="local file or directory, or - for stdout")
    p.add_argument("-r", "--recursive", action="store_true", help="download directories")
    p.add_argument("--parallel", type=int, default=PARALLEL_FILES, help="files at once (4)")
    _context.add_cache_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _get(s, args))


Job = tuple[dict[str, Any] | None, str, str, int]  # (stat if known, remote, local, size)


async def _get(s: Session, args: argparse.Namespace) -> int:
    if args.local == "-":
        for src in args.sources:
            st = await _file_stat(s, src)
            with Bar(args, 0, "get") as bar:
                await _transfer.fetch(s, st, sys.stdout.buffer, bar)
        sys.stdout.buffer.flush()
        return 0
    local_is_dir = os.path.isdir(args.local)
    if len(args.sources) > 1 and not local_is_dir:
        raise errors.NotADirectory(f"get: {args.local} is not an existing local directory")
    jobs: list[Job] = []
    mkdirs: list[str] = []
    for src in args.sources:
        await _plan(s, args, _context.remote(src), local_is_dir, jobs, mkdirs)
    for d in mkdirs:
        os.makedirs(d, exist_ok=True)
    results = await _download(s, args, jobs)
    if args.json:
        print(_format.to_json(sorted(results, key=lambda r: r["path"])))
    return 0


async def _plan(
    s: Session,
    args: argparse.Namespace,
    path: str,
    local_is_dir: bool,
    jobs: list[Job],
    mkdirs: list[str],
) -> None:
    """Check one source and its local target; add its files and directories (nothing written)."""
    st = await s.client.stat(path)
    name = paths.basename(path)
    if st.get("type") == "file":
        target = os.path.join(args.local, name) if local_is_dir else args.local
        if os.path.isdir(target):
            raise errors.IsADirectory(f"get {path}: {target} is an existing local directory")
        _check_parent(path, target)
        jobs.append((st, path, target, int(st["size"])))
        return
    if not args.recursive:
        raise errors.IsADirectory(f"get {path}: is a directory (use -r)")
    root = os.path.join(args.local, name) if local_is_dir and name else args.local
    if os.path.exists(root) and not os.path.isdir(root):
        raise errors.NotADirectory(f"get {path}: {root} exists and is not a directory")
    _check_parent(path, root)
    for sub, sst in await s.client.walk(path):
        rel = sub[len(path) :].lstrip("/") if path != "/" else sub.lstrip("/")
        local = os.path.join(root, *rel.split("/")) if rel else root
        if sst.get("type") == "dir":
            mkdirs.append(local)
        else:
            jobs.append((None, sub, local, int(sst.get("size", 0))))


async def _download(s: Session, args: argparse.Namespace, jobs: list[Job]) -> list[dict[str, Any]]:
    """Fetch every file (through the cache), a few at a time, under one progress bar."""
    results: list[dict[str, Any]] = []
    total = sum(size for *_, size in jobs)
    desc = os.path.basename(jobs[0][2]) if len(jobs) == 1 else "get"
    with Bar(args, total, desc, files=len(jobs) if len(jobs) > 1 else 0) as bar:

        def job(st: dict[str, Any] | None, remote: str, local: str) -> Any:
            async def go() -> None:
                fresh = st if st is not None else await s.client.stat(remote)
                source = await _transfer.fetch(s, fresh, local, bar)
                bar.file_done()
                results.append(
                    {
                        "path": remote,
                        "local": local,
                        "size": int(fresh["size"]),
                        "version": fresh.get("version"),
                        "source": source,
                    }
                )

            return go

        await _context.bounded([job(st, r, lo) for st, r, lo, _ in jobs], max(1, args.parallel))
    return results


async def _file_stat(s: Session, src: str) -> dict[str, Any]:
    path = _context.remote(src)
    st = await s.client.stat(path)
    if st.get("type") != "file":
        raise errors.IsADirectory(f"get {path}: is a directory")
    return st


def _check_parent(remote: str, local: str) -> None:
    parent = os.path.dirname(os.path.abspath(local))
    if not os.path.isdir(parent):
        raise errors.NotFound(f"get {remote}: no such local directory {parent}")

"""`fahadfs put LOCAL... REMOTE [-r]`: upload files, directory trees or stdin."""

from __future__ import annotations

import argparse
import os
import stat as stat_mod
import sys
from dataclasses import dataclass
from typing import Any

from fahadfs import config as config_mod
from fahadfs import errors, paths
from fahadfs.cli import _context, _format, _transfer
from fahadfs.cli._context import Session
from fahadfs.cli._progress import Bar

NAME = "put"
HELP = "upload local files, directories (-r) or stdin (-)"
EPILOG = """examples:
  fahadfs put big.iso /isos/big.iso       upload one file under a new name
  fahadfs put -p big.iso /isos/2024/      creating missing directories
  fahadfs put a.txt b.txt /docs           into an existing directory: /docs/a.txt, /docs/b.txt
  fahadfs put -r photos /backup           a tree: /backup/photos/... if /backup exists
  tar c src | fahadfs put - /src.tar      from stdin
REMOTE that is an existing directory (or ends with /) receives the files under their own names.
An existing file is replaced atomically. Uploaded files also refresh the local cache.
"""
PARALLEL_FILES = 4


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("sources", nargs="+", metavar="LOCAL", help="local file, directory or -")
    p.add_argument("remote", metavar="REMOTE", help="remote file or directory")
    p.add_argument("-r", "--recursive", action="store_true", help="upload directories")
    p.add_argument(
        "-p", "--parents", action="store_true", help="create missing remote parent directories"
    )
    p.add_argument("--replication", type=int, metavar="K", help="copies of each chunk")
    p.add_argument("--chunk-size", metavar="SIZE", help="e.g. 8MiB (default: the cluster's)")
    p.add_argument("--parallel", type=int, default=PARALLEL_FILES, help="files at once (4)")
    _context.add_cache_flags(p)
    p.set_defaults(run=run)


@dataclass
class _Plan:
    dirs: list[str]  # remote directories to create, parents first
    new_root: str | None  # a tree root that must be created without -p (its parent must exist)
    files: list[tuple[str, str, int]]  # (local, remote, size)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _put(s, args))


async def _put(s: Session, args: argparse.Namespace) -> int:
    chunk_size = None
    if args.chunk_size:
        chunk_size = config_mod.parse_size(args.chunk_size, "--chunk-size")
    if "-" in args.sources:
        if len(args.sources) > 1:
            raise errors.InvalidArgument("put: '-' (stdin) cannot be combined with other sources")
        return await _put_stdin(s, args, chunk_size)
    if len(args.sources) > 1:
        dst = _context.remote(args.remote)
        st = await _context.stat_or_none(s.client, dst)
        if st is None or st.get("type") != "dir":
            raise errors.NotADirectory(f"put: target {dst} is not an existing directory")
    plans = [await _plan(s, args, src) for src in args.sources]
    files = [f for p in plans for f in p.files]
    results: list[dict[str, Any]] = []
    total = sum(size for _, _, size in files)
    desc = os.path.basename(files[0][0]) if len(files) == 1 else "put"
    with Bar(args, total, desc, files=len(files) if len(files) > 1 else 0) as bar:
        for plan in plans:
            if plan.new_root is not None:
                await s.client.mkdir(plan.new_root, parents=args.parents)
            for d in plan.dirs:
                await s.client.mkdir(d, parents=True)

        def job(local: str, target: str) -> Any:
            async def go() -> None:
                res = await _transfer.upload(
                    s, local, target, bar, replication=args.replication, chunk_size=chunk_size
                )
                bar.file_done()
                s.debug(f"put {local} -> {res.path} ({_format.size(res.size)}, v{res.version})")
                results.append(
                    {
                        "local": local,
                        "path": res.path,
                        "size": res.size,
                        "version": res.version,
                        "chunks": res.chunks,
                    }
                )

            return go

        await _context.bounded([job(lo, re) for lo, re, _ in files], max(1, args.parallel))
    if args.json:
        print(_format.to_json(sorted(results, key=lambda r: r["path"])))
    return 0


async def _put_stdin(s: Session, args: argparse.Namespace, chunk_size: int | None) -> int:
    target = _context.remote(args.remote)
    st = await _context.stat_or_none(s.client, target)
    if (st is not None and st.get("type") == "dir") or _context.wants_dir(args.remote):
        raise errors.IsADirectory(f"put -: {target} is a directory; name the file to write")
    if st is None:
        parent = paths.parent(target)
        if args.parents:
            await s.client.mkdir(parent, parents=True)
        elif await _context.stat_or_none(s.client, parent) is None:
            raise errors.NotFound(f"put -: no such directory {parent} (use -p)")
    with Bar(args, 0, "put") as bar:
        res = await _transfer.upload(
            s, sys.stdin.buffer, target, bar, replication=args.replication, chunk_size=chunk_size
        )
    if args.json:
        row = {"local": "-", "path": res.path, "size": res.size, "version": res.version}
        print(_format.to_json([{**row, "chunks": res.chunks}]))
    return 0


async def _plan(s: Session, args: argparse.Namespace, src: str) -> _Plan:
    """Check one source and the remote side, and list what to create (nothing is changed)."""
    try:
        st = os.stat(src)
    except FileNotFoundError:
        raise errors.NotFound(f"put {src}: no such local file or directory") from None
    except OSError as exc:
        raise errors.FahadfsError(f"put {src}: {exc.strerror}") from None
    name = os.path.basename(os.path.abspath(src))
    if not stat_mod.S_ISDIR(st.st_mode):
        dst = _context.remote(args.remote)
        if (
            args.parents
            and _context.wants_dir(args.remote)
            and await _context.stat_or_none(s.client, dst) is None
        ):
            target = _context.child(dst, name)  # a directory that -p creates
        else:
            target = await _context.resolve_target(s.client, f"put {src}", args.remote, name)
        existing = await _context.stat_or_none(s.client, target)
        if existing is not None and existing.get("type") == "dir":
            raise errors.IsADirectory(f"put {src}: {target} is an existing directory")
        parents: list[str] = []
        if existing is None:
            parent = paths.parent(target)
            pst = await _context.stat_or_none(s.client, parent)
            if pst is None and args.parents:
                parents.append(parent)
            elif pst is None:
                raise errors.NotFound(f"put {src}: no such directory {parent} (use -p)")
            elif pst.get("type") != "dir":
                raise errors.NotADirectory(f"put {src}: {parent} is not a directory")
        return _Plan(parents, None, [(src, target, st.st_size)])
    if not args.recursive:
        raise errors.IsADirectory(f"put {src}: is a directory (use -r)")
    dst = _context.remote(args.remote)
    dst_st = await _context.stat_or_none(s.client, dst)
    if dst_st is not None and dst_st.get("type") != "dir":
        raise errors.NotADirectory(f"put {src}: {dst} is a file, not a directory")
    if dst_st is None and _context.wants_dir(args.remote) and not args.parents:
        raise errors.NotFound(f"put {src}: no such directory {dst} (use -p)")
    root = _context.child(dst, name) if dst_st is not None else dst
    return _walk_local(src, root, new_root=root if dst_st is None else None)


def _walk_local(src: str, root: str, new_root: str | None) -> _Plan:
    dirs: list[str] = [] if new_root else [root]
    files: list[tuple[str, str, int]] = []
    for here, subdirs, names in os.walk(src, onerror=_raise):
        subdirs.sort()
        rel = os.path.relpath(here, src)
        base = root if rel == "." else _context.child(root, rel.replace(os.sep, "/"))
        if rel != ".":
            dirs.append(base)
        for name in sorted(names):
            local = os.path.join(here, name)
            try:
                st = os.stat(local)
            except OSError as exc:
                raise errors.FahadfsError(f"put {local}: {exc.strerror}") from None
            if not stat_mod.S_ISREG(st.st_mode):
                print(f"fahadfs: put: skipping {local}: not a regular file", file=sys.stderr)
                continue
            files.append((local, _context.child(base, name), st.st_size))
    return _Plan(dirs, new_root, files)


def _raise(exc: OSError) -> None:
    raise errors.FahadfsError(f"put {exc.filename}: {exc.strerror}")

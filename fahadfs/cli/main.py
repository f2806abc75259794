"""The `fahadfs` entry point: global flags, one module per command, errors as one line.

Exit codes: 0 success, 1 an operation failed (one line on stderr), 2 usage error
(fsck: 0 healthy, 1 unhealthy). With -v a failure also prints its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from fahadfs.errors import FahadfsError

# Command modules, each with NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = (
    "cmd_cluster",
    "cmd_status",
    "cmd_put",
    "cmd_get",
    "cmd_cat",
    "cmd_ls",
    "cmd_tree",
    "cmd_stat",
    "cmd_mkdir",
    "cmd_rm",
    "cmd_rmdir",
    "cmd_mv",
    "cmd_cp",
    "cmd_du",
    "cmd_df",
    "cmd_fsck",
    "cmd_node",
    "cmd_master",
    "cmd_completion",
)

EPILOG = """examples:
  fahadfs cluster up --detach          start the local cluster of ./cluster.toml
  fahadfs put -p big.iso /isos/        upload into /isos/ (-p: create it; -r: a directory)
  fahadfs ls -l /isos                  list a directory
  fahadfs tree /                       the whole tree with sizes and replica health
  fahadfs get /isos/big.iso copy.iso   download (served from the local cache if unchanged)
  fahadfs status                       masters, nodes and replication health
  fahadfs fsck --json                  files with under-replicated, missing or corrupt chunks
  fahadfs COMMAND --help               each command's flags and examples

environment:
  FAHADFS_CONFIG       cluster file (like -c)
  FAHADFS_TIMEOUT      seconds a command may wait for the cluster (like --timeout)
  FAHADFS_CACHE_DIR    local cache directory (default ~/.cache/fahadfs)
  FAHADFS_CACHE_TTL    seconds a cached file is served after one stat (default 300)
  FAHADFS_CACHE_MAX    cache size limit (default 1GiB)

exit status:
  0  success (fsck: the tree is healthy)
  1  the operation failed, one line on stderr (fsck: the tree is unhealthy)
  2  usage error (bad flags or arguments)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fahadfs",
        description="fahadfs: a fault-tolerant distributed file system.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_flags(parser)
    common = argparse.ArgumentParser(add_help=False)
    add_global_flags(common, default=argparse.SUPPRESS)
    sub = _WithParents(parser.add_subparsers(dest="command", metavar="COMMAND"), common)
    for name in COMMANDS:
        module = importlib.import_module(f"fahadfs.cli.{name}")
        module.register(sub)
    return parser


class _WithParents:
    """Subparser factory that gives every (nested) command the global flags too, so
    ``fahadfs ls -c x.toml /`` works as well as ``fahadfs -c x.toml ls /``."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub, self._common = sub, common

    def add_parser(self, name: str, **kw: Any) -> argparse.ArgumentParser:
        kw.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        p = self._sub.add_parser(name, parents=[self._common], **kw)
        original = p.add_subparsers

        def add_subparsers(**skw: Any) -> _WithParents:
            return _WithParents(original(**skw), self._common)

        p.add_subparsers = add_subparsers  # type: ignore[method-assign]
        return p


def add_global_flags(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """-c, --masters, --json, -q, -v; subcommands get them with SUPPRESS so they don't reset."""
    flag = False if default is None else default
    parser.add_argument(
        "-c",
        "--config",
        default=default,
        help="cluster file (default: $FAHADFS_CONFIG, else ./cluster.toml)",
    )
    parser.add_argument("--masters", default=default, help="override masters: host:port,...")
    parser.add_argument("--json", action="store_true", default=flag, help="structured output")
    parser.add_argument("-q", "--quiet", action="store_true", default=flag, help="no progress")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=flag, help="details; tracebacks"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default,
        metavar="SECONDS",
        help="how long to wait for the cluster (default: $FAHADFS_TIMEOUT, else 30)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("fahadfs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"fahadfs: {describe(exc)}", file=sys.stderr)
        return 1


def describe(exc: BaseException) -> str:
    """One line for a failure: the fahadfs message, a local OS error, or an internal error."""
    if isinstance(exc, FahadfsError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)"


def _silence_stdout() -> None:
    """After a closed pipe (``fahadfs cat f | head``), keep the exit flush from failing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass

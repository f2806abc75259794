"""The `fahadfs` entry point: global flags, one module per command, errors as one line.

Exit codes: 0 success, 1 an operation failed (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from fahadfs.errors import FahadfsError

# Command modules, each with NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = (
    "cmd_master",
    "cmd_node",
    "cmd_cluster",
)

EPILOG = """examples:
  fahadfs cluster up --detach          start the local cluster of ./cluster.toml
  fahadfs put big.iso /isos/big.iso    upload a file
  fahadfs ls -l /isos                  list a directory
  fahadfs status                       masters, nodes and replication health
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
    parser.add_argument("-v", "--verbose", action="store_true", default=flag, help="tracebacks")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except FahadfsError as exc:
        if args.verbose:
            raise
        print(f"fahadfs: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fahadfs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1

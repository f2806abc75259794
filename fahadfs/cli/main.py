"""The `fahadfs` entry point: global flags, one module per command, errors as one line.

Exit codes: 0 success, 1 an operation failed (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"fahadfs.cli.{name}")
        module.register(sub)
    return parser


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", help="cluster file (default: $FAHADFS_CONFIG, else ./cluster.toml)"
    )
    parser.add_argument("--masters", help="override the masters: host:port,host:port,...")
    parser.add_argument("--json", action="store_true", help="structured output for scripts")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")


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

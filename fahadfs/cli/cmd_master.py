"""`fahadfs master --id ID [-c FILE]`: run one master replica in the foreground."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "master",
        help="run a master (Raft replica + HTTP API)",
        epilog="example: fahadfs master --id m1 -c cluster.toml",
    )
    p.add_argument("--id", required=True, help="master id from cluster.toml")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fahadfs.meta_raft.main import main_master

    return main_master(args.id, args.config)

"""`fahadfs node --id ID [--listen HOST:PORT] [--data DIR]`: run one file node."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "node",
        help="run a file node, or manage nodes (list, drain, undrain)",
        epilog=(
            "examples:\n  fahadfs node --id n1 -c cluster.toml\n"
            "  fahadfs node --id n9 --listen 127.0.0.1:7309 --data /srv/n9   (not in the file)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--id", help="node id (from cluster.toml, or a new one with --listen)")
    p.add_argument("--listen", help="HOST:PORT to serve on (default: from cluster.toml)")
    p.add_argument("--data", help="data directory (default: <data_dir>/<id>)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fahadfs.storage.server import main_node

    if not args.id:
        raise SystemExit("fahadfs node: --id is required to run a node")
    return main_node(args.id, args.config, args.listen, args.data)

"""`fahadfs fsck [PATH] [--json]`: files whose chunks are under-replicated, missing or corrupt."""

from __future__ import annotations

import argparse
from typing import Any

from fahadfs.cli import _context, _format, _health
from fahadfs.cli._context import Session

NAME = "fsck"
HELP = "check replica health below PATH (exit 0 healthy, 1 not)"
EPILOG = """examples:
  fahadfs fsck                 the whole tree
  fahadfs fsck /backup --json  {"healthy", "files", "chunks", "under_replicated", "missing",
                               "corrupt", "problems": [...]}
exit status: 0 every chunk has its full count of good copies, 1 otherwise (or on an error).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(NAME, help=HELP, description=HELP, epilog=EPILOG)
    p.add_argument("path", nargs="?", default="/", metavar="PATH", help="default: /")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _context.run(args, lambda s: _fsck(s, args))


async def _fsck(s: Session, args: argparse.Namespace) -> int:
    path = _context.remote(args.path)
    walked = await s.client.walk(path)
    files = [p for p, st in walked if st.get("type") == "file"]
    cluster = await _health.cluster_view(s.client)
    stats = await _health.file_stats(s.client, files)
    report = _health.summarize(path, stats, cluster)
    report["dirs"] = sum(1 for _, st in walked if st.get("type") == "dir")
    if args.json:
        print(_format.to_json(report))
    else:
        print(render(report))
    return 0 if report["healthy"] else 1


def render(report: dict[str, Any]) -> str:
    lines = []
    by_file: dict[str, list[dict[str, Any]]] = {}
    for p in report["problems"]:
        by_file.setdefault(p["path"], []).append(p)
    for path, problems in by_file.items():
        kinds = sorted({p["problem"].replace("_", "-") for p in problems})
        lines.append(f"{path}: {len(problems)} of its chunks {'/'.join(kinds)}")
        for p in problems:
            bad = f", bad copies on {','.join(p['bad_replicas'])}" if p["bad_replicas"] else ""
            lines.append(
                f"  chunk {p['chunk']}: {p['problem'].replace('_', '-')}, "
                f"{p['live_replicas']}/{p['replication']} live "
                f"(replicas {','.join(p['replicas']) or '-'}{bad})"
            )
    verdict = "HEALTHY" if report["healthy"] else "UNHEALTHY"
    lines.append(
        f"fsck {report['path']}: {_format.plural(report['files'], 'file')}, "
        f"{_format.plural(report['chunks'], 'chunk')} ({_format.size(report['bytes'])}): "
        f"{report['under_replicated']} under-replicated, {report['missing']} missing, "
        f"{report['corrupt']} corrupt: {verdict}"
    )
    return "\n".join(lines)

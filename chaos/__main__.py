"""python -m chaos: run chaos scenarios against a real local fahadfs cluster and check them.

examples:
  python -m chaos --mode ci                         # the core scenarios, ~5 minutes
  python -m chaos --scenario leader-partition --seed 7 --duration 40
  python -m chaos --scenario node-kill+corruption --seed 3
  python -m chaos --mode soak --duration 600 --seeds 1..5
  python -m chaos --replay chaos-runs/node-kill-s1-.../schedule.json
  python -m chaos --hosts netns --scenario leader-partition   # one network namespace per process

Exit status: 0 when every run PASSes or SKIPs (a fault that cannot be injected here), 1 when
any run FAILs, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from chaos import report, runner, schedule

CI_DURATION = 30.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m chaos", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument(
        "--mode",
        choices=["run", "ci", "soak"],
        default="run",
        help="ci: the core scenarios; soak: every scenario mixed, over --seeds",
    )
    p.add_argument(
        "--scenario",
        default="node-kill",
        help=f"one of {', '.join(schedule.SCENARIOS)}, several joined with +, or mixed",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", help="seeds for soak mode: A..B or a,b,c")
    p.add_argument("--duration", type=float, help="seconds of workload and faults per run")
    p.add_argument("--workers", type=int, default=5, help="concurrent clients")
    p.add_argument("--replay", type=Path, help="a saved schedule.json (or its run directory)")
    p.add_argument("--hosts", choices=["loopback", "netns"], default="loopback")
    p.add_argument("--out", type=Path, default=Path("chaos-runs"), help="where run directories go")
    p.add_argument(
        "--restore-bound",
        type=float,
        default=30.0,
        help="max seconds from a file-node kill to full redundancy",
    )
    p.add_argument("--keep-data", action="store_true", help="keep chunk files in the run directory")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for every cluster process (tests: FAHADFS_TEST_ACK_BEFORE_STORE=1)",
    )
    p.add_argument("--json", action="store_true", help="print the summaries as JSON lines")
    return p


def schedules(args: argparse.Namespace) -> list[schedule.Schedule]:
    if args.replay:
        path = args.replay / "schedule.json" if args.replay.is_dir() else args.replay
        return [schedule.load(path)]
    if args.mode == "ci":
        d = args.duration or CI_DURATION
        return [schedule.make(args.seed, s, d, args.workers) for s in schedule.CI_SCENARIOS]
    if args.mode == "soak":
        seeds = schedule.parse_seeds(args.seeds or str(args.seed))
        d = args.duration or 300.0
        return [schedule.make(s, "mixed", d, args.workers) for s in seeds]
    return [schedule.make(args.seed, args.scenario, args.duration or 45.0, args.workers)]


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every process is stopped and every rule removed."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scheds = schedules(args)
        env = dict(item.split("=", 1) for item in args.env)
    except (ValueError, OSError, KeyError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    if args.hosts == "netns":
        from chaos import netns

        why = netns.available()
        if why:
            print(f"chaos: --hosts netns: {why}", file=sys.stderr)
            return 2
    rc = runner.RunConfig(
        out=args.out, hosts=args.hosts, restore_bound=args.restore_bound, env=env,
        keep_data=args.keep_data, quiesce_timeout=40.0 if args.mode == "ci" else 90.0,
    )  # fmt: skip
    _exit_on_sigterm()
    summaries = []
    for sched in scheds:
        print(
            f"chaos: {sched.scenario} seed {sched.seed}, {sched.duration:.0f}s, "
            f"{len(sched.actions)} fault actions ...",
            file=sys.stderr,
            flush=True,
        )
        s = runner.run(sched, rc)
        summaries.append(s)
        print(
            f"chaos: {s.scenario} seed {s.seed}: {s.result} ({s.run_dir})",
            file=sys.stderr,
            flush=True,
        )
    if args.json:
        for s in summaries:
            print(json.dumps(s.to_json()))
    else:
        print(report.table(summaries))
    return 1 if any(s.result == report.FAIL for s in summaries) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""End to end: real fahadfs processes under a real schedule; and a broken cluster must FAIL.

Each run takes a fresh cluster (3 masters, 5 file nodes) in tmp_path and must leave no process
behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import report, runner, schedule

pytestmark = pytest.mark.integration


def _no_process_left(run_dir: Path) -> None:
    """No process mentions the run directory in its command line any more."""
    needle = str(run_dir).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert needle not in cmdline.read_bytes(), f"{cmdline.parent.name} still running"
        except OSError:
            continue


def test_node_kill_run_passes_and_measures_recovery(tmp_path: Path) -> None:
    sched = schedule.make(5, "node-kill", 22, workers=4)
    summary = runner.run(sched, runner.RunConfig(out=tmp_path, quiesce_timeout=40))
    run_dir = Path(summary.run_dir)
    assert summary.result == report.PASS, summary.reasons
    assert summary.ok > 50 and summary.restore_max is not None
    for name in ("schedule.json", "history.jsonl", "results.jsonl", "cluster.toml"):
        assert (run_dir / name).exists(), name
    assert schedule.load(run_dir / "schedule.json") == sched
    results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert {r.get("checker") for r in results[:-1]} == {
        "durability",
        "linearizable",
        "duplicates",
        "sessions",
        "recovery",
        "replicas",
    }
    assert results[-1]["summary"] is True
    assert list((run_dir / "data").glob("n1/n1.log"))
    _no_process_left(run_dir)


def test_cluster_that_acks_before_storing_fails(tmp_path: Path) -> None:
    """FAHADFS_TEST_ACK_BEFORE_STORE=1: nodes ack chunks held only in memory; every node is
    then killed at once, so recently acknowledged writes are gone from all copies."""
    sched = schedule.make(2, "nodes-restart", 16, workers=5)
    rc = runner.RunConfig(
        out=tmp_path, env={"FAHADFS_TEST_ACK_BEFORE_STORE": "1"}, quiesce_timeout=20
    )
    summary = runner.run(sched, rc)
    assert summary.result == report.FAIL
    assert summary.lost > 0, summary.reasons
    _no_process_left(Path(summary.run_dir))

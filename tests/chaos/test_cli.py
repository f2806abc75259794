"""python -m chaos: which schedules each mode runs; replay reads a saved schedule back."""

from __future__ import annotations

from pathlib import Path

from chaos import schedule
from chaos.__main__ import _parser, main, schedules


def _scheds(*argv: str) -> list[schedule.Schedule]:
    return schedules(_parser().parse_args(list(argv)))


def test_ci_mode_runs_the_core_scenarios() -> None:
    names = [s.scenario for s in _scheds("--mode", "ci")]
    assert names == [
        "node-kill",
        "leader-kill",
        "leader-partition",
        "masters-restart",
        "corruption",
    ]


def test_soak_mode_runs_mixed_over_the_seed_range() -> None:
    got = _scheds("--mode", "soak", "--duration", "600", "--seeds", "3..5")
    assert [(s.scenario, s.seed, s.duration) for s in got] == [
        ("mixed", n, 600.0) for n in (3, 4, 5)
    ]


def test_replay_runs_the_saved_schedule(tmp_path: Path) -> None:
    saved = schedule.make(9, "leader-kill+corruption", 33)
    schedule.save(saved, tmp_path / "schedule.json")
    assert _scheds("--replay", str(tmp_path)) == [saved]
    assert _scheds("--replay", str(tmp_path / "schedule.json"), "--seed", "1") == [saved]


def test_bad_usage_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--scenario", "nope"]) == 2
    assert "unknown scenario" in capsys.readouterr().err

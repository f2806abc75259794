"""Schedules are a pure function of (seed, scenario, duration), saved and replayed as JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos import schedule


def test_same_seed_gives_the_same_schedule_and_another_seed_differs() -> None:
    a = schedule.make(7, "node-kill+corruption", 60)
    b = schedule.make(7, "node-kill+corruption", 60)
    c = schedule.make(8, "node-kill+corruption", 60)
    assert a == b
    assert a.actions != c.actions


def test_every_scenario_has_faults_inside_the_window_and_heals_them() -> None:
    for name in schedule.SCENARIOS:
        s = schedule.make(1, name, 60)
        assert s.actions, name
        assert all(0 < a.at < 60 for a in s.actions), name
        killed = {a.args["tag"] for a in s.actions if a.action.startswith("kill")}
        restarted = {a.args["tag"] for a in s.actions if a.action == "restart"}
        assert killed == restarted, name
        parts = {a.args["tag"] for a in s.actions if a.action == "partition_leader"}
        assert parts == {a.args["tag"] for a in s.actions if a.action == "heal_partition"}


def test_combined_scenarios_keep_each_parts_actions_and_needs() -> None:
    both = schedule.make(3, "node-kill+full-disk", 60)
    alone = schedule.make(3, "node-kill", 60)
    assert all(a in both.actions for a in alone.actions)
    assert both.needs == {"tmpfs_nodes": ["n5"]}
    mixed = schedule.make(3, "mixed", 120)
    assert {a.action for a in mixed.actions} >= {
        "kill_node",
        "kill_leader",
        "partition_leader",
        "flip_bit",
        "clock_jump",
        "full_disk_node",
    }


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    s = schedule.make(11, "leader-partition+clock-jump", 40)
    schedule.save(s, tmp_path / "schedule.json")
    assert schedule.load(tmp_path / "schedule.json") == s


def test_unknown_scenario_and_bad_seeds_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        schedule.make(1, "node-kill+meteor", 10)
    assert schedule.parse_seeds("1..3,9") == [1, 2, 3, 9]
    with pytest.raises(ValueError):
        schedule.parse_seeds("5..1")

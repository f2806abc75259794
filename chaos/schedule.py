"""Pure: (seed, scenario, duration) -> a list of timed fault actions, saved as JSON.

A scenario is a name from :data:`SCENARIOS`, or several joined with ``+`` (their actions merged);
``mixed`` is every scenario at once. The schedule names every random choice it can make up front
(which node to kill, which chunk to rot, which bit) so a replay repeats it; targets that only
exist at run time (the current leader) are named by a ``tag`` that later actions refer to
(``restart`` the process that ``kill_leader`` tagged ``L1``).

The schedule also says what the cluster needs before it starts (``needs``): a node on a tiny
filesystem, processes under libfaketime.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
WARMUP = 3.0  # seconds of workload before the first fault
COOLDOWN = 2.0  # seconds without new faults at the end (heals still happen)
MASTERS = ("m1", "m2", "m3")
NODES = ("n1", "n2", "n3", "n4", "n5")
FULL_DISK_NODE = "n5"
CLOCK_NODE = "n2"

CI_SCENARIOS = ("node-kill", "leader-kill", "leader-partition", "masters-restart", "corruption")


@dataclass(frozen=True)
class Action:
    at: float  # seconds after the workload starts
    action: str  # a nemesis action name (chaos.nemesis.ACTIONS)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    seed: int
    scenario: str
    duration: float
    workers: int
    actions: tuple[Action, ...]
    needs: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["actions"] = [asdict(a) for a in self.actions]
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> Schedule:
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"schedule format version {d.get('version')!r} is not supported")
        return Schedule(
            seed=int(d["seed"]),
            scenario=str(d["scenario"]),
            duration=float(d["duration"]),
            workers=int(d["workers"]),
            actions=tuple(
                Action(float(a["at"]), str(a["action"]), dict(a["args"])) for a in d["actions"]
            ),
            needs=dict(d.get("needs") or {}),
        )


def save(schedule: Schedule, path: Path) -> None:
    path.write_text(json.dumps(schedule.to_json(), indent=1, sort_keys=True) + "\n")


def load(path: Path) -> Schedule:
    return Schedule.from_json(json.loads(path.read_text()))


# -- scenario generators: rng, window (start, end) -> actions ---------------------------------

Gen = Callable[[random.Random, float, float, float], list[Action]]


def _cycles(
    rng: random.Random,
    start: float,
    end: float,
    down: tuple[float, float],
    gap: tuple[float, float],
    spread: float = 1.0,
) -> list[tuple[float, float]]:
    """(fault time, heal time) pairs filling [start, end), each heal before ``end``; gaps are
    ``spread`` times longer (and the first fault comes later) when scenarios are mixed."""
    out = []
    t = start + (rng.uniform(0.0, gap[1] * (spread - 1.0)) if spread > 1.0 else 0.0)
    for _ in range(1000):
        d = rng.uniform(*down)
        if t + d > end:
            break
        out.append((round(t, 3), round(t + d, 3)))
        t += d + rng.uniform(*gap) * spread
    return out


def _node_kill(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (10.0, 14.0), (2.0, 5.0), spread)):
        tag = f"N{i}"
        acts.append(Action(t0, "kill_node", {"node": rng.choice(NODES), "tag": tag}))
        acts.append(Action(t1, "restart", {"tag": tag}))
    return acts


def _leader_kill(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (3.0, 6.0), (4.0, 7.0), spread)):
        tag = f"L{i}"
        acts += [Action(t0, "kill_leader", {"tag": tag}), Action(t1, "restart", {"tag": tag})]
    return acts


def _master_kill(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (3.0, 6.0), (3.0, 6.0), spread)):
        tag = f"M{i}"
        acts.append(Action(t0, "kill_random_master", {"master": rng.choice(MASTERS), "tag": tag}))
        acts.append(Action(t1, "restart", {"tag": tag}))
    return acts


def _pause(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (3.0, 8.0), (3.0, 6.0), spread)):
        tag = f"P{i}"
        target = rng.choice(["leader", *MASTERS, *NODES])
        acts.append(Action(t0, "pause_process", {"target": target, "tag": tag}))
        acts.append(Action(t1, "resume_process", {"tag": tag}))
    return acts


def _masters_restart(
    rng: random.Random, start: float, end: float, spread: float = 1.0
) -> list[Action]:
    acts = []
    for t0, _t1 in _cycles(rng, start, end, (1.0, 2.0), (8.0, 12.0), spread):
        acts.append(Action(t0, "restart_all_masters", {"down": round(rng.uniform(0.2, 2.0), 3)}))
    return acts


def _nodes_restart(
    rng: random.Random, start: float, end: float, spread: float = 1.0
) -> list[Action]:
    """Every file node killed at once (a power loss of the data tier), then started again."""
    acts = []
    for t0, _t1 in _cycles(rng, start + 4.0, end, (1.0, 2.0), (8.0, 12.0), spread):
        acts.append(Action(t0, "restart_all_nodes", {"down": round(rng.uniform(0.2, 1.0), 3)}))
    return acts


def _leader_partition(
    rng: random.Random, start: float, end: float, spread: float = 1.0
) -> list[Action]:
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (5.0, 9.0), (4.0, 7.0), spread)):
        tag = f"X{i}"
        acts += [
            Action(t0, "partition_leader", {"tag": tag}),
            Action(t1, "heal_partition", {"tag": tag}),
        ]
    return acts


def _corruption(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    t = start + rng.uniform(2.0, 5.0) * spread  # let some chunks exist first
    for _ in range(100):
        if t >= end:
            break
        kind = rng.choice(["flip_bit", "delete_chunk"])
        args: dict[str, Any] = {"node": rng.choice(NODES), "pick": rng.randrange(1 << 30)}
        if kind == "flip_bit":
            args["bit"] = rng.randrange(1 << 30)
        acts.append(Action(round(t, 3), kind, args))
        t += rng.uniform(3.0, 6.0) * spread
    return acts


def _full_disk(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    acts = []
    for t0, t1 in _cycles(rng, start, end, (8.0, 14.0), (4.0, 8.0), spread):
        acts += [
            Action(t0, "full_disk_node", {"node": FULL_DISK_NODE}),
            Action(t1, "free_disk_node", {"node": FULL_DISK_NODE}),
        ]
    return acts


def _clock_jump(rng: random.Random, start: float, end: float, spread: float = 1.0) -> list[Action]:
    """The wall clock of the leader (whichever master leads then) or of one node jumps."""
    acts = []
    for i, (t0, t1) in enumerate(_cycles(rng, start, end, (5.0, 10.0), (3.0, 6.0), spread)):
        tag = f"C{i}"
        target = rng.choice(["leader", CLOCK_NODE])
        seconds = rng.choice([-90, 45, 120, 1200])
        acts.append(Action(t0, "clock_jump", {"target": target, "seconds": seconds, "tag": tag}))
        acts.append(Action(t1, "clock_jump", {"tag": tag, "seconds": 0}))
    return acts


SCENARIOS: dict[str, Gen] = {
    "node-kill": _node_kill,
    "leader-kill": _leader_kill,
    "master-kill": _master_kill,
    "pause": _pause,
    "masters-restart": _masters_restart,
    "nodes-restart": _nodes_restart,
    "leader-partition": _leader_partition,
    "corruption": _corruption,
    "full-disk": _full_disk,
    "clock-jump": _clock_jump,
}
NEEDS: dict[str, dict[str, Any]] = {
    "full-disk": {"tmpfs_nodes": [FULL_DISK_NODE]},
    "clock-jump": {"faketime": [*MASTERS, CLOCK_NODE]},
}


def parts(scenario: str) -> list[str]:
    """``"a+b"`` -> ``["a", "b"]``; ``mixed`` -> every scenario. ValueError on unknown names."""
    names = list(SCENARIOS) if scenario == "mixed" else scenario.split("+")
    for name in names:
        if name not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {name!r}; known: {', '.join([*SCENARIOS, 'mixed'])}"
            )
    return names


def make(seed: int, scenario: str, duration: float, workers: int = 5) -> Schedule:
    """The deterministic schedule of ``scenario`` for ``seed`` over ``duration`` seconds."""
    if duration <= 0:
        raise ValueError("duration must be positive")
    names = parts(scenario)
    spread = float(len(names)) / 2.0 if scenario == "mixed" else 1.0  # mixed: faults overlap less
    start, end = min(WARMUP, duration / 4), max(duration - COOLDOWN, duration * 3 / 4)
    actions: list[Action] = []
    needs: dict[str, Any] = {}
    for name in names:
        rng = random.Random(f"{seed}:{name}")  # one stream per part: combining keeps each part
        actions += SCENARIOS[name](rng, start, end, spread)
        for key, value in NEEDS.get(name, {}).items():
            needs[key] = sorted(set(needs.get(key, [])) | set(value))
    actions.sort(key=lambda a: (a.at, a.action))
    return Schedule(seed, scenario, float(duration), workers, tuple(actions), needs)


def parse_seeds(text: str) -> list[int]:
    """``"7"`` -> [7]; ``"1..4"`` -> [1, 2, 3, 4]; ``"1,5,9"`` -> [1, 5, 9]."""
    out: list[int] = []
    for piece in text.split(","):
        piece = piece.strip()
        if ".." in piece:
            a, b = piece.split("..", 1)
            lo, hi = int(a), int(b)
            if hi < lo or hi - lo > 10_000:
                raise ValueError(f"bad seed range {piece!r}")
            out += list(range(lo, hi + 1))
        elif piece:
            out.append(int(piece))
    if not out:
        raise ValueError("no seeds given")
    return out

"""Recovery (pure): time from each file-node kill to full redundancy, within a bound.

The monitor samples, during the whole run, how many chunks have fewer than their factor of
copies on nodes that are up (``monitor`` events ``redundancy`` with ``under``); it samples
again after every fault. A kill's restore time is the time of the first sample after it with
``under == 0``; a kill never followed by one, or restored later than the bound, is a violation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from chaos.checkers import CheckResult, result
from chaos.history import MONITOR, NEMESIS

KILLS = frozenset({"kill_node"})


def restore_times(events: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], float | None]]:
    """(kill event, seconds to full redundancy or None) for each successful node kill."""
    samples = [
        e
        for e in events
        if e.get("type") == MONITOR and e.get("f") == "redundancy" and e.get("under") is not None
    ]
    samples.sort(key=lambda e: e["t"])
    out = []
    for k in events:
        if k.get("type") != NEMESIS or k.get("f") not in KILLS or k.get("status") != "ok":
            continue
        done = next((s for s in samples if s["t"] > k["t"] and s["under"] == 0), None)
        out.append((k, None if done is None else round(done["t"] - k["t"], 3)))
    return out


def check_events(events: Sequence[dict[str, Any]], bound: float) -> CheckResult:
    times = restore_times(events)
    violations: list[dict[str, Any]] = []
    for k, secs in times:
        if secs is None:
            violations.append({"kind": "never restored", "node": k.get("target"), "t": k["t"]})
        elif secs > bound:
            violations.append(
                {
                    "kind": "slow restore",
                    "node": k.get("target"),
                    "t": k["t"],
                    "seconds": secs,
                    "bound": bound,
                }
            )
    done = [s for _k, s in times if s is not None]
    return result(
        "recovery",
        violations,
        kills=len(times),
        p50=round(statistics.median(done), 3) if done else None,
        max=max(done) if done else None,
        bound=bound,
    )

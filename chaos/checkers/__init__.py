"""Checkers: pure functions from a history (and, for replicas, a snapshot of the disks) to a
:class:`CheckResult`. None of them does I/O; the runner collects what they need.

    durability     every acknowledged write is readable with its hash; no failed write appears
    replicas       every chunk has exactly its factor of good copies, and the master's map agrees
    recovery       time from each file-node kill to full redundancy, within a bound
    linearizable   namespace operations per directory, Wing-Gong search over a model
    duplicates     a retried request id is applied once (every answer to it is the same)
    sessions       fencing tokens increase per path; no two writers hold a path at once
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    checker: str
    ok: bool
    violations: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # why the check could not run (then ``ok`` says nothing)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def result(checker: str, violations: list[dict[str, Any]], **stats: Any) -> CheckResult:
    return CheckResult(checker, not violations, violations, stats)

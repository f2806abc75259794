"""The summary: one row per run (scenario, seed, ops, outcomes, violations, restore times,
verdict), as a table for people and as JSON lines in the run directory."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.checkers import CheckResult

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class Summary:
    scenario: str
    seed: int
    ops: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    lost: int = 0
    duplicates: int = 0
    linearizability: int = 0
    corrupt_reads: int = 0
    restore_p50: float | None = None
    restore_max: float | None = None
    stall: float | None = None  # longest time without any acknowledged client operation
    result: str = FAIL
    reasons: list[str] = field(default_factory=list)
    run_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"summary": True, **asdict(self)}


def verdict(
    results: Sequence[CheckResult], skipped_faults: Sequence[str], errors: Sequence[str]
) -> tuple[str, list[str]]:
    """FAIL on any violation or harness error; else SKIP if a fault could not be injected."""
    reasons = [f"{r.checker}: {len(r.violations)} violation(s)" for r in results if not r.ok]
    reasons += list(errors)
    if reasons:
        return FAIL, reasons
    if skipped_faults:
        return SKIP, [f"fault not injected: {s}" for s in skipped_faults]
    return PASS, []


def longest_stall(events: Sequence[dict[str, Any]]) -> float | None:
    """Seconds of the longest stretch without an ok outcome, while the workers ran."""
    workers = [e for e in events if str(e.get("process", "")).startswith("w")]
    if not workers:
        return None
    oks = sorted(e["t"] for e in workers if e.get("type") == "ok")
    marks = [workers[0]["t"], *oks, workers[-1]["t"]]
    return round(max(b - a for a, b in itertools.pairwise(marks)), 3) if len(marks) > 1 else None


def summarize(summary: Summary, results: Sequence[CheckResult]) -> Summary:
    by = {r.checker: r for r in results}
    if "durability" in by:
        summary.lost = by["durability"].stats.get("lost", 0)
        summary.corrupt_reads = by["durability"].stats.get("corrupt_reads", 0)
    if "duplicates" in by:
        summary.duplicates = len(by["duplicates"].violations)
    if "linearizable" in by:
        summary.linearizability = len(by["linearizable"].violations)
    if "recovery" in by:
        summary.restore_p50 = by["recovery"].stats.get("p50")
        summary.restore_max = by["recovery"].stats.get("max")
    return summary


COLUMNS = (
    ("scenario", 18), ("seed", 5), ("ops", 6), ("ok/fail/info", 15), ("lost", 5), ("dups", 5),
    ("lin", 4), ("corrupt", 8), ("restore p50/max", 16), ("max stall", 9), ("result", 6),
)  # fmt: skip


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}s"


def row(s: Summary) -> list[str]:
    return [
        s.scenario, str(s.seed), str(s.ops), f"{s.ok}/{s.fail}/{s.info}", str(s.lost),
        str(s.duplicates), str(s.linearizability), str(s.corrupt_reads),
        f"{_secs(s.restore_p50)}/{_secs(s.restore_max)}", _secs(s.stall), s.result,
    ]  # fmt: skip


def table(summaries: Sequence[Summary]) -> str:
    widths = [
        max(w, *(len(row(s)[i]) for s in summaries)) if summaries else w
        for i, (_, w) in enumerate(COLUMNS)
    ]
    lines = ["  ".join(name.ljust(w) for (name, _), w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for s in summaries:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row(s), widths, strict=True)))
    for s in summaries:
        for reason in s.reasons:
            lines.append(f"  {s.scenario} seed {s.seed}: {reason}")
    return "\n".join(lines)

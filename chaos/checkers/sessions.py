"""Write sessions (pure): fencing tokens strictly increase per path; no two writers overlap.

Sessions come from the workload's ``create`` (a lease with a fencing token) and ``commit``
(with that lease and token) operations:

- two sessions on one path, one granted before the other was asked for, must have increasing
  tokens (and different leases never share a token);
- commits on one path, one acknowledged before the other started, must carry increasing tokens
  (an older writer must never win after a newer one);
- a session surely holds its path from its create's answer to its commit's call, when both
  succeeded; two such intervals on one path must not overlap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from chaos.checkers import CheckResult, result
from chaos.history import OK, Op


def _ordered_pairs(items: list[tuple[float, float, Any]]) -> list[tuple[Any, Any]]:
    """Pairs (a, b) where a completed before b was invoked."""
    items = sorted(items, key=lambda x: x[0])
    return [(a[2], b[2]) for a in items for b in items if a[1] < b[0]]


def check_history(ops: Sequence[Op]) -> CheckResult:
    creates: dict[str, list[Op]] = defaultdict(list)
    commits: dict[str, list[Op]] = defaultdict(list)
    for o in ops:
        if o.type != OK or not o.args.get("lease_id"):
            continue
        if o.f == "create":
            creates[o.args["path"]].append(o)
        elif o.f == "commit":
            commits[o.args["path"]].append(o)
    violations: list[dict[str, Any]] = []
    for path, group in sorted(creates.items()):
        tokens: dict[int, str] = {}
        for o in group:
            tok, lease = o.value.get("token"), o.args["lease_id"]
            if tok in tokens and tokens[tok] != lease:
                violations.append({"kind": "token shared", "path": path, "token": tok})
            tokens[tok] = lease
        timed = [(o.invoke_t, o.complete_t or 0.0, o) for o in group]
        for a, b in _ordered_pairs(timed):
            if a.args["lease_id"] != b.args["lease_id"] and a.value["token"] >= b.value["token"]:
                violations.append(
                    {
                        "kind": "token not increasing",
                        "path": path,
                        "earlier": a.value["token"],
                        "later": b.value["token"],
                    }
                )
    for path, group in sorted(commits.items()):
        timed = [(o.invoke_t, o.complete_t or 0.0, o) for o in group]
        for a, b in _ordered_pairs(timed):
            if a.args["lease_id"] != b.args["lease_id"] and a.args["token"] >= b.args["token"]:
                violations.append(
                    {
                        "kind": "stale commit accepted",
                        "path": path,
                        "earlier_token": a.args["token"],
                        "later_token": b.args["token"],
                    }
                )
        violations += _overlaps(path, creates.get(path, []), group)
    return result(
        "sessions",
        violations,
        sessions=sum(len(g) for g in creates.values()),
        commits=sum(len(g) for g in commits.values()),
    )


def _overlaps(path: str, creates: list[Op], commits: list[Op]) -> list[dict[str, Any]]:
    granted = {o.args["lease_id"]: o for o in creates}
    held: list[tuple[float, float, str]] = []
    for c in commits:
        g = granted.get(c.args["lease_id"])
        if g is not None and g.complete_t is not None and g.complete_t < c.invoke_t:
            held.append((g.complete_t, c.invoke_t, c.args["lease_id"]))
    held.sort()
    out = []
    for i, (s1, e1, l1) in enumerate(held):
        for s2, e2, l2 in held[i + 1 :]:
            if s2 >= e1:
                break
            out.append(
                {
                    "kind": "two writers",
                    "path": path,
                    "leases": [l1, l2],
                    "overlap": [round(max(s1, s2), 3), round(min(e1, e2), 3)],
                }
            )
    return out

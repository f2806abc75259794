"""No duplicate application of a retried request id (pure).

The master stores the result of every request id and answers a retry with that stored result
(marked ``dup``), applying nothing. So every definite answer to one request id must be the same;
an answer that differs means the retry was applied again (a mkdir that first said ok and then
EEXIST, a cp that produced two versions). A request id must also never be shared by two
different operations.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from chaos.checkers import CheckResult, result
from chaos.history import FAIL, OK, Op

# Fields of an answer that legitimately differ between a first answer and its replay.
_VOLATILE = frozenset({"dup", "expires"})


def _answer(o: Op) -> str:
    if o.type == OK:
        body = {k: v for k, v in o.value.items() if k not in _VOLATILE}
        return "ok " + json.dumps(body, sort_keys=True, default=str)
    return f"fail {o.code}"


def _request(o: Op) -> str:
    body = {k: v for k, v in o.args.items() if k not in ("rid", "retry", "attempt")}
    return o.f + " " + json.dumps(body, sort_keys=True, default=str)


def check_history(ops: Sequence[Op]) -> CheckResult:
    by_rid: dict[str, list[Op]] = defaultdict(list)
    for o in ops:
        rid = o.args.get("rid")
        if rid:
            by_rid[rid].append(o)
    violations: list[dict[str, Any]] = []
    retried = 0
    for rid, group in sorted(by_rid.items()):
        if len(group) > 1:
            retried += 1
        requests = {_request(o) for o in group}
        if len(requests) > 1:
            violations.append({"kind": "rid reused", "rid": rid, "requests": sorted(requests)})
            continue
        answers = {_answer(o) for o in group if o.type in (OK, FAIL)}
        if len(answers) > 1:
            violations.append(
                {
                    "kind": "duplicate application",
                    "rid": rid,
                    "f": group[0].f,
                    "path": group[0].args.get("path") or group[0].args.get("src"),
                    "answers": sorted(answers),
                    "ops": [o.op for o in group],
                }
            )
    return result("duplicates", violations, rids=len(by_rid), retried=retried)

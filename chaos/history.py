"""The history of a chaos run: JSON lines, one event per invocation and one per outcome.

Every client operation is two events sharing an ``op`` number:

    {"i": 7, "t": 1.204, "type": "invoke", "op": 3, "process": "w1", "f": "mkdir",
     "args": {"path": "/ns/d0/s0", "rid": "..."}}
    {"i": 9, "t": 1.311, "type": "ok", "op": 3, "process": "w1", "f": "mkdir", "value": {}}

Outcome types: ``ok`` (it happened), ``fail`` (it definitely did not; ``error.code`` says why),
``info`` (unknown: a timeout, a connection lost after sending). An invocation without an outcome
(the run stopped) counts as ``info``. Faults and observations are single events with
``type`` ``nemesis`` (process ``nemesis``, ``status`` ok/skip/fail) or ``monitor``.
``t`` is seconds since the start of the run (monotonic clock).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
NEMESIS, MONITOR = "nemesis", "monitor"
OUTCOMES = (OK, FAIL, INFO)
EVENT_TYPES = (INVOKE, *OUTCOMES, NEMESIS, MONITOR)


@dataclass
class Op:
    """One operation: its invocation joined with its outcome."""

    op: int
    process: str
    f: str
    type: str  # ok | fail | info
    invoke_t: float
    complete_t: float | None  # None when the outcome is info (it may take effect any time)
    args: dict[str, Any] = field(default_factory=dict)
    value: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        return self.error.get("code") if self.error else None

    @property
    def path(self) -> str | None:
        return self.args.get("path")


class HistoryWriter:
    """Appends events to a JSONL file (flushed per event) and keeps them in memory. Thread-safe."""

    def __init__(self, path: Path | None = None, clock: Any = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._next_op = 0
        self.events: list[dict[str, Any]] = []

    def now(self) -> float:
        return round(self._clock() - self._t0, 6)

    def _append(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            event = {"i": len(self.events), "t": self.now(), **event}
            self.events.append(event)
            if self._fh is not None:
                self._fh.write(json.dumps(event, sort_keys=True, default=str) + "\n")
                self._fh.flush()
            return event

    def invoke(self, process: str, f: str, **args: Any) -> int:
        """Record an invocation; returns the op number its outcome must name."""
        with self._lock:
            op = self._next_op
            self._next_op += 1
        self._append({"type": INVOKE, "op": op, "process": process, "f": f, "args": args})
        return op

    def complete(
        self,
        op: int,
        process: str,
        f: str,
        outcome: str,
        value: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        event: dict[str, Any] = {"type": outcome, "op": op, "process": process, "f": f}
        if value is not None:
            event["value"] = value
        if error is not None:
            event["error"] = error
        self._append(event)

    def nemesis(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._append({"type": NEMESIS, "process": NEMESIS, **event})

    def monitor(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._append({"type": MONITOR, "process": MONITOR, **event})

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write(path: Path, events: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, sort_keys=True, default=str) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Events of a JSONL history; a torn last line (a crash mid-write) is ignored."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def ops(events: Iterable[dict[str, Any]]) -> list[Op]:
    """Client operations (invocations joined with outcomes), in invocation order."""
    pending: dict[int, dict[str, Any]] = {}
    done: list[Op] = []
    order: list[int] = []
    for e in events:
        kind = e.get("type")
        if kind == INVOKE:
            pending[e["op"]] = e
            order.append(e["op"])
        elif kind in OUTCOMES and e.get("op") in pending:
            inv = pending.pop(e["op"])
            done.append(_join(inv, e))
    for op_no in order:  # never completed: unknown outcome
        if op_no in pending:
            done.append(_join(pending.pop(op_no), None))
    done.sort(key=lambda o: (o.invoke_t, o.op))
    return done


def _join(inv: dict[str, Any], out: dict[str, Any] | None) -> Op:
    kind = out["type"] if out else INFO
    return Op(
        op=inv["op"],
        process=str(inv.get("process")),
        f=str(inv.get("f")),
        type=kind,
        invoke_t=float(inv["t"]),
        complete_t=None if kind == INFO else float(out["t"]),  # type: ignore[index]
        args=dict(inv.get("args") or {}),
        value=dict((out or {}).get("value") or {}),
        error=dict((out or {}).get("error") or {}),
    )


def of_type(events: Iterable[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (e for e in events if e.get("type") == kind)


def counts(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Client operations by outcome: ``{"ops", "ok", "fail", "info"}``."""
    out = {"ops": 0, OK: 0, FAIL: 0, INFO: 0}
    for o in ops(events):
        out["ops"] += 1
        out[o.type] += 1
    return out

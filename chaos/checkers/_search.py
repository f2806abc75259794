"""Wing-Gong / Lowe linearizability search with memoisation (as in Porcupine), pure.

Operations have a call time and a return time (``math.inf`` for an unknown outcome). The search
walks the time-ordered list of call and return entries, "lifting" a call (linearizing it now)
whenever the model accepts it, and backtracking when it meets the return of an operation it has
not linearized. Visited ``(linearized set, model state)`` pairs are cached, so each configuration
is explored once.

The model is nondeterministic through power sets: the search state is a frozenset of model
states, and an operation of unknown outcome maps each state to "applied" *and* "not applied";
so an unknown operation may take effect at any point after its call, or never.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Step = Callable[[Hashable, Any], Iterable[Hashable]]


@dataclass(frozen=True)
class LinOp:
    call: float
    ret: float  # math.inf: outcome unknown
    input: Any  # what the model's step function is given
    label: str = ""  # for reports

    @property
    def unknown(self) -> bool:
        return self.ret == math.inf


@dataclass
class SearchResult:
    linearizable: bool | None  # None: gave up (step budget exhausted)
    steps: int
    ops: int
    stuck_at: LinOp | None = None  # an operation that could not be linearized (when False)
    prefix: int = 0  # the longest linearized prefix found


class _Entry:
    __slots__ = ("call", "index", "match", "next", "prev")

    def __init__(self, index: int, call: bool) -> None:
        self.index = index
        self.call = call
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _entries(ops: Sequence[LinOp]) -> _Entry:
    """A doubly linked list of call/return entries sorted by time; returns its head sentinel."""
    events: list[tuple[float, int, int]] = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))  # at equal times calls come first: they are concurrent
        events.append((op.ret, 1, i))
    events.sort()
    head = _Entry(-1, False)
    prev = head
    calls: dict[int, _Entry] = {}
    for _t, kind, i in events:
        e = _Entry(i, kind == 0)
        if kind == 0:
            calls[i] = e
        else:
            calls[i].match = e
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(e: _Entry) -> None:
    """Remove a call entry and its return from the list."""
    for x in (e, e.match):
        assert x is not None and x.prev is not None
        x.prev.next = x.next
        if x.next is not None:
            x.next.prev = x.prev


def _unlift(e: _Entry) -> None:
    for x in (e.match, e):
        assert x is not None and x.prev is not None
        x.prev.next = x
        if x.next is not None:
            x.next.prev = x


def _apply(states: frozenset[Hashable], op: LinOp, step: Step) -> frozenset[Hashable]:
    out: set[Hashable] = set()
    for s in states:
        out.update(step(s, op.input))
    if op.unknown:
        out.update(states)  # it may not have taken effect (yet)
    return frozenset(out)


def check(
    ops: Sequence[LinOp], init: Hashable, step: Step, max_steps: int = 200_000
) -> SearchResult:
    """Is there a linearization of ``ops`` from ``init`` under ``step``?"""
    if not ops:
        return SearchResult(True, 0, 0)
    head = _entries(ops)
    states: frozenset[Hashable] = frozenset([init])
    linearized = 0
    cache: set[tuple[int, frozenset[Hashable]]] = set()
    stack: list[tuple[_Entry, frozenset[Hashable]]] = []
    entry = head.next
    steps, best = 0, 0
    stuck: LinOp | None = None
    while head.next is not None:
        steps += 1
        if steps > max_steps:
            return SearchResult(None, steps, len(ops), prefix=best)
        assert entry is not None
        if entry.call:
            op = ops[entry.index]
            nxt = _apply(states, op, step)
            if nxt:
                lin = linearized | (1 << entry.index)
                key = (lin, nxt)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, states))
                    states, linearized = nxt, lin
                    _lift(entry)
                    best = max(best, len(stack))
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if len(stack) >= best:
                stuck = ops[entry.index]
            if not stack:
                return SearchResult(False, steps, len(ops), stuck_at=stuck, prefix=best)
            top, states = stack.pop()
            linearized &= ~(1 << top.index)
            _unlift(top)
            entry = top.next
    return SearchResult(True, steps, len(ops), prefix=len(ops))

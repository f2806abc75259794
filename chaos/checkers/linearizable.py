"""Linearizability of namespace operations, checked per directory (pure).

The workload keeps every namespace operation inside one directory below ``/ns`` (``mv`` and
``cp`` included), whose parent never changes, so each directory is an independent object and the
history splits into one short history per directory (P-compositionality). A directory's state
is a sorted tuple of ``(name, value)``: ``"D"`` for an (always empty) subdirectory, or the file's
content value ``"F:<size>:<sha256>"``. Each operation is a compare-and-set on that map with a
known answer: ``mkdir`` succeeds iff the name is free, ``rm`` iff it is a file, a read returns
the current value, and so on; failures must carry an error code the model allows.

Retries of one request id are merged into one operation (call of the first attempt, return of
the first definite answer). Operations with an unknown outcome may take effect at any point
after their call, or never. Failures outside the model (EBUSY from a write session, ENOSPC,
...) change nothing and are left out; so are reads with an unknown outcome.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from chaos import content
from chaos.checkers import CheckResult, result
from chaos.checkers._search import LinOp, check
from chaos.history import FAIL, OK, Op

State = tuple[tuple[str, str], ...]
DIR = "D"
NS_ROOT = "/ns"
MUTATIONS = frozenset({"mkdir", "rmdir", "put", "create", "commit", "rm", "mv", "cp"})
READS = frozenset({"stat", "get", "ls"})
# Failures the model does not decide: they depend on sessions, space or the cluster's health.
UNMODELED = frozenset(
    {
        "EBUSY",
        "ESTALE",
        "ENOSPC",
        "EREPLICATION",
        "EINTEGRITY",
        "EUNAVAIL",
        "ENOLEADER",
        "ENOTLEADER",
        "ESAFEMODE",
        "EACCES",
        "ENOCHUNK",
        "EIO",
        "EINVAL",
    }
)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _key(op: Op) -> str | None:
    """The directory an operation belongs to, or None if it is not a namespace operation."""
    if op.f == "ls":
        path = op.args.get("path", "")
        return path if path.startswith(NS_ROOT + "/") else None
    paths = [op.args[k] for k in ("src", "dst") if k in op.args] or [op.args.get("path", "")]
    parents = {p.rsplit("/", 1)[0] for p in paths}
    if len(parents) != 1:
        return None
    parent = parents.pop()
    return parent if parent.startswith(NS_ROOT + "/") else None


# -- the model ------------------------------------------------------------------------------


def _mutate(
    d: dict[str, str], kind: str, a: dict[str, Any]
) -> tuple[frozenset[str], dict[str, str]]:
    """(error codes the op must fail with — empty if it succeeds, new map)."""
    cur = d.get(a.get("name", ""))
    if kind == "mkdir":
        return (
            (frozenset({"EEXIST"}), d) if cur is not None else (frozenset(), {**d, a["name"]: DIR})
        )
    if kind == "rmdir":
        if cur is None:
            return frozenset({"ENOENT"}), d
        if cur != DIR:
            return frozenset({"ENOTDIR"}), d
        return frozenset(), {k: v for k, v in d.items() if k != a["name"]}
    if kind in ("put", "commit"):
        if cur == DIR:
            return frozenset({"EISDIR"}), d
        return frozenset(), {**d, a["name"]: a["value"]}
    if kind == "create":
        return (frozenset({"EISDIR"}), d) if cur == DIR else (frozenset(), d)
    if kind == "rm":
        if cur is None:
            return frozenset({"ENOENT"}), d
        if cur == DIR:
            return frozenset({"EISDIR"}), d
        return frozenset(), {k: v for k, v in d.items() if k != a["name"]}
    src, dst = d.get(a["src"]), d.get(a["dst"])
    if kind == "mv":
        if src is None:
            return frozenset({"ENOENT"}), d
        if a["src"] == a["dst"]:
            return frozenset(), d
        if src != DIR and dst == DIR:
            return frozenset({"EISDIR"}), d
        if src == DIR and dst is not None and dst != DIR:
            return frozenset({"ENOTDIR"}), d
        out = {k: v for k, v in d.items() if k != a["src"]}
        out[a["dst"]] = src
        return frozenset(), out
    if kind == "cp":
        codes = set()
        if src is None:
            codes.add("ENOENT")
        if src == DIR or dst == DIR:
            codes.add("EISDIR")
        return (frozenset(codes), d) if codes else (frozenset(), {**d, a["dst"]: src})  # type: ignore[dict-item]
    raise ValueError(f"unknown mutation {kind!r}")


def _read(d: dict[str, str], kind: str, a: dict[str, Any]) -> tuple[frozenset[str], Any]:
    """(error codes the read must fail with, or empty and the expected output)."""
    if kind == "ls":
        return frozenset(), tuple(
            sorted((n, v if v == DIR else "F:" + v.split(":")[1]) for n, v in d.items())
        )
    cur = d.get(a["name"])
    if cur is None:
        return frozenset({"ENOENT"}), None
    if kind == "get" and cur == DIR:
        return frozenset({"EISDIR"}), None
    return frozenset(), cur


def step(state: State, inp: tuple[str, dict[str, Any], tuple[str, Any] | None]) -> list[State]:
    kind, a, outcome = inp
    d = dict(state)
    if kind in READS:
        codes, expected = _read(d, kind, a)
        assert outcome is not None
        if outcome[0] == OK:
            return [state] if not codes and outcome[1] == expected else []
        return [state] if outcome[1] in codes else []
    codes, new = _mutate(d, kind, a)
    after: State = tuple(sorted(new.items()))
    if outcome is None:
        return [after] if not codes else [state]
    if outcome[0] == OK:
        return [after] if not codes else []
    return [state] if outcome[1] in codes else []


# -- from the history -------------------------------------------------------------------------


def _merge_retries(ops: Iterable[Op]) -> list[Op]:
    """One op per request id: the first call, the first definite answer."""
    by_rid: dict[str, list[Op]] = defaultdict(list)
    out: list[Op] = []
    for o in ops:
        rid = o.args.get("rid")
        if rid and o.f in MUTATIONS:
            by_rid[rid].append(o)
        else:
            out.append(o)
    for group in by_rid.values():
        group.sort(key=lambda o: o.invoke_t)
        definite = sorted((o for o in group if o.type != "info"), key=lambda o: o.complete_t or 0)
        first = definite[0] if definite else group[0]
        merged = Op(**{**first.__dict__, "invoke_t": group[0].invoke_t})
        out.append(merged)
    return out


def _values(ops: Iterable[Op]) -> dict[str, str]:
    """fingerprint -> content value, from every put the history invoked."""
    out = {"0:": content.value(0, content.EMPTY_SHA)}
    for o in ops:
        if o.f == "put" and "fp" in o.args:
            out[o.args["fp"]] = content.value(o.args["size"], o.args["sha256"])
    return out


def _input(
    o: Op, values: dict[str, str]
) -> tuple[str, dict[str, Any], tuple[str, Any] | None] | None:
    """The model input of an op, or None to leave it out."""
    a: dict[str, Any] = {}
    if "src" in o.args:
        a = {"src": _name(o.args["src"]), "dst": _name(o.args["dst"])}
    elif o.f != "ls":
        a = {"name": _name(o.args["path"])}
    if o.f == "put":
        a["value"] = content.value(o.args["size"], o.args["sha256"])
    elif o.f == "commit":
        a["value"] = content.value(0, content.EMPTY_SHA)
    if o.type == "info":
        return None if o.f in READS else (o.f, a, None)
    if o.type == FAIL:
        code = o.code or "EIO"
        return None if code in UNMODELED else (o.f, a, (FAIL, code))
    if o.f in MUTATIONS:
        return (o.f, a, (OK, None))
    return (o.f, a, (OK, _read_output(o, values)))


def _read_output(o: Op, values: dict[str, str]) -> Any:
    v = o.value
    if o.f == "ls":
        rows = [(e[0], DIR if e[1] == "dir" else f"F:{e[2]}") for e in v.get("entries", [])]
        return tuple(sorted(rows))
    if v.get("type") == "dir":
        return DIR
    if o.f == "get":
        return content.value(v["size"], v["sha256"])
    fp = v.get("fp", "")
    return values.get(fp, f"F?:{fp}")  # an unknown fingerprint matches no write: a violation


def histories(ops: Sequence[Op]) -> dict[str, list[LinOp]]:
    """The per-directory operation lists the search checks."""
    values = _values(ops)
    per_key: dict[str, list[LinOp]] = defaultdict(list)
    for o in _merge_retries(ops):
        key = _key(o)
        if key is None or (o.f not in MUTATIONS and o.f not in READS):
            continue
        inp = _input(o, values)
        if inp is None:
            continue
        ret = math.inf if inp[2] is None else float(o.complete_t or 0.0)
        label = f"{o.process} {o.f} {o.args.get('path') or o.args.get('src')} -> {o.type}"
        if o.type == FAIL:
            label += f" {o.code}"
        per_key[key].append(LinOp(o.invoke_t, ret, inp, label))
    return per_key


def check_history(ops: Sequence[Op], max_steps: int = 1_000_000) -> CheckResult:
    violations: list[dict[str, Any]] = []
    inconclusive: list[str] = []
    total = steps = 0
    per_key = histories(ops)
    for key, lin_ops in sorted(per_key.items()):
        res = check(lin_ops, (), step, max_steps=max_steps)
        total += len(lin_ops)
        steps += res.steps
        if res.linearizable is None:
            inconclusive.append(key)
        elif not res.linearizable:
            violations.append(
                {
                    "kind": "not linearizable",
                    "key": key,
                    "ops": len(lin_ops),
                    "linearized_prefix": res.prefix,
                    "stuck_at": res.stuck_at.label if res.stuck_at else None,
                }
            )
    return result(
        "linearizable",
        violations,
        keys=len(per_key),
        ops=total,
        steps=steps,
        inconclusive=inconclusive,
    )

"""Durability (pure): every acknowledged write is readable with its hash; no failed write appears.

Checked on the write-once files (``args.once``): each is put once at a path nothing else touches,
and read back by the ``final`` process after the cluster healed and went quiet.

- ok write: the final read must return exactly its sha256 (the file or all copies of a chunk
  missing: *lost*; no answer or another error: *unreadable*; other bytes: a corrupt read).
- failed write: the final read must say ENOENT (present: *failed write appears*).
- unknown write: either is fine, but bytes that are present must be its bytes (and a file
  that is present, so committed, must not have lost a chunk).

Every read during the run is checked too: a read that returns bytes nobody wrote to that path, or
fails with EINTEGRITY (no good copy left), is a *corrupt read*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos.checkers import CheckResult, result
from chaos.history import FAIL, INFO, OK, Op

FINAL = "final"


def _final_reads(ops: Sequence[Op]) -> dict[str, Op]:
    out: dict[str, Op] = {}
    for o in ops:
        if o.process == FINAL and o.f == "get":
            out[o.args["path"]] = o  # the last one wins (ops are in call order)
    return out


def _judge(write: Op, read: Op | None) -> str | None:
    """The kind of violation for one write-once file, or None."""
    sha = write.args["sha256"]
    if read is None:
        return "unverified" if write.type == OK else None
    present = read.type == OK
    if present and read.value.get("sha256") != sha:
        return None  # reported as a corrupt read
    # ENOCHUNK: the file is in the namespace (so it was committed) but a chunk has no copy left.
    chunk_gone = read.type == FAIL and read.code == "ENOCHUNK"
    if write.type == OK:
        if present:
            return None
        if chunk_gone or (read.type == FAIL and read.code == "ENOENT"):
            return "lost"
        return "unreadable"
    if write.type == FAIL and (present or chunk_gone):
        return "failed write appears"
    if write.type == INFO and chunk_gone:
        return "lost"
    return None


def corrupt_reads(ops: Sequence[Op]) -> list[dict[str, Any]]:
    """Reads that returned bytes no put ever wrote to that path, or found no good copy."""
    written: dict[str, set[str]] = {}
    for o in ops:
        if o.f == "put":
            written.setdefault(o.args["path"], set()).add(o.args["sha256"])
    shared = set().union(*written.values()) if written else set()
    out = []
    for o in ops:
        if o.f != "get":
            continue
        if o.type == FAIL and o.code == "EINTEGRITY":
            out.append(
                {"kind": "corrupt read", "path": o.args["path"], "op": o.op, "error": o.code}
            )
        elif o.type == OK:
            sha = o.value.get("sha256")
            allowed = written.get(o.args["path"], set())
            if o.args["path"].startswith("/ns/"):
                # moved, copied or touched (empty) from a sibling: any content written there
                allowed = shared | {_EMPTY}
            if sha not in allowed:
                out.append(
                    {"kind": "corrupt read", "path": o.args["path"], "op": o.op, "sha256": sha}
                )
    return out


_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # touch: empty file


def check_history(ops: Sequence[Op]) -> CheckResult:
    writes = {o.args["path"]: o for o in ops if o.f == "put" and o.args.get("once")}
    finals = _final_reads(ops)
    violations: list[dict[str, Any]] = []
    tally = {OK: 0, FAIL: 0, INFO: 0}
    for path in sorted(writes):
        w = writes[path]
        tally[w.type] += 1
        kind = _judge(w, finals.get(path))
        if kind:
            r = finals.get(path)
            violations.append(
                {
                    "kind": kind,
                    "path": path,
                    "write": w.type,
                    "op": w.op,
                    "read": None if r is None else (r.type, r.code or r.value.get("sha256")),
                }
            )
    bad_reads = corrupt_reads(ops)
    violations += bad_reads
    lost = sum(1 for v in violations if v["kind"] == "lost")
    return result(
        "durability",
        violations,
        writes_ok=tally[OK],
        writes_fail=tally[FAIL],
        writes_info=tally[INFO],
        lost=lost,
        corrupt_reads=len(bad_reads),
        checked=len(finals),
    )

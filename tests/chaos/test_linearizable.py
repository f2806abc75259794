"""The linearizability checker: the search on a register, and the namespace model per directory."""

from __future__ import annotations

import math

from chaos.checkers import linearizable
from chaos.checkers._search import LinOp, check
from tests.chaos._hist import H

A, B = b"version a", b"version b"
D = "/ns/d0"


# -- the generic search on a plain register -------------------------------------------------


def _reg(state, inp):  # type: ignore[no-untyped-def]
    kind, arg, out = inp
    if kind == "w":
        return [arg]
    if kind == "cas":
        old, new = arg
        if out is None:  # unknown outcome
            return [new] if state == old else [state]
        return [new] if (state == old) == out else []
    return [state] if state == arg else []


def test_search_accepts_a_sequential_register_history() -> None:
    ops = [
        LinOp(0, 1, ("w", 1, None)),
        LinOp(2, 3, ("r", 1, None)),
        LinOp(4, 5, ("w", 2, None)),
        LinOp(6, 7, ("r", 2, None)),
    ]
    assert check(ops, 0, _reg).linearizable is True


def test_search_rejects_a_stale_read() -> None:
    ops = [LinOp(0, 1, ("w", 1, None)), LinOp(2, 3, ("w", 2, None)), LinOp(4, 5, ("r", 1, None))]
    res = check(ops, 0, _reg)
    assert res.linearizable is False


def test_search_allows_concurrent_reads_either_side_of_a_write() -> None:
    ops = [
        LinOp(0, 10, ("w", 1, None)),
        LinOp(1, 2, ("r", 0, None)),
        LinOp(3, 4, ("r", 1, None)),
        LinOp(5, 6, ("r", 1, None)),
    ]
    assert check(ops, 0, _reg).linearizable is True


def test_search_rejects_a_read_going_back_in_time_during_a_write() -> None:
    ops = [LinOp(0, 10, ("w", 1, None)), LinOp(1, 2, ("r", 1, None)), LinOp(3, 4, ("r", 0, None))]
    assert check(ops, 0, _reg).linearizable is False


def test_unknown_outcome_may_take_effect_late_or_never() -> None:
    late = [
        LinOp(0, math.inf, ("w", 1, None)),
        LinOp(1, 2, ("r", 0, None)),
        LinOp(5, 6, ("r", 1, None)),
    ]
    never = [LinOp(0, math.inf, ("w", 1, None)), LinOp(5, 6, ("r", 0, None))]
    assert check(late, 0, _reg).linearizable is True
    assert check(never, 0, _reg).linearizable is True
    flip = [*late, LinOp(7, 8, ("r", 0, None))]
    assert check(flip, 0, _reg).linearizable is False


def test_cas_history_with_a_lost_update_is_rejected() -> None:
    # two CAS 0->1 and 0->2 both succeed: impossible
    ops = [LinOp(0, 2, ("cas", (0, 1), True)), LinOp(1, 3, ("cas", (0, 2), True))]
    assert check(ops, 0, _reg).linearizable is False
    ok = [LinOp(0, 2, ("cas", (0, 1), True)), LinOp(1, 3, ("cas", (0, 2), False))]
    assert check(ok, 0, _reg).linearizable is True


def test_search_gives_up_within_its_step_budget() -> None:
    ops = [LinOp(i, 100 + i, ("w", i, None)) for i in range(14)] + [
        LinOp(200, 201, ("r", -1, None))
    ]
    res = check(ops, 0, _reg, max_steps=50)
    assert res.linearizable is None


# -- the namespace model ---------------------------------------------------------------------


def _check(h: H):  # type: ignore[no-untyped-def]
    return linearizable.check_history(h.ops())


def test_correct_namespace_history_passes() -> None:
    h = H()
    h.op("mkdir", 0, 1, "ok", path=f"{D}/s0", rid="r1")
    h.op("mkdir", 2, 3, "fail", path=f"{D}/s0", rid="r2", code="EEXIST")
    h.put(f"{D}/f0", A, 4, 5)
    h.stat_file(f"{D}/f0", A, 6, 7)
    h.op("mv", 8, 9, "ok", src=f"{D}/f0", dst=f"{D}/f1", rid="r3")
    h.op("stat", 10, 11, "fail", path=f"{D}/f0", code="ENOENT")
    h.get(f"{D}/f1", A, 10, 12)
    h.op("ls", 13, 14, "ok", path=D, value={"entries": [["f1", "file", len(A)], ["s0", "dir", 0]]})
    h.op("rmdir", 15, 16, "ok", path=f"{D}/s0", rid="r4")
    h.op("rm", 15, 17, "ok", path=f"{D}/f1", rid="r5")
    h.op("ls", 18, 19, "ok", path=D, value={"entries": []})
    res = _check(h)
    assert res.ok, res.violations
    assert res.stats["ops"] == 11


def test_stale_read_after_acknowledged_write_is_reported() -> None:
    h = H()
    h.put(f"{D}/f0", A, 0, 1)
    h.put(f"{D}/f0", B, 2, 3)
    h.stat_file(f"{D}/f0", A, 4, 5)  # stale: B was acknowledged before this read began
    res = _check(h)
    assert not res.ok
    assert res.violations[0]["key"] == D


def test_read_of_bytes_nobody_wrote_is_reported() -> None:
    h = H()
    h.put(f"{D}/f0", A, 0, 1)
    h.stat_file(f"{D}/f0", b"rotten", 2, 3)
    assert not _check(h).ok


def test_double_successful_mkdir_is_reported() -> None:
    h = H()
    h.op("mkdir", 0, 1, "ok", path=f"{D}/s0", rid="a")
    h.op("mkdir", 2, 3, "ok", path=f"{D}/s0", rid="b")
    assert not _check(h).ok


def test_concurrent_mkdirs_one_wins() -> None:
    h = H()
    h.op("mkdir", 0, 3, "ok", path=f"{D}/s0", rid="a", process="w0")
    h.op("mkdir", 1, 2, "fail", path=f"{D}/s0", rid="b", process="w1", code="EEXIST")
    assert _check(h).ok


def test_unknown_mutation_may_or_may_not_apply_and_retries_merge() -> None:
    h = H()
    h.op("mkdir", 0, None, "info", path=f"{D}/s0", rid="a")
    h.op("stat", 1, 2, "fail", path=f"{D}/s0", code="ENOENT")
    h.op("mkdir", 3, 4, "ok", path=f"{D}/s0", rid="a")  # the retry: same request id
    h.op("stat", 5, 6, "ok", path=f"{D}/s0", value={"type": "dir"})
    assert _check(h).ok


def test_rm_of_a_missing_file_after_it_was_seen_needs_a_remover() -> None:
    h = H()
    h.put(f"{D}/f0", A, 0, 1)
    h.op("rm", 2, 3, "fail", path=f"{D}/f0", rid="x", code="ENOENT")
    assert not _check(h).ok


def test_mv_and_cp_move_values_between_names() -> None:
    h = H()
    h.put(f"{D}/f0", A, 0, 1)
    h.op("cp", 2, 3, "ok", src=f"{D}/f0", dst=f"{D}/f2", rid="c")
    h.op("mv", 4, 5, "ok", src=f"{D}/f0", dst=f"{D}/f1", rid="m")
    h.stat_file(f"{D}/f1", A, 6, 7)
    h.stat_file(f"{D}/f2", A, 6, 7)
    h.op("mv", 8, 9, "fail", src=f"{D}/f0", dst=f"{D}/f1", rid="m2", code="ENOENT")
    assert _check(h).ok
    bad = H()
    bad.put(f"{D}/f0", A, 0, 1)
    bad.op("mv", 2, 3, "ok", src=f"{D}/f0", dst=f"{D}/f1", rid="m")
    bad.stat_file(f"{D}/f0", A, 4, 5)  # the source must be gone
    assert not _check(bad).ok


def test_touch_commit_makes_an_empty_file_and_busy_failures_are_ignored() -> None:
    h = H()
    h.op("create", 0, 1, "ok", path=f"{D}/f0", rid="c", lease_id="L", value={"token": 5})
    h.op("put", 1.5, 2, "fail", path=f"{D}/f0", size=1, sha256="x", fp="1:1", code="EBUSY")
    h.op("commit", 2, 3, "ok", path=f"{D}/f0", rid="k", lease_id="L", token=5)
    h.stat_file(f"{D}/f0", b"", 4, 5)
    assert _check(h).ok


def test_histories_are_split_per_directory() -> None:
    h = H()
    h.put("/ns/d0/f0", A, 0, 1)
    h.put("/ns/d1/f0", B, 0, 1)
    h.stat_file("/ns/d0/f0", A, 2, 3)
    h.stat_file("/ns/d1/f0", B, 2, 3)
    h.put("/once/w0-1", A, 0, 1, once=True)  # not a namespace key
    per = linearizable.histories(h.ops())
    assert sorted(per) == ["/ns/d0", "/ns/d1"]
    assert _check(h).ok

"""Durability, duplicates, sessions, replicas and recovery checkers: planted bugs are reported,
correct histories pass."""

from __future__ import annotations

from chaos import content
from chaos.checkers import duplicates, durability, recovery, replicas, sessions
from tests.chaos._hist import H

A, B = b"alpha" * 100, b"bravo" * 100


# -- durability ------------------------------------------------------------------------------


def _writes() -> H:
    h = H()
    h.put("/once/a", A, 0, 1, once=True)
    h.put("/once/b", B, 0, 2, "fail", once=True)
    h.put("/once/c", B, 0, None, "info", once=True)
    h.get("/once/a", A, 3, 4)  # a read during the run
    return h


def test_durability_passes_when_every_ack_is_readable() -> None:
    h = _writes()
    h.get("/once/a", A, 10, 11, process="final")
    h.get("/once/b", None, 10, 11, process="final")
    h.get("/once/c", B, 10, 11, process="final")
    res = durability.check_history(h.ops())
    assert res.ok, res.violations
    assert res.stats["writes_ok"] == 1 and res.stats["writes_fail"] == 1


def test_durability_reports_a_lost_acknowledged_write() -> None:
    h = _writes()
    h.get("/once/a", None, 10, 11, process="final")
    h.get("/once/b", None, 10, 11, process="final")
    res = durability.check_history(h.ops())
    assert not res.ok
    assert res.stats["lost"] == 1
    assert res.violations[0]["kind"] == "lost" and res.violations[0]["path"] == "/once/a"


def test_durability_reports_a_failed_write_that_appears() -> None:
    h = _writes()
    h.get("/once/a", A, 10, 11, process="final")
    h.get("/once/b", B, 10, 11, process="final")
    res = durability.check_history(h.ops())
    assert [v["kind"] for v in res.violations] == ["failed write appears"]


def test_durability_reports_corrupt_and_unreadable_data() -> None:
    h = _writes()
    h.get("/once/a", b"garbage", 5, 6)  # during the run
    h.get("/once/a", None, 10, 11, process="final", code="EINTEGRITY")
    res = durability.check_history(h.ops())
    kinds = sorted(v["kind"] for v in res.violations)
    assert kinds == ["corrupt read", "corrupt read", "unreadable"]
    assert res.stats["corrupt_reads"] == 2


# -- duplicates ------------------------------------------------------------------------------


def test_duplicates_accepts_a_replayed_answer() -> None:
    h = H()
    h.op("mkdir", 0, None, "info", path="/ns/d0/s0", rid="r1")
    h.op("mkdir", 1, 2, "ok", path="/ns/d0/s0", rid="r1", value={"dup": True})
    h.op("mkdir", 3, 4, "ok", path="/ns/d0/s0", rid="r1", retry=True, value={"dup": True})
    res = duplicates.check_history(h.ops())
    assert res.ok and res.stats["retried"] == 1


def test_duplicates_reports_a_retry_applied_twice() -> None:
    h = H()
    h.op("mkdir", 0, 1, "ok", path="/ns/d0/s0", rid="r1")
    h.op("mkdir", 2, 3, "fail", path="/ns/d0/s0", rid="r1", retry=True, code="EEXIST")
    h.op("cp", 4, 5, "ok", src="/ns/d0/f0", dst="/ns/d0/f1", rid="r2", value={"version": 7})
    h.op("cp", 6, 7, "ok", src="/ns/d0/f0", dst="/ns/d0/f1", rid="r2", value={"version": 9})
    res = duplicates.check_history(h.ops())
    assert [v["rid"] for v in res.violations] == ["r1", "r2"]
    assert all(v["kind"] == "duplicate application" for v in res.violations)


def test_duplicates_reports_a_request_id_shared_by_two_operations() -> None:
    h = H()
    h.op("mkdir", 0, 1, "ok", path="/ns/d0/s0", rid="same")
    h.op("rm", 2, 3, "ok", path="/ns/d0/f0", rid="same")
    assert duplicates.check_history(h.ops()).violations[0]["kind"] == "rid reused"


# -- sessions --------------------------------------------------------------------------------


def _session(
    h: H, lease: str, token: int, t: float, commit: bool = True, path: str = "/ns/d0/f0"
) -> None:
    h.op(
        "create",
        t,
        t + 1,
        "ok",
        path=path,
        rid=f"c{lease}",
        lease_id=lease,
        value={"token": token, "lease_id": lease},
    )
    if commit:
        h.op("commit", t + 2, t + 3, "ok", path=path, rid=f"k{lease}", lease_id=lease, token=token)


def test_sessions_pass_with_increasing_tokens_and_no_overlap() -> None:
    h = H()
    _session(h, "a", 3, 0)
    _session(h, "b", 8, 10)
    h.op("create", 20, 21, "fail", path="/ns/d0/f0", rid="cx", lease_id="x", code="EBUSY")
    res = sessions.check_history(h.ops())
    assert res.ok, res.violations
    assert res.stats == {"sessions": 2, "commits": 2}


def test_sessions_report_overlapping_writers_and_decreasing_tokens() -> None:
    h = H()
    _session(h, "a", 9, 0)  # holds [1, 2]
    h.op(
        "create",
        0.5,
        1.2,
        "ok",
        path="/ns/d0/f0",
        rid="cb",
        lease_id="b",
        value={"token": 4, "lease_id": "b"},
    )  # granted while a held it
    h.op("commit", 3.5, 4, "ok", path="/ns/d0/f0", rid="kb", lease_id="b", token=4)
    res = sessions.check_history(h.ops())
    kinds = sorted({v["kind"] for v in res.violations})
    assert kinds == ["stale commit accepted", "two writers"]


def test_sessions_report_a_token_that_does_not_increase() -> None:
    h = H()
    _session(h, "a", 9, 0, commit=False)
    _session(h, "b", 9, 5, commit=False)
    res = sessions.check_history(h.ops())
    assert {v["kind"] for v in res.violations} == {"token shared", "token not increasing"}


# -- replicas --------------------------------------------------------------------------------


def _snapshot() -> dict:  # type: ignore[type-arg]
    crc = content.fingerprint(A, 1 << 20).split(":")[1]
    chunk = {"id": 17, "size": len(A), "checksum": int(crc), "replicas": ["n1", "n2", "n3"]}
    good = {"size": len(A), "crc": int(crc)}
    return {
        "files": {"/once/a": {"replication": 3, "chunks": [chunk]}},
        "disks": {"n1": {17: good}, "n2": {17: good}, "n3": {17: good}, "n4": {99: good}},
    }


def test_replicas_pass_with_exactly_k_good_copies() -> None:
    res = replicas.check_snapshot(_snapshot())
    assert res.ok, res.violations
    assert res.stats["orphans"] == 1


def test_replicas_report_a_chunk_with_two_copies() -> None:
    snap = _snapshot()
    del snap["disks"]["n3"][17]
    res = replicas.check_snapshot(snap)
    assert {v["kind"] for v in res.violations} == {"copies", "map disagrees"}
    assert next(v for v in res.violations if v["kind"] == "copies")["good"] == 2


def test_replicas_report_a_corrupt_replica() -> None:
    snap = _snapshot()
    snap["disks"]["n2"][17] = {"size": len(A), "crc": 12345}
    res = replicas.check_snapshot(snap)
    kinds = [v["kind"] for v in res.violations]
    assert "corrupt replica" in kinds
    assert next(v for v in res.violations if v["kind"] == "corrupt replica")["node"] == "n2"


def test_replicas_report_extra_copies_and_a_stale_map() -> None:
    snap = _snapshot()
    snap["disks"]["n4"][17] = dict(snap["disks"]["n1"][17])
    res = replicas.check_snapshot(snap)
    assert {v["kind"] for v in res.violations} == {"copies", "map disagrees"}


# -- recovery --------------------------------------------------------------------------------


def test_recovery_measures_restore_times() -> None:
    h = H()
    h.monitor(0.5, f="redundancy", under=0)
    h.nemesis(1.0, f="kill_node", status="ok", target="n1")
    h.monitor(1.2, f="redundancy", under=4)
    h.monitor(5.0, f="redundancy", under=0)
    h.nemesis(10.0, f="kill_node", status="ok", target="n2")
    h.monitor(13.0, f="redundancy", under=0)
    h.nemesis(14.0, f="kill_node", status="skip", target="n3")
    res = recovery.check_events(h.sorted_events(), bound=30)
    assert res.ok
    assert res.stats["kills"] == 2 and res.stats["max"] == 4.0 and res.stats["p50"] == 3.5


def test_recovery_reports_a_kill_never_repaired_or_too_slow() -> None:
    h = H()
    h.nemesis(1.0, f="kill_node", status="ok", target="n1")
    h.monitor(1.2, f="redundancy", under=4)
    h.monitor(50.0, f="redundancy", under=0)
    h.nemesis(60.0, f="kill_node", status="ok", target="n2")
    h.monitor(61.0, f="redundancy", under=3)
    res = recovery.check_events(h.sorted_events(), bound=30)
    assert [v["kind"] for v in res.violations] == ["slow restore", "never restored"]


def test_durability_counts_a_committed_file_without_copies_as_lost() -> None:
    h = _writes()
    h.get("/once/a", None, 10, 11, process="final", code="ENOCHUNK")
    h.get("/once/b", None, 10, 11, process="final", code="ENOCHUNK")
    h.get("/once/c", None, 10, 11, process="final", code="ENOCHUNK")
    res = durability.check_history(h.ops())
    assert sorted(v["kind"] for v in res.violations) == ["failed write appears", "lost", "lost"]
    assert res.stats["lost"] == 2

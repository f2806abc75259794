"""The history file: JSON lines written as they happen, read back and paired into operations;
and how client errors become outcomes."""

from __future__ import annotations

from pathlib import Path

from chaos import content, history
from chaos.workload import outcome_of
from fahadfs import errors


def test_writer_records_invocations_outcomes_and_faults_and_reader_pairs_them(
    tmp_path: Path,
) -> None:
    clock = iter(range(100)).__next__
    path = tmp_path / "history.jsonl"
    with history.HistoryWriter(path, clock=clock) as h:
        a = h.invoke("w0", "mkdir", path="/ns/e0/d0/s0", rid="r1")
        b = h.invoke("w1", "put", path="/once/w1-0", sha256="x", size=1)
        h.nemesis({"f": "kill_node", "status": "ok", "target": "n1"})
        h.complete(a, "w0", "mkdir", "fail", error={"code": "EEXIST"})
        h.invoke("w2", "stat", path="/ns/e0/d0/f0")  # never completes
        h.complete(b, "w1", "put", "ok", value={"version": 4})
    with open(path, "a") as fh:
        fh.write('{"torn": ')  # a crash mid-line
    events = history.read(path)
    assert [e["i"] for e in events] == list(range(6))
    ops = history.ops(events)
    assert [(o.f, o.type) for o in ops] == [("mkdir", "fail"), ("put", "ok"), ("stat", "info")]
    assert ops[0].code == "EEXIST" and ops[0].complete_t is not None
    assert ops[2].complete_t is None
    assert history.counts(events) == {"ops": 3, "ok": 1, "fail": 1, "info": 1}
    assert next(history.of_type(events, "nemesis"))["target"] == "n1"


def test_definite_errors_fail_and_everything_else_is_unknown() -> None:
    assert outcome_of(errors.AlreadyExists("x"))[0] == "fail"
    assert outcome_of(errors.Busy("x"))[0] == "fail"
    assert outcome_of(errors.NoSpace("x"))[0] == "fail"
    assert outcome_of(errors.Unavailable("x"))[0] == "info"
    assert outcome_of(errors.NoLeader("x"))[0] == "info"
    assert outcome_of(errors.FahadfsError("x"))[0] == "info"
    assert outcome_of(TimeoutError())[0] == "info"
    assert outcome_of(ConnectionResetError())[1]["code"] == "ConnectionResetError"


def test_fingerprints_of_bytes_and_of_a_stat_agree() -> None:
    data = content.make("seed", 10_000)
    assert data == content.make("seed", 10_000) and data != content.make("other", 10_000)
    fp = content.fingerprint(data, 4096)
    crcs = [int(c) for c in fp.split(":")[1].split(",")]
    stat = {"size": 10_000, "chunks": [{"checksum": c} for c in crcs]}
    assert len(crcs) == 3 and content.stat_fingerprint(stat) == fp
    assert content.fingerprint(b"", 4096) == "0:" == content.stat_fingerprint({"size": 0})

"""Nemesis actions on a stub cluster: disk faults touch exactly what they report, faults that
cannot run here report skip, and run() never raises."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chaos import nemesis


def _ctx(tmp_path: Path, **opts: Any) -> nemesis.Ctx:
    cluster = SimpleNamespace(
        data_dir=lambda node: tmp_path / node,
        mounts=[],
        opts=SimpleNamespace(faketime=[], gids=False, **opts),
        topology=None,
        clock_file=lambda pid: tmp_path / f"{pid}.faketime",
    )
    return nemesis.Ctx(cluster)  # type: ignore[arg-type]


def _chunk(root: Path, cid: int, data: bytes) -> Path:
    name = f"{cid:016x}"
    path = root / "chunks" / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data + b"F" * nemesis.FOOTER_SIZE)
    return path


def test_flip_bit_changes_one_bit_of_the_data_not_the_footer(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    path = _chunk(tmp_path / "n1", 0xAB, data)
    ev = nemesis.run(_ctx(tmp_path), "flip_bit", {"node": "n1", "pick": 7, "bit": 12345})
    assert ev["status"] == "ok" and ev["chunk"] == f"{0xAB:016x}"
    after = path.read_bytes()
    diff = [i for i, (a, b) in enumerate(zip(data, after, strict=False)) if a != b]
    assert diff == [ev["offset"]]
    assert bin(data[ev["offset"]] ^ after[ev["offset"]]).count("1") == 1
    assert after[len(data) :] == b"F" * nemesis.FOOTER_SIZE


def test_delete_chunk_is_seeded_and_reports_noop_without_chunks(tmp_path: Path) -> None:
    paths = [_chunk(tmp_path / "n2", cid, b"x") for cid in (1, 2, 3)]
    ev = nemesis.run(_ctx(tmp_path), "delete_chunk", {"node": "n2", "pick": 4})
    assert ev["status"] == "ok"
    assert [p.exists() for p in paths] == [True, False, True]  # 4 % 3 == 1
    empty = nemesis.run(_ctx(tmp_path), "delete_chunk", {"node": "n9", "pick": 0})
    assert empty["status"] == "noop"


def test_faults_that_cannot_run_here_report_skip(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert nemesis.run(ctx, "clock_jump", {"target": "m2", "seconds": 60})["status"] == "skip"
    assert nemesis.run(ctx, "full_disk_node", {"node": "n5"})["status"] == "skip"
    assert nemesis.run(ctx, "partition_leader", {"tag": "X0"})["status"] == "skip"


def test_unknown_or_crashing_actions_become_fail_events(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert nemesis.run(ctx, "meteor_strike", {})["status"] == "fail"
    ev = nemesis.run(ctx, "kill_node", {"node": "n1", "tag": "N0"})  # the stub cannot signal
    assert ev["status"] == "fail" and "error" in ev

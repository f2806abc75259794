"""repair.py: what the healer copies, trims, adopts and collects, decided from snapshots."""

from __future__ import annotations

from fahadfs.meta_raft import repair
from fahadfs.meta_raft.placement import NodeView
from fahadfs.meta_raft.repair import ChunkRow
from tests._purity import assert_pure

GiB = 1 << 30


def view(i: int, alive: bool = True, state: str = "active", used: int = 0) -> NodeView:
    return NodeView(f"n{i}", f"h:{i}", alive, state, 10 * GiB, used, 10 * GiB - used)


def row(cid: int, *nodes: int, k: int = 3) -> ChunkRow:
    return ChunkRow(cid, 100, 1, tuple(f"n{n}" for n in nodes), k)


def run(rows, views, held=None, busy=None, inflight=frozenset(), per_node=4):
    return repair.plan(rows, views, held or {}, busy or {}, inflight, per_node)


def test_chunks_with_one_copy_left_are_repaired_before_those_with_two() -> None:
    views = [view(1), view(2, alive=False), view(3, alive=False), view(4), view(5)]
    rows = [row(10, 1, 4, 2), row(11, 1, 2, 3), row(12, 4, 5, 2)]
    p = run(rows, views, per_node=10)
    assert p.copies[0].chunk == 11
    assert p.under == {1: 2, 2: 1}
    first = p.copies[0]
    assert first.source == "n1" and first.target not in ("n1", "n2", "n3")


def test_repairs_respect_the_per_node_limit() -> None:
    views = [view(1), view(2), view(3, alive=False), view(4)]
    rows = [row(i, 1, 2, 3) for i in range(10)]
    p = run(rows, views, per_node=2)
    load = {}
    for c in p.copies:
        load[c.source] = load.get(c.source, 0) + 1
        load[c.target] = load.get(c.target, 0) + 1
    assert max(load.values()) <= 2
    assert p.under == {1: 10}


def test_no_copy_for_chunks_already_in_flight() -> None:
    views = [view(1), view(2), view(3, alive=False), view(4)]
    p = run([row(7, 1, 2, 3)], views, inflight=frozenset({7}))
    assert p.copies == []


def test_lost_chunks_are_reported_missing() -> None:
    views = [view(1, alive=False), view(2, alive=False), view(3, alive=False), view(4)]
    p = run([row(5, 1, 2, 3)], views)
    assert p.missing == [5] and p.copies == []


def test_whole_chunk_drops_dead_entries_and_excess_fullest_first() -> None:
    views = [view(1, used=9 * GiB), view(2), view(3), view(4), view(5, alive=False)]
    p = run([row(1, 1, 2, 3, 4, 5)], views)
    trims = {(t.node, t.reason, t.delete) for t in p.trims}
    assert trims == {("n5", "dead", False), ("n1", "excess", True)}


def test_draining_node_copies_move_then_its_entry_goes() -> None:
    views = [view(1, state="draining"), view(2), view(3), view(4)]
    p = run([row(1, 1, 2, 3)], views)
    assert [c.target for c in p.copies] == ["n4"]
    p2 = run([row(1, 1, 2, 3, 4)], views)
    assert [(t.node, t.reason) for t in p2.trims] == [("n1", "drained")]
    p3 = run([row(1, 2, 3, 4)], views)
    assert p3.decommission == ["n1"]


def test_unlisted_copy_with_right_generation_is_adopted_when_short() -> None:
    views = [view(1), view(2), view(3, alive=False), view(4)]
    held = {"n4": {9: 1}}
    p = run([row(9, 1, 2, 3)], views, held=held)
    assert p.adopt == [(9, "n4")] and p.copies == []


def test_unlisted_copy_of_a_whole_chunk_is_stale() -> None:
    views = [view(1), view(2), view(3), view(4)]
    p = run([row(9, 1, 2, 3)], views, held={"n4": {9: 1}})
    assert p.stale == [(9, "n4")]


def test_orphans_skip_known_and_pending_chunks() -> None:
    held = {"n1": {1: 1, 2: 1, 3: 1}}
    assert repair.orphans(held, known=[1], pending=[2]) == [(3, "n1")]


def test_rebalance_moves_from_fullest_to_emptiest_only_past_threshold() -> None:
    views = [view(1, used=5 * GiB), view(2, used=5 * GiB), view(3, used=5 * GiB), view(4)]
    rows = [row(i, 1, 2, 3) for i in range(5)]
    moves = repair.rebalance(rows, views, 0.1, {}, 4, 8)
    assert moves and all(m.target == "n4" and m.source in {"n1", "n2", "n3"} for m in moves)
    even = [view(i, used=GiB) for i in range(1, 5)]
    assert repair.rebalance(rows, even, 0.1, {}, 4, 8) == []


def test_repair_module_is_pure() -> None:
    assert "fahadfs.meta_raft.repair" in assert_pure("fahadfs.meta_raft.repair")


def test_copy_missing_from_a_trusted_report_is_repaired_then_dropped() -> None:
    """Found by chaos: a copy deleted or quarantined on a node was never replaced."""
    views = [view(1), view(2), view(3), view(4)]
    trusted = {"n1": {}, "n2": {5: 1}, "n3": {5: 1}, "n4": {}}
    p = repair.plan([row(5, 1, 2, 3)], views, {}, {}, frozenset(), 4, trusted=trusted)
    assert [(c.source in {"n2", "n3"}, c.target) for c in p.copies] == [(True, "n4")]
    assert p.under == {1: 1}
    whole = repair.plan(
        [row(5, 1, 2, 3, 4)], views, {}, {}, frozenset(), 4, trusted={**trusted, "n4": {5: 1}}
    )
    assert [(t.node, t.reason, t.delete) for t in whole.trims] == [("n1", "missing", False)]


def test_recently_added_copy_is_not_judged_missing_from_an_older_report() -> None:
    views = [view(1), view(2), view(3), view(4)]
    trusted = {"n1": {}, "n2": {5: 1}, "n3": {5: 1}}
    p = repair.plan(
        [row(5, 1, 2, 3)],
        views,
        {},
        {},
        frozenset(),
        4,
        trusted=trusted,
        young=frozenset({(5, "n1")}),
    )
    assert p.copies == [] and p.trims == [] and p.under == {}
    # A young copy on another node does not excuse n1.
    q = repair.plan(
        [row(5, 1, 2, 3)],
        views,
        {},
        {},
        frozenset(),
        4,
        trusted=trusted,
        young=frozenset({(5, "n4")}),
    )
    assert q.under == {1: 1}

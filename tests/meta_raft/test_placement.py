"""placement.py: k distinct live active nodes with room, least used first, never mutating input."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fahadfs.errors import NoSpace, NotEnoughNodes
from fahadfs.meta_raft import placement
from fahadfs.meta_raft.placement import NodeView
from tests._purity import assert_pure

GiB = 1 << 30


def node(
    i: int,
    used: int = 0,
    alive: bool = True,
    state: str = "active",
    inflight: int = 0,
    capacity: int = 10 * GiB,
) -> NodeView:
    return NodeView(f"n{i}", f"h:{i}", alive, state, capacity, used, capacity - used, inflight)


def test_picks_least_used_distinct_nodes() -> None:
    nodes = [node(1, used=5 * GiB), node(2, used=1 * GiB), node(3, used=2 * GiB), node(4, used=0)]
    assert sorted(placement.choose(nodes, 3, 1024)) == ["n2", "n3", "n4"]


def test_skips_dead_draining_and_full_nodes() -> None:
    nodes = [
        node(1, alive=False),
        node(2, state="draining"),
        node(3, used=10 * GiB - 10),
        node(4),
        node(5),
        node(6),
    ]
    assert sorted(placement.choose(nodes, 3, 1024)) == ["n4", "n5", "n6"]


def test_pipeline_starts_at_least_busy_node() -> None:
    nodes = [node(1, inflight=5), node(2, inflight=0), node(3, inflight=2)]
    assert placement.choose(nodes, 3, 1) == ["n2", "n3", "n1"]


def test_too_few_live_nodes_is_ereplication() -> None:
    with pytest.raises(NotEnoughNodes) as err:
        placement.choose([node(1), node(2), node(3, alive=False)], 3, 1)
    assert err.value.code == "EREPLICATION"


def test_enough_live_nodes_but_no_room_is_enospc() -> None:
    nodes = [node(i, capacity=100, used=90) for i in range(3)]
    with pytest.raises(NoSpace) as err:
        placement.choose(nodes, 3, 50)
    assert err.value.code == "ENOSPC"


def test_exclude_and_lower_replication() -> None:
    nodes = [node(1), node(2), node(3)]
    assert sorted(placement.choose(nodes, 2, 1, exclude=["n1"])) == ["n2", "n3"]


def test_choose_many_spreads_load_over_nodes() -> None:
    nodes = [node(i) for i in range(6)]
    plans = placement.choose_many(nodes, 3, [GiB] * 4)
    used = {}
    for plan in plans:
        assert len(set(plan)) == 3
        for n in plan:
            used[n] = used.get(n, 0) + 1
    assert max(used.values()) - min(used.values()) <= 1


@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.booleans(), st.sampled_from(["active", "draining"])),
        min_size=0,
        max_size=8,
    ),
    st.integers(1, 4),
)
def test_never_two_copies_on_one_node_and_input_untouched(rows, k) -> None:
    nodes = [node(i, used=u, alive=a, state=s) for i, (u, a, s) in enumerate(rows)]
    before = copy.deepcopy(nodes)
    try:
        chosen = placement.choose(nodes, k, 1)
    except (NotEnoughNodes, NoSpace):
        assert len(placement.eligible(nodes, 1)) < k
    else:
        assert len(chosen) == k == len(set(chosen))
        ok = {n.id for n in placement.eligible(nodes, 1)}
        assert set(chosen) <= ok
    assert nodes == before


def test_placement_is_pure() -> None:
    assert "fahadfs.meta_raft.placement" in assert_pure("fahadfs.meta_raft.placement")

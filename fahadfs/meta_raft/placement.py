"""Pure placement: which file nodes receive a new chunk or a repair copy.

Takes a frozen view of the cluster and returns new values; never mutates its inputs. Rules:
k distinct nodes that are alive, active and have room; least used bytes first (counting bytes
already planned but not yet reported), then fewest in-flight transfers (the seed's "load
balancing for size and bandwidth"); the pipeline starts at the least busy of the chosen nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fahadfs.errors import NoSpace, NotEnoughNodes


@dataclass(frozen=True)
class NodeView:
    """What placement knows of one file node."""

    id: str
    address: str
    alive: bool
    state: str  # active | draining | decommissioned
    capacity: int
    used: int
    free: int
    inflight: int = 0
    planned: int = 0  # bytes placed here recently but not yet in a heartbeat

    @property
    def room(self) -> int:
        return min(self.free, self.capacity - self.used) - self.planned

    @property
    def usage(self) -> float:
        return (self.used + self.planned) / self.capacity if self.capacity else 1.0


def eligible(nodes: Iterable[NodeView], size: int, exclude: Iterable[str] = ()) -> list[NodeView]:
    """Nodes that may take a new copy of ``size`` bytes."""
    banned = set(exclude)
    return [
        n
        for n in nodes
        if n.alive and n.state == "active" and n.id not in banned and n.room >= size
    ]


def choose(nodes: Sequence[NodeView], k: int, size: int, exclude: Iterable[str] = ()) -> list[str]:
    """Pick ``k`` distinct node ids for a chunk of ``size`` bytes, pipeline order.

    Raises NotEnoughNodes when fewer than k nodes are alive and active, NoSpace when enough are
    alive but too few have room.
    """
    banned = set(exclude)
    candidates = eligible(nodes, size, banned)
    if len(candidates) < k:
        live = [n for n in nodes if n.alive and n.state == "active" and n.id not in banned]
        if len(live) >= k:
            raise NoSpace(
                f"only {len(candidates)} of {len(live)} live nodes have {size} bytes free; need {k}"
            )
        raise NotEnoughNodes(f"need {k} live active nodes, have {len(live)}")
    ranked = sorted(candidates, key=lambda n: (n.usage, n.inflight, n.id))[:k]
    return [n.id for n in sorted(ranked, key=lambda n: (n.inflight, n.usage, n.id))]


def choose_many(
    nodes: Sequence[NodeView], k: int, sizes: Sequence[int], exclude: Iterable[str] = ()
) -> list[list[str]]:
    """Pipelines for several chunks, accounting each choice before making the next."""
    views = {n.id: n for n in nodes}
    out = []
    for size in sizes:
        chosen = choose(list(views.values()), k, size, exclude)
        for node_id in chosen:
            v = views[node_id]
            views[node_id] = _with(v, planned=v.planned + size, inflight=v.inflight + 1)
        out.append(chosen)
    return out


def _with(view: NodeView, **changes: int) -> NodeView:
    return NodeView(**{**view.__dict__, **changes})

"""Pure healing decisions: what to copy, what to trim, what to collect, what to rebalance.

Inputs are frozen snapshots (chunk rows from the state, node views from heartbeats, what each
node reports it holds); outputs are new lists of actions that the healer carries out. Rules:
- a *good* copy is listed in the replica map, on a live node that is not decommissioned;
- a chunk needs repair while its good copies on *active* nodes are fewer than its factor;
  the fewest live copies go first (1 left before 2 left);
- copies beyond the factor, copies on draining nodes once enough active ones exist, and map
  entries of dead nodes once the chunk is whole again are trimmed, never dropping below k;
- a node's copy that the map does not list is adopted if the chunk is short of copies and the
  generation matches, otherwise it is stale and deleted (orphans only after a grace period).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fahadfs.errors import NoSpace, NotEnoughNodes
from fahadfs.meta_raft import placement
from fahadfs.meta_raft.placement import NodeView


@dataclass(frozen=True)
class ChunkRow:
    id: int
    size: int
    generation: int
    replicas: tuple[str, ...]
    replication: int


@dataclass(frozen=True)
class Copy:
    """Copy ``chunk`` from ``source`` to ``target``; ``live`` = live copies before it."""

    chunk: int
    size: int
    source: str
    target: str
    live: int
    reason: str = "repair"  # repair | drain | rebalance


@dataclass(frozen=True)
class Trim:
    """Remove ``node`` from the chunk's map; ``delete`` the file there too if the node is up."""

    chunk: int
    node: str
    delete: bool
    reason: str


@dataclass(frozen=True)
class Plan:
    copies: list[Copy]
    trims: list[Trim]
    adopt: list[tuple[int, str]]  # (chunk, node): add an unlisted good copy to the map
    stale: list[tuple[int, str]]  # (chunk, node): delete a copy nobody needs
    missing: list[int]  # chunks with no live copy at all
    under: dict[int, int]  # copies missing -> number of chunks
    under_bytes: int
    decommission: list[str]  # draining nodes that hold nothing any more


def plan(
    chunks: Iterable[ChunkRow],
    views: Sequence[NodeView],
    held: Mapping[str, Mapping[int, int]],
    busy: Mapping[str, int],
    inflight: frozenset[int],
    max_per_node: int,
    max_copies: int = 10_000,
    trusted: Mapping[str, Mapping[int, int]] | None = None,
    young: frozenset[tuple[int, str]] = frozenset(),
) -> Plan:
    """Decide one healing pass. ``held``: node -> {chunk: generation} from chunk reports;
    ``busy``: repairs already running per node; ``inflight``: chunks being copied now;
    ``trusted``: reports recent enough to prove a listed copy is gone (a node whose report
    lacks a listed chunk lost it: deleted, or quarantined by its scrubber), except for
    ``young`` (chunk, node) copies listed after such a report may have been taken."""
    trusted = trusted or {}

    def present(node: str, chunk: int) -> bool:
        report = trusted.get(node)
        return report is None or chunk in report or (chunk, node) in young

    by_id = {v.id: v for v in views}
    live = {v.id for v in views if v.alive and v.state != "decommissioned"}
    active = {v.id for v in views if v.alive and v.state == "active"}
    load = Counter(busy)
    copies: list[Copy] = []
    trims: list[Trim] = []
    adopt: list[tuple[int, str]] = []
    under: Counter[int] = Counter()
    under_bytes = 0
    missing: list[int] = []
    listed: dict[int, set[str]] = {}
    needy: list[tuple[int, ChunkRow, list[str], list[str]]] = []
    for row in chunks:
        listed[row.id] = set(row.replicas)
        good = [n for n in row.replicas if n in live and present(n, row.id)]
        good_active = [n for n in good if n in active]
        k = row.replication
        if not good:
            missing.append(row.id)
            continue
        if len(good_active) < k:
            extra = [
                n
                for n, gen in _holders(held, row.id)
                if n in active and n not in row.replicas and gen == row.generation
            ]
            for n in extra[: k - len(good_active)]:
                adopt.append((row.id, n))
            short = k - len(good_active) - min(len(extra), k - len(good_active))
            if short > 0:
                under[short] += 1
                under_bytes += short * row.size
                needy.append((len(good), row, good, good_active))
            continue
        trims.extend(_trims(row, good, good_active, by_id, live))
    needy.sort(key=lambda t: (t[0], t[1].id))
    for _, row, good, _good_active in needy:
        if len(copies) >= max_copies:
            break
        if row.id in inflight:
            continue
        copy = _one_copy(row, good, views, load, max_per_node, len(good))
        if copy is not None:
            copies.append(copy)
            load[copy.source] += 1
            load[copy.target] += 1
    stale = _stale(held, listed, live)
    decommission = [
        v.id
        for v in views
        if v.state == "draining" and not any(v.id in reps for reps in listed.values())
    ]
    return Plan(copies, trims, adopt, stale, missing, dict(under), under_bytes, decommission)


def _holders(held: Mapping[str, Mapping[int, int]], chunk: int) -> list[tuple[str, int]]:
    return sorted((n, chunks[chunk]) for n, chunks in held.items() if chunk in chunks)


def _trims(
    row: ChunkRow,
    good: list[str],
    good_active: list[str],
    by_id: Mapping[str, NodeView],
    live: set[str],
) -> list[Trim]:
    """The chunk is whole: drop dead, lost, draining and excess entries, fullest first."""
    out = []
    for n in row.replicas:
        if n not in live:
            out.append(Trim(row.id, n, delete=False, reason="dead"))
        elif n not in good:
            out.append(Trim(row.id, n, delete=False, reason="missing"))
        elif n not in good_active:
            out.append(Trim(row.id, n, delete=True, reason="drained"))
    excess = len(good_active) - row.replication
    if excess > 0:
        fullest = sorted(good_active, key=lambda n: (-by_id[n].usage, n))[:excess]
        out.extend(Trim(row.id, n, delete=True, reason="excess") for n in fullest)
    return out


def _one_copy(
    row: ChunkRow,
    good: list[str],
    views: Sequence[NodeView],
    load: Counter[str],
    max_per_node: int,
    live_count: int,
) -> Copy | None:
    sources = sorted((n for n in good if load[n] < max_per_node), key=lambda n: (load[n], n))
    if not sources:
        return None
    open_views = [v for v in views if load[v.id] < max_per_node]
    try:
        target = placement.choose(open_views, 1, row.size, exclude=row.replicas)[0]
    except (NotEnoughNodes, NoSpace):
        return None
    return Copy(row.id, row.size, sources[0], target, live_count)


def _stale(
    held: Mapping[str, Mapping[int, int]], listed: Mapping[int, set[str]], live: set[str]
) -> list[tuple[int, str]]:
    """Copies of known chunks on live nodes that the map does not list (adoption aside)."""
    out = []
    for node in sorted(held):
        if node not in live:
            continue
        for chunk in sorted(held[node]):
            reps = listed.get(chunk)
            if reps is not None and node not in reps:
                out.append((chunk, node))
    return out


def orphans(
    held: Mapping[str, Mapping[int, int]],
    known: Iterable[int],
    pending: Iterable[int],
) -> list[tuple[int, str]]:
    """(chunk, node) pairs for chunk files that no file and no open session references."""
    keep = set(known) | set(pending)
    return sorted((c, n) for n, chunks in held.items() for c in chunks if c not in keep)


def rebalance(
    chunks: Iterable[ChunkRow],
    views: Sequence[NodeView],
    threshold: float,
    busy: Mapping[str, int],
    max_per_node: int,
    max_moves: int,
) -> list[Copy]:
    """Moves from the fullest to the emptiest active node while usage differs by > threshold."""
    pool = [v for v in views if v.alive and v.state == "active" and v.capacity > 0]
    if len(pool) < 2:
        return []
    fullest = max(pool, key=lambda v: (v.usage, v.id))
    emptiest = min(pool, key=lambda v: (v.usage, v.id))
    if fullest.usage - emptiest.usage <= threshold:
        return []
    load = Counter(busy)
    moves: list[Copy] = []
    gap_bytes = int((fullest.usage - emptiest.usage) * min(fullest.capacity, emptiest.capacity) / 2)
    moved = 0
    for row in chunks:
        if len(moves) >= max_moves or moved >= gap_bytes:
            break
        if fullest.id not in row.replicas or emptiest.id in row.replicas:
            continue
        if load[fullest.id] >= max_per_node or load[emptiest.id] >= max_per_node:
            break
        if emptiest.room < row.size:
            break
        moves.append(
            Copy(row.id, row.size, fullest.id, emptiest.id, len(row.replicas), reason="rebalance")
        )
        load[fullest.id] += 1
        load[emptiest.id] += 1
        moved += row.size
    return moves

"""The state machine is deterministic and pure: same commands, same bytes; no clocks or I/O."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from fahadfs.meta_raft.commands import batch, op
from fahadfs.meta_raft.state import MetaState
from tests._purity import assert_pure

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"asyncio", "aiohttp", "os", "time", "random", "threading", "socket", "datetime"}
NAMES = ["a", "b", "c", "d"]


def random_entries(seed: int, count: int) -> list[dict[str, Any]]:
    """A seeded stream of batches mixing every op, with colliding paths and moving time."""
    rng = random.Random(seed)
    now = 1_700_000_000_000
    next_chunk = 1

    def path() -> str:
        return "/" + "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 3)))

    def chunks() -> tuple[int, list[list[Any]]]:
        nonlocal next_chunk
        out = []
        for _ in range(rng.randint(0, 3)):
            out.append(
                [next_chunk, 100, next_chunk * 31 % 2**32, rng.sample(["n1", "n2", "n3"], 2)]
            )
            next_chunk += 1
        return 100 * len(out), out

    entries = [
        batch(
            now, [op("node_register", node_id=n, address=n, capacity=9) for n in ["n1", "n2", "n3"]]
        )
    ]
    for _ in range(count):
        now += rng.choice([0, 1, 100, 5000, 700_000])
        ops = []
        for _ in range(rng.randint(1, 6)):
            kind = rng.randrange(12)
            rid = rng.choice([None, f"r{rng.randrange(2000)}"])
            lease = rng.choice(["L1", "L2"])
            if kind == 0:
                ops.append(op("mkdir", rid, path=path(), parents=rng.random() < 0.5))
            elif kind == 1:
                size, cs = chunks()
                ops.append(op("commit", rid, path=path(), size=size, chunks=cs))
            elif kind == 2:
                ops.append(
                    op(
                        "create",
                        rid,
                        path=path(),
                        holder="h" + lease,
                        lease_id=lease,
                        ttl_ms=rng.choice([50, 5000]),
                    )
                )
            elif kind == 3:
                size, cs = chunks()
                token = rng.randrange(1, 60)
                ops.append(
                    op(
                        "commit",
                        rid,
                        path=path(),
                        lease_id=lease,
                        token=token,
                        size=size,
                        chunks=cs,
                    )
                )
            elif kind == 4:
                ops.append(
                    op(
                        "renew",
                        rid,
                        path=path(),
                        lease_id=lease,
                        ttl_ms=1000,
                        chunks=[rng.randrange(1, 200)],
                    )
                )
            elif kind == 5:
                ops.append(op("rm", rid, path=path()))
            elif kind == 6:
                ops.append(op("rmdir", rid, path=path(), recursive=rng.random() < 0.5))
            elif kind == 7:
                ops.append(op("mv", rid, src=path(), dst=path()))
            elif kind == 8:
                ops.append(op("cp", rid, src=path(), dst=path()))
            elif kind == 9:
                ops.append(op("expire_sessions", rid))
            elif kind == 10:
                cid = rng.randrange(1, next_chunk + 1)
                name = rng.choice(["replica_add", "replica_remove"])
                ops.append(op(name, rid, chunk_id=cid, node_id=rng.choice(["n1", "n2", "n3"])))
            else:
                ops.append(op("bump_generation", rid, chunk_id=rng.randrange(1, next_chunk + 1)))
        entries.append(batch(now, ops))
    return entries


def test_same_commands_give_same_results_and_snapshot_bytes() -> None:
    for seed in range(5):
        one, two = MetaState(), MetaState()
        for entry in random_entries(seed, 300):
            assert one.apply_entry(entry) == two.apply_entry(entry)
        assert one.snapshot() == two.snapshot()
        assert one.counts()["files"] > 0


def test_equal_states_reached_in_different_orders_give_equal_bytes() -> None:
    def build(names: list[str]) -> bytes:
        state = MetaState()
        state.apply_entry(batch(5, [op("mkdir", path=f"/{n}") for n in names]))
        state.apply_entry(batch(6, [op("mkdir", path=f"/{n}/sub") for n in reversed(names)]))
        return state.snapshot()

    assert build(["a", "b", "c", "zz"]) == build(["zz", "c", "a", "b"])


def test_restoring_a_snapshot_midway_changes_nothing() -> None:
    entries = random_entries(42, 400)
    straight = MetaState()
    for entry in entries:
        straight.apply_entry(entry)
    restored = MetaState()
    for i, entry in enumerate(entries):
        if i % 100 == 50:
            restored = MetaState.from_snapshot(restored.snapshot())
        restored.apply_entry(entry)
    assert restored.snapshot() == straight.snapshot()


def test_state_machine_modules_import_no_io_clock_or_randomness() -> None:
    """state.py and every fahadfs module it pulls in (transitively) stay pure."""
    checked = assert_pure("fahadfs.meta_raft.state")
    assert {"fahadfs.meta_raft.state", "fahadfs.meta_raft._records"} <= checked

"""Memory per file of the metadata state (docs/STATE.md: <= 350 bytes per one-chunk file).

Measured with tracemalloc in a fresh interpreter, so what the test process has already
allocated or interned does not move the number.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 350

SCRIPT = r"""
import gc, json, random, tracemalloc
from fahadfs.meta_raft.commands import batch, op
from fahadfs.meta_raft.state import MetaState

FILES, DIRS = 20_000, 200
rng = random.Random(7)
state = MetaState()
state.apply_entry(batch(1, [op("node_register", node_id=f"n{i}", address=f"10.0.0.{i}:7301",
                                capacity=1 << 40) for i in range(1, 5)]))
state.apply_entry(batch(2, [op("mkdir", path=f"/data/dir-{d:03d}", parents=True)
                            for d in range(DIRS)]))
entries = []
for start in range(0, FILES, 500):
    ops = []
    for i in range(start, start + 500):
        size = 1 << 20
        chunk = [rng.getrandbits(63), size, rng.getrandbits(32), ["n1", "n2", "n3"]]
        ops.append(op("commit", path=f"/data/dir-{i % DIRS:03d}/file-{i:06d}.bin",
                      size=size, chunks=[chunk], mtime=1_700_000_000_000 + i))
    entries.append(batch(3 + start, ops))
gc.collect()
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
for entry in entries:
    assert all(r["ok"] for r in state.apply_entry(entry))
# The commands are what the Raft log hands over; once applied only the state keeps them.
del entries, entry
gc.collect()
used = tracemalloc.get_traced_memory()[0] - before
assert state.counts()["files"] == FILES
print(json.dumps({"bytes_per_file": used / FILES}))
"""


def test_one_chunk_file_costs_under_350_bytes() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    per_file = json.loads(out.stdout)["bytes_per_file"]
    assert per_file < LIMIT, f"{per_file:.1f} bytes per file"

"""Pure: file contents the workload writes, and the fingerprints that identify them.

A content is made from a seed, so its hash is known before it is sent. The master's stat lists
each chunk's size and CRC32C; :func:`fingerprint` computes the same from the bytes (for a given
chunk size), so a stat can be matched to the write that produced it without downloading.
"""

from __future__ import annotations

import hashlib
import random

from fahadfs import checksum

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def make(seed: str, size: int) -> bytes:
    """``size`` pseudo-random bytes, a function of ``seed``."""
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(data: bytes, chunk_size: int) -> str:
    """``"<size>:<crc>,<crc>..."``: what a stat shows of ``data`` stored in chunks of that size."""
    crcs = [str(checksum.of(data[i : i + chunk_size])) for i in range(0, len(data), chunk_size)]
    return f"{len(data)}:{','.join(crcs)}"


def stat_fingerprint(stat: dict) -> str:  # type: ignore[type-arg]
    """The fingerprint of a file as the master's stat describes it."""
    chunks = stat.get("chunks") or []
    return f"{stat.get('size', 0)}:{','.join(str(c['checksum']) for c in chunks)}"


def value(size: int, sha: str) -> str:
    """The model value of a file with this content (what linearizability compares)."""
    return f"F:{size}:{sha}"

"""Chunk checksums: CRC32C (Castagnoli), incremental.

Chosen by measurement on the target machines: crc32c runs at ~15 GB/s against ~3 GB/s for
blake3 and ~1.5 GB/s for sha256, so checksumming never limits a 1 GB/s pipeline. The threat is
accidental corruption (bit rot, torn transfers), which CRC32C detects (HDFS uses it too);
forged data is kept out by the HMAC write tokens, not by the checksum.
"""

from __future__ import annotations

import crc32c as _crc32c

ALGORITHM = "crc32c"


class Checksum:
    """Incremental CRC32C: ``update`` with pieces, read ``value``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.value = _crc32c.crc32c(data, self.value)


def of(data: bytes | bytearray | memoryview) -> int:
    """CRC32C of a whole buffer."""
    return _crc32c.crc32c(data)

"""Packed ``bytes`` records for files and chunks: the compact representation of docs/STATE.md.

A file record is ``size u64, mtime u64, version u64, replication u8`` then one ``u64`` per chunk
id. A chunk record is ``size u64, checksum u32, generation u32, refcount u32, replication u8``
then one ``u16`` node index per replica (replication is the committing file's factor, so the
healer never has to walk the namespace to learn it). Everything is little-endian. Records are
immutable values: a change builds a new record.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

FILE_HEAD = struct.Struct("<QQQB")
CHUNK_HEAD = struct.Struct("<QIIIB")
_U32 = struct.Struct("<I")
_FILE_MTIME_VERSION = struct.Struct("<QQ")

U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF

# Precompiled tails for the common lengths (a file's chunk ids, a chunk's replicas).
_IDS = [struct.Struct(f"<{n}Q") for n in range(64)]
_REPLICAS = [struct.Struct(f"<{n}H") for n in range(16)]


class FileRec(NamedTuple):
    size: int
    mtime: int
    version: int
    replication: int
    chunks: tuple[int, ...]


class ChunkRec(NamedTuple):
    size: int
    checksum: int
    generation: int
    refs: int
    replication: int
    replicas: tuple[int, ...]


def pack_file(
    size: int, mtime: int, version: int, replication: int, chunks: tuple[int, ...] | list[int]
) -> bytes:
    return struct.pack(f"<QQQB{len(chunks)}Q", size, mtime, version, replication, *chunks)


def unpack_file(rec: bytes) -> FileRec:
    size, mtime, version, replication = FILE_HEAD.unpack_from(rec)
    return FileRec(size, mtime, version, replication, file_chunks(rec))


def file_chunks(rec: bytes) -> tuple[int, ...]:
    """The chunk ids of a file record, in file order."""
    count = (len(rec) - FILE_HEAD.size) >> 3
    tail = _IDS[count] if count < len(_IDS) else struct.Struct(f"<{count}Q")
    return tail.unpack_from(rec, FILE_HEAD.size)


def file_replication(rec: bytes) -> int:
    return rec[FILE_HEAD.size - 1]


def file_with_version(rec: bytes, mtime: int, version: int) -> bytes:
    """A copy of ``rec`` with a new mtime and version (what cp makes)."""
    return rec[:8] + _FILE_MTIME_VERSION.pack(mtime, version) + rec[24:]


def pack_chunk(
    size: int,
    checksum: int,
    generation: int,
    refs: int,
    replication: int,
    replicas: tuple[int, ...] | list[int],
) -> bytes:
    return struct.pack(
        f"<QIIIB{len(replicas)}H", size, checksum, generation, refs, replication, *replicas
    )


def unpack_chunk(rec: bytes) -> ChunkRec:
    size, checksum, generation, refs, replication = CHUNK_HEAD.unpack_from(rec)
    return ChunkRec(size, checksum, generation, refs, replication, chunk_replicas(rec))


def chunk_replicas(rec: bytes) -> tuple[int, ...]:
    """The replica node indices of a chunk record."""
    count = (len(rec) - CHUNK_HEAD.size) >> 1
    tail = _REPLICAS[count] if count < len(_REPLICAS) else struct.Struct(f"<{count}H")
    return tail.unpack_from(rec, CHUNK_HEAD.size)


def chunk_refs(rec: bytes) -> int:
    return int(_U32.unpack_from(rec, 16)[0])


def chunk_with_refs(rec: bytes, refs: int) -> bytes:
    return rec[:16] + _U32.pack(refs) + rec[20:]


def chunk_with_generation(rec: bytes, generation: int) -> bytes:
    return rec[:12] + _U32.pack(generation) + rec[16:]


def chunk_with_replicas(rec: bytes, replicas: tuple[int, ...] | list[int]) -> bytes:
    return rec[: CHUNK_HEAD.size] + struct.pack(f"<{len(replicas)}H", *replicas)

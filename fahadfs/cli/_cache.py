"""The CLI's local cache of downloaded (and uploaded) files, with a TTL.

Where: ``--cache-dir``, else ``$FAHADFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/fahadfs``, else
``~/.cache/fahadfs``. How long: ``--cache-ttl`` / ``$FAHADFS_CACHE_TTL`` seconds (default 300).
How much: ``$FAHADFS_CACHE_MAX`` bytes in all (default 1 GiB; oldest entries are evicted, a file
larger than half of it is not cached).

One entry per (cluster, remote path), in one file ``entries/<sha256>.entry``::

    payload (the file's bytes) | header (JSON) | u32 big-endian header length | b"FAHADFS1"

The header names the cluster, path, version, size, whole-file CRC32C, the chunk layout
(``[[chunk id, size, crc32c], ...]`` as the master recorded it) and when it was stored. An entry
is written to ``tmp/`` and renamed into place, so readers see a whole old entry or a whole new
one, never a mix; two writers simply race to the last rename.

An entry is served only if all of these hold, else it is a miss and the file is fetched again:
- it is younger than the TTL (``expired`` otherwise);
- its path, version and chunk ids/sizes/checksums equal those of a fresh ``stat`` (``changed``
  otherwise; chunk ids are random 63-bit numbers, so a re-created cluster that reuses version
  numbers still never matches);
- while it is copied out, its size, every chunk's CRC32C (against the master's checksums) and the
  whole-file CRC32C match (``corrupt`` otherwise; the entry is deleted and nothing is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fahadfs.checksum import Checksum

MAGIC = b"FAHADFS1"
_TRAILER = struct.Struct(">I8s")
DEFAULT_TTL = 300.0
DEFAULT_MAX_BYTES = 1 << 30
PIECE = 1 << 20
_TMP_MAX_AGE = 3600.0

Layout = tuple[tuple[int, int, int], ...]  # (chunk id, size, crc32c) per chunk, in order


def layout_of(stat: Mapping[str, Any]) -> Layout:
    """The chunk layout of a file stat (as returned by ``GET /v1/stat``)."""
    return tuple(
        (int(c["id"]), int(c["size"]), int(c["checksum"])) for c in stat.get("chunks") or []
    )


def default_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("FAHADFS_CACHE_DIR"):
        return Path(env["FAHADFS_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fahadfs"


class Verifier:
    """Checks bytes against a chunk layout and a whole-file CRC32C as they stream past."""

    def __init__(self, layout: Layout, crc32c: int | None = None) -> None:
        self.layout = layout
        self.expected_size = sum(size for _, size, _ in layout)
        self.expected_crc = crc32c
        self.size = 0
        self.whole = Checksum()
        self._index = 0  # chunk being filled
        self._filled = 0  # bytes of it so far
        self._chunk = Checksum()
        self.bad_chunk: int | None = None

    def update(self, data: bytes | memoryview) -> None:
        self.whole.update(data)
        view = memoryview(data)
        self.size += len(view)
        while view:
            if self._index >= len(self.layout):
                return  # too many bytes: ok() fails on the size
            _, csize, csum = self.layout[self._index]
            take = min(len(view), csize - self._filled)
            self._chunk.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == csize:
                if self._chunk.value != csum and self.bad_chunk is None:
                    self.bad_chunk = self._index
                self._index, self._filled, self._chunk = self._index + 1, 0, Checksum()

    def ok(self) -> bool:
        if self.size != self.expected_size or self.bad_chunk is not None:
            return False
        if self._index != len(self.layout):
            return False
        return self.expected_crc is None or self.whole.value == self.expected_crc


@dataclass
class Lookup:
    """The answer of :meth:`Cache.lookup`: ``reason`` is hit, absent, expired or changed."""

    reason: str
    entry: Path | None = None
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def hit(self) -> bool:
        return self.reason == "hit"


class Cache:
    """A directory of verified file copies; see the module docstring for the rules."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        ttl: float = DEFAULT_TTL,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.clock = clock

    # -- layout on disk

    def _entries(self) -> Path:
        return self.directory / "entries"

    def _tmpdir(self) -> Path:
        return self.directory / "tmp"

    def entry_path(self, cluster: str, path: str) -> Path:
        digest = hashlib.sha256(f"{cluster}\0{path}".encode()).hexdigest()[:40]
        return self._entries() / f"{digest}.entry"

    def _ensure_dirs(self) -> None:
        for d in (self.directory, self._entries(), self._tmpdir()):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- lookup and serve

    def lookup(self, cluster: str, stat: Mapping[str, Any]) -> Lookup:
        """Is there an entry for this exact file version, younger than the TTL?"""
        entry = self.entry_path(cluster, str(stat["path"]))
        header = read_header(entry)
        if header is None:
            return Lookup("absent")
        if self.clock() - float(header.get("stored_at", 0)) > self.ttl:
            _unlink(entry)
            return Lookup("expired", header=header)
        same = (
            header.get("cluster") == cluster
            and header.get("path") == stat["path"]
            and header.get("version") == stat.get("version")
            and header.get("size") == stat.get("size")
            and tuple(tuple(c) for c in header.get("chunks", ())) == layout_of(stat)
        )
        if not same:
            return Lookup("changed", header=header)
        return Lookup("hit", entry=entry, header=header)

    def serve_to_path(self, hit: Lookup, target: str | os.PathLike[str]) -> bool:
        """Copy a hit to ``target`` (temp file + rename), verifying every byte on the way.

        Returns False (and deletes the entry, writes nothing) if the entry is corrupt.
        """
        assert hit.entry is not None
        target = os.fspath(target)
        folder, name = os.path.split(os.path.abspath(target))
        tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.fahadfs-part")
        verifier = self._verifier(hit.header)
        try:
            src = open(hit.entry, "rb")  # noqa: SIM115
        except OSError:
            return False  # evicted meanwhile: a miss
        try:
            with src, open(tmp, "xb") as dst:
                _copy(src, int(hit.header["size"]), verifier, dst.write)
            if not verifier.ok():
                _unlink(Path(tmp))
                _unlink(hit.entry)
                return False
            os.replace(tmp, target)
        except BaseException:
            _unlink(Path(tmp))
            raise
        self._touch(hit.entry)
        return True

    def verify(self, hit: Lookup) -> bool:
        """Read a hit once and check it; a corrupt entry is deleted (returns False)."""
        assert hit.entry is not None
        verifier = self._verifier(hit.header)
        try:
            with open(hit.entry, "rb") as src:
                _copy(src, int(hit.header["size"]), verifier, None)
        except OSError:
            return False
        if not verifier.ok():
            _unlink(hit.entry)
            return False
        return True

    def serve_to_stream(self, hit: Lookup, write: Callable[[bytes], Any]) -> bool:
        """Verify a hit, then stream it to ``write``; False (nothing written) if corrupt."""
        if not self.verify(hit):
            return False
        assert hit.entry is not None
        with open(hit.entry, "rb") as src:
            _copy(src, int(hit.header["size"]), None, write)
        self._touch(hit.entry)
        return True

    @staticmethod
    def _verifier(header: Mapping[str, Any]) -> Verifier:
        layout = tuple(tuple(c) for c in header.get("chunks", ()))
        return Verifier(layout, int(header.get("crc32c", 0)))  # type: ignore[arg-type]

    def _touch(self, entry: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(entry)

    # -- store

    def cacheable(self, size: int) -> bool:
        return size <= self.max_bytes // 2

    def writer(self, cluster: str, stat: Mapping[str, Any]) -> Writer | None:
        """A writer that becomes the entry for this file version on a verified ``commit``;
        ``None`` if the file is too large to cache or the cache directory is unusable."""
        if not self.cacheable(int(stat.get("size", 0))):
            return None
        try:
            self._ensure_dirs()
            return Writer(self, cluster, stat)
        except OSError:
            return None

    def store_file(
        self, cluster: str, stat: Mapping[str, Any], local: str | os.PathLike[str]
    ) -> bool:
        """Cache a local copy of a file version (after a put, or a get to a path).

        Stored only if its bytes match the chunk checksums of ``stat``: a local file changed
        after the upload is never taken for the remote one.
        """
        w = self.writer(cluster, stat)
        if w is None:
            return False
        try:
            with open(local, "rb") as src:
                _copy(src, None, None, w.write)
        except OSError:
            w.abort()
            return False
        return w.commit()

    def discard(self, cluster: str, path: str) -> None:
        _unlink(self.entry_path(cluster, path))

    def prune(self) -> None:
        """Evict the least recently used entries beyond ``max_bytes``; drop old temp files."""
        now = time.time()
        with contextlib.suppress(OSError):
            for tmp in self._tmpdir().iterdir():
                with contextlib.suppress(OSError):
                    if now - tmp.stat().st_mtime > _TMP_MAX_AGE:
                        tmp.unlink()
        try:
            entries = []
            for e in self._entries().iterdir():
                with contextlib.suppress(OSError):
                    st = e.stat()
                    entries.append((st.st_mtime, st.st_size, e))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, e in sorted(entries):
            if total <= self.max_bytes:
                break
            _unlink(e)
            total -= size


class Writer:
    """Bytes of one file version on their way into the cache (see :meth:`Cache.writer`)."""

    def __init__(self, cache: Cache, cluster: str, stat: Mapping[str, Any]) -> None:
        self.cache, self.cluster = cache, cluster
        self.stat = dict(stat)
        self.layout = layout_of(stat)
        self.verifier = Verifier(self.layout)
        self.tmp = cache._tmpdir() / f"{uuid.uuid4().hex}.part"
        self._file: IO[bytes] | None = open(self.tmp, "xb")  # noqa: SIM115
        self.failed = False

    def write(self, data: bytes | memoryview) -> None:
        if self._file is None or self.failed:
            return
        try:
            self._file.write(data)
            self.verifier.update(data)
        except OSError:
            self.failed = True  # a full cache disk must never fail the download itself

    def commit(self) -> bool:
        """Verify and rename into place; False (and nothing stored) on any mismatch."""
        if self._file is None:
            return False
        try:
            if self.failed or not self.verifier.ok():
                self.abort()
                return False
            header = {
                "format": 1,
                "cluster": self.cluster,
                "path": self.stat["path"],
                "version": self.stat.get("version"),
                "size": self.verifier.size,
                "crc32c": self.verifier.whole.value,
                "chunks": [list(c) for c in self.layout],
                "stored_at": self.cache.clock(),
            }
            raw = json.dumps(header, separators=(",", ":")).encode()
            self._file.write(raw + _TRAILER.pack(len(raw), MAGIC))
            self._file.close()
            self._file = None
            os.replace(self.tmp, self.cache.entry_path(self.cluster, str(self.stat["path"])))
        except OSError:
            self.abort()
            return False
        self.cache.prune()
        return True

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        _unlink(self.tmp)


def read_header(entry: Path) -> dict[str, Any] | None:
    """The header of an entry file, or None if it is missing or malformed."""
    try:
        with open(entry, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            if end < _TRAILER.size:
                return None
            f.seek(end - _TRAILER.size)
            length, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != MAGIC or length > end - _TRAILER.size:
                return None
            f.seek(end - _TRAILER.size - length)
            header = json.loads(f.read(length))
            if not isinstance(header, dict):
                return None
            if header.get("size") != end - _TRAILER.size - length:
                return None
            return header
    except (OSError, ValueError):
        return None


def _copy(
    src: IO[bytes],
    limit: int | None,
    verifier: Verifier | None,
    write: Callable[[bytes], Any] | None,
) -> None:
    left = limit
    while left is None or left > 0:
        data = src.read(PIECE if left is None else min(PIECE, left))
        if not data:
            break
        if left is not None:
            left -= len(data)
        if verifier is not None:
            verifier.update(data)
        if write is not None:
            write(data)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()

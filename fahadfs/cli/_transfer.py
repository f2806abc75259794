"""One file up or down, through the local cache: shared by put, get and cat."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fahadfs.cli._context import Session
from fahadfs.cli._progress import Bar
from fahadfs.client import PutResult


async def fetch(s: Session, st: dict[str, Any], dest: Any, bar: Bar) -> str:
    """Download the file of ``st`` (a fresh strict stat) to a local path or a binary stream.

    A cache entry for exactly this version, younger than the TTL and verified byte by byte, is
    served without contacting any file node. Returns ``"cache"`` or ``"cluster"``.
    """
    path, cache = str(st["path"]), s.cache
    is_path = isinstance(dest, str | os.PathLike)
    if cache is not None:
        look = await asyncio.to_thread(cache.lookup, s.cluster, st)
        if look.hit:
            if is_path:
                served = await asyncio.to_thread(cache.serve_to_path, look, dest)
            else:
                served = await asyncio.to_thread(cache.serve_to_stream, look, dest.write)
            if served:
                s.debug(f"cache hit {path} (version {st.get('version')})")
                bar.add(int(st.get("size", 0)))
                return "cache"
            s.debug(f"cache entry of {path} failed verification: deleted; fetching it again")
        else:
            s.debug(f"cache miss {path} ({look.reason})")
    if is_path:
        res = await s.client.get(path, dest, progress=bar.tracker())
        same = res.version == st.get("version")
        if (
            cache is not None
            and same
            and await asyncio.to_thread(cache.store_file, s.cluster, st, dest)
        ):
            s.debug(f"cached {path} (version {res.version})")
        return "cluster"
    writer = cache.writer(s.cluster, st) if cache is not None else None
    try:
        res = await s.client.get(path, _Tee(dest, writer), progress=bar.tracker())
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        if res.version == st.get("version") and writer.commit():
            s.debug(f"cached {path} (version {res.version})")
        else:
            writer.abort()
    return "cluster"


class _Tee:
    """A stream that also feeds a cache writer."""

    def __init__(self, out: Any, writer: Any) -> None:
        self.out, self.writer = out, writer

    def write(self, data: bytes) -> None:
        self.out.write(data)
        if self.writer is not None:
            self.writer.write(data)


async def upload(
    s: Session,
    source: str | Any,
    remote: str,
    bar: Bar,
    *,
    replication: int | None = None,
    chunk_size: int | None = None,
) -> PutResult:
    """Upload a local file (or a stream) to ``remote``; a local file also refreshes the cache."""
    res = await s.client.put(
        source,
        remote,
        progress=bar.tracker(),
        replication=replication,
        chunk_size=chunk_size,
    )
    cache = s.cache
    if cache is not None and isinstance(source, str) and cache.cacheable(res.size):
        st = await s.client.stat(res.path)
        if st.get("version") == res.version and await asyncio.to_thread(
            cache.store_file, s.cluster, st, source
        ):
            s.debug(f"cached {res.path} (version {res.version})")
    return res

"""What every client command shares: config from the global flags, one Client per run, remote
path arguments, the cache and messages on stderr.

    def run(args):
        return _context.run(args, lambda s: _ls(s, args))

A command's coroutine gets a :class:`Session` (args, config, client, cache) and returns its exit
code. Errors propagate to ``fahadfs.cli.main``, which prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fahadfs import config as config_mod
from fahadfs import errors, paths
from fahadfs.cli import _cache, _progress
from fahadfs.client import Client

TIMEOUT_ENV = "FAHADFS_TIMEOUT"


# -- config -------------------------------------------------------------------------------------


def load_config(args: argparse.Namespace) -> config_mod.Config:
    """cluster.toml (``-c``, ``$FAHADFS_CONFIG``, ``./cluster.toml``) with ``--masters`` applied.

    With ``--masters`` and no cluster file at all, defaults stand in for the rest, so a client
    needs nothing but the masters' addresses.
    """
    masters = [m for m in (getattr(args, "masters", None) or "").split(",") if m.strip()]
    explicit = getattr(args, "config", None) or os.environ.get(config_mod.CONFIG_ENV)
    if masters and not explicit and not Path(config_mod.DEFAULT_CONFIG).exists():
        bare = config_mod.Config(
            name="remote",
            secret="",
            replication=3,
            chunk_size=64 << 20,
            data_dir=Path(".fahadfs"),
            timeouts=config_mod.Timeouts(),
            healer=config_mod.HealerConfig(),
            scrub=config_mod.ScrubConfig(),
            masters=(),
            nodes=(),
            source="--masters",
        )
        return bare.with_masters(masters)
    cfg = config_mod.load(getattr(args, "config", None))
    return cfg.with_masters(masters) if masters else cfg


def cluster_key(cfg: config_mod.Config) -> str:
    """Which cluster cache entries belong to: its name and master addresses."""
    return f"{cfg.name}@{','.join(sorted(m.http_address for m in cfg.masters))}"


def client_deadline(args: argparse.Namespace, cfg: config_mod.Config) -> float:
    value = getattr(args, "timeout", None) or os.environ.get(TIMEOUT_ENV)
    if value is None:
        return cfg.timeouts.request
    try:
        seconds = float(value)
    except ValueError:
        raise errors.ConfigError(f"--timeout / ${TIMEOUT_ENV}: not a number: {value!r}") from None
    if seconds <= 0:
        raise errors.ConfigError(f"--timeout / ${TIMEOUT_ENV}: must be positive, got {value!r}")
    return seconds


# -- the cache ----------------------------------------------------------------------------------


def add_cache_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor update the local cache"
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache directory (default: $FAHADFS_CACHE_DIR, else ~/.cache/fahadfs)",
    )
    parser.add_argument(
        "--cache-ttl",
        metavar="SECONDS",
        help=f"serve cached copies this long (default: $FAHADFS_CACHE_TTL, else "
        f"{_cache.DEFAULT_TTL:.0f})",
    )


def make_cache(args: argparse.Namespace) -> _cache.Cache | None:
    if getattr(args, "no_cache", False) or os.environ.get("FAHADFS_NO_CACHE") == "1":
        return None
    directory = getattr(args, "cache_dir", None)
    where = Path(directory).expanduser() if directory else _cache.default_dir()
    ttl_text = getattr(args, "cache_ttl", None) or os.environ.get("FAHADFS_CACHE_TTL")
    ttl = _cache.DEFAULT_TTL
    if ttl_text is not None:
        ttl = float(config_mod.parse_duration(ttl_text, "--cache-ttl"))
    max_text = os.environ.get("FAHADFS_CACHE_MAX")
    max_bytes = _cache.DEFAULT_MAX_BYTES
    if max_text:
        max_bytes = config_mod.parse_size(max_text, "$FAHADFS_CACHE_MAX")
    if ttl <= 0:
        return None
    return _cache.Cache(where, ttl=ttl, max_bytes=max_bytes)


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Session:
    """One command's view of the cluster."""

    args: argparse.Namespace
    config: config_mod.Config
    client: Client
    cache: _cache.Cache | None
    cluster: str

    def info(self, text: str) -> None:
        """A progress message for people (stderr; silenced by -q and --json)."""
        if not self.args.quiet and not getattr(self.args, "json", False):
            _progress.say(text)

    def debug(self, text: str) -> None:
        """Shown with -v only."""
        if self.args.verbose:
            _progress.say(f"fahadfs: {text}")


def run(args: argparse.Namespace, body: Callable[[Session], Awaitable[int | None]]) -> int:
    """Run ``body`` with a connected Client; returns its exit code (None -> 0)."""
    cfg = load_config(args)

    async def main() -> int:
        async with Client(cfg, deadline=client_deadline(args, cfg)) as client:
            session = Session(args, cfg, client, make_cache(args), cluster_key(cfg))
            return int(await body(session) or 0)

    return asyncio.run(main())


# -- remote paths -------------------------------------------------------------------------------


def remote(arg: str) -> str:
    """A remote path argument: absolute, or taken relative to ``/``; validated."""
    text = arg if arg.startswith("/") else "/" + arg
    return paths.normalize(text)


def wants_dir(arg: str) -> bool:
    """``/a/b/`` names a directory (the target must exist as one)."""
    return len(arg) > 1 and arg.endswith("/")


def child(parent: str, name: str) -> str:
    return paths.normalize(("" if parent == "/" else parent) + "/" + name)


async def stat_or_none(client: Client, path: str) -> dict[str, Any] | None:
    try:
        return await client.stat(path)
    except errors.NotFound:
        return None


async def resolve_target(client: Client, verb: str, dst_arg: str, name: str) -> str:
    """Where ``verb SRC DST`` puts an item called ``name``, as cp/mv do: inside DST when DST is
    an existing directory (or is written with a trailing ``/``), else DST itself."""
    dst = remote(dst_arg)
    st = await stat_or_none(client, dst)
    if st is not None and st.get("type") == "dir":
        return child(dst, name)
    if wants_dir(dst_arg):
        if st is None:
            raise errors.NotFound(f"{verb}: no such directory {dst}")
        raise errors.NotADirectory(f"{verb}: {dst} is not a directory")
    return dst


async def bounded(jobs: list[Callable[[], Awaitable[Any]]], parallel: int) -> list[Any]:
    """Run jobs, at most ``parallel`` at a time, results in order; the first error cancels the
    rest and is raised."""
    gate = asyncio.Semaphore(max(1, parallel))

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    tasks = [asyncio.ensure_future(one(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

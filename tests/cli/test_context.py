"""Config from the global flags, remote path arguments and when progress bars show."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from fahadfs import errors
from fahadfs.cli import _context, _progress


def ns(**kw: object) -> argparse.Namespace:
    base = {"config": None, "masters": None, "json": False, "quiet": False, "verbose": False,
            "timeout": None}  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_masters_alone_need_no_cluster_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FAHADFS_CONFIG", raising=False)
    cfg = _context.load_config(ns(masters="10.0.0.1:7201, 10.0.0.2:7201"))
    assert [m.http_address for m in cfg.masters] == ["10.0.0.1:7201", "10.0.0.2:7201"]
    with pytest.raises(errors.ConfigError, match="no such config file"):
        _context.load_config(ns())


def test_masters_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2] / "cluster.toml"
    cfg = _context.load_config(ns(config=str(root), masters="h:1"))
    assert [m.http_address for m in cfg.masters] == ["h:1"] and cfg.name == "local"
    assert _context.cluster_key(cfg) == "local@h:1"


def test_timeout_from_flag_env_or_file(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2] / "cluster.toml"
    cfg = _context.load_config(ns(config=str(root)))
    monkeypatch.delenv("FAHADFS_TIMEOUT", raising=False)
    assert _context.client_deadline(ns(), cfg) == cfg.timeouts.request
    monkeypatch.setenv("FAHADFS_TIMEOUT", "7")
    assert _context.client_deadline(ns(), cfg) == 7.0
    assert _context.client_deadline(ns(timeout=2.5), cfg) == 2.5
    monkeypatch.setenv("FAHADFS_TIMEOUT", "soon")
    with pytest.raises(errors.ConfigError):
        _context.client_deadline(ns(), cfg)


def test_remote_paths() -> None:
    assert _context.remote("/a/b/") == "/a/b"
    assert _context.remote("a/b") == "/a/b"
    assert _context.remote("/") == "/"
    assert (
        _context.wants_dir("/a/") and not _context.wants_dir("/") and not _context.wants_dir("/a")
    )
    assert _context.child("/", "x") == "/x" and _context.child("/a", "x") == "/a/x"
    with pytest.raises(errors.InvalidArgument):
        _context.remote("/a/../b")


def test_cache_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAHADFS_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("FAHADFS_CACHE_TTL", "2m")
    cache = _context.make_cache(ns())
    assert cache is not None and cache.directory == tmp_path / "env" and cache.ttl == 120
    cache = _context.make_cache(ns(cache_dir=str(tmp_path / "flag"), cache_ttl="5"))
    assert cache is not None and cache.directory == tmp_path / "flag" and cache.ttl == 5
    assert _context.make_cache(ns(no_cache=True)) is None
    assert _context.make_cache(ns(cache_ttl="0")) is None


class Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_for_big_transfers_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAHADFS_PROGRESS", raising=False)
    big = 10 << 20
    assert _progress.enabled(ns(), big, Tty(True))
    assert not _progress.enabled(ns(), big, Tty(False))
    assert not _progress.enabled(ns(quiet=True), big, Tty(True))
    assert not _progress.enabled(ns(json=True), big, Tty(True))
    assert not _progress.enabled(ns(), 1000, Tty(True))
    monkeypatch.setenv("FAHADFS_PROGRESS", "1")
    assert _progress.enabled(ns(), 10, Tty(False))
    assert not _progress.enabled(ns(quiet=True), 10, Tty(False))


async def test_bounded_keeps_order_limits_concurrency_and_stops_on_error() -> None:
    import asyncio

    running = peak = 0

    def job(i: int, fail: bool = False) -> Any:
        async def go() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01 * (5 - i % 5))
            running -= 1
            if fail:
                raise errors.NotFound(f"job {i}")
            return i

        return go

    assert await _context.bounded([job(i) for i in range(10)], 3) == list(range(10))
    assert peak == 3
    with pytest.raises(errors.NotFound, match="job 2"):
        await _context.bounded([job(i, fail=i == 2) for i in range(6)], 2)

"""Fixtures that start real fahadfs processes on 127.0.0.1 and stop them by pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fahadfs.localcluster import ClusterSpec, LocalCluster


@pytest.fixture
def masters_only(tmp_path: Path) -> Iterator[LocalCluster]:
    """Three masters, no file nodes."""
    cluster = LocalCluster(tmp_path / "c", ClusterSpec(nodes=0))
    try:
        cluster.start(nodes=False)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One cluster for a module's tests that leave every process running."""
    root = tmp_path_factory.mktemp("shared")
    cluster = LocalCluster(root / "c", ClusterSpec(nodes=5, chunk_size=64 << 10))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Three masters and five file nodes, 64 KiB chunks."""
    cluster = LocalCluster(tmp_path / "c", ClusterSpec(nodes=5, chunk_size=64 << 10))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

"""A real cluster per test module and a runner for `fahadfs` subprocesses against it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from fahadfs.localcluster import ClusterSpec, LocalCluster

CHUNK = 64 << 10


@dataclass
class Fs:
    """Runs ``python -m fahadfs ...`` with the cluster's config and a private cache.

    ``fs.inproc`` is the same runner calling ``fahadfs.cli.main.main`` in this process (same
    parser, same exit codes and stderr lines, no interpreter start-up): for the many detail
    checks, while every command also runs as a real subprocess somewhere.
    """

    cluster: LocalCluster
    cache_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    in_process: bool = False

    @property
    def inproc(self) -> Fs:
        return replace(self, in_process=True)

    def environ(self, env: dict[str, str] | None) -> dict[str, str]:
        full = {
            **os.environ,
            "FAHADFS_CONFIG": str(self.cluster.config_path),
            "FAHADFS_CACHE_DIR": str(self.cache_dir),
            "FAHADFS_TIMEOUT": "20",
            **self.env,
            **(env or {}),
        }
        full.pop("FAHADFS_PROGRESS", None)
        return full

    def run(
        self,
        *argv: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[bytes]:
        if self.in_process:
            return _run_in_process(list(argv), input, self.environ(env), cwd)
        return subprocess.run(
            [sys.executable, "-m", "fahadfs", *argv],
            input=input,
            capture_output=True,
            env=self.environ(env),
            cwd=cwd,
            timeout=timeout,
        )

    def ok(self, *argv: str, **kw: object) -> str:
        """Run, expect exit 0 and no stderr noise; return stdout as text."""
        r = self.run(*argv, **kw)  # type: ignore[arg-type]
        assert r.returncode == 0, (argv, r.returncode, r.stderr.decode())
        return r.stdout.decode()

    def fails(self, *argv: str, code: int = 1, **kw: object) -> str:
        """Run, expect exit ``code`` with exactly one line on stderr; return that line."""
        r = self.run(*argv, **kw)  # type: ignore[arg-type]
        err = r.stderr.decode()
        assert r.returncode == code, (argv, r.returncode, r.stdout.decode(), err)
        if code == 1:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("fahadfs: "), err
            assert "Traceback" not in err
        return err.strip()


def _run_in_process(
    argv: list[str], input: bytes | None, env: dict[str, str], cwd: str | os.PathLike[str] | None
) -> subprocess.CompletedProcess[bytes]:
    from fahadfs.cli.main import main

    saved = (sys.stdin, sys.stdout, sys.stderr, dict(os.environ), os.getcwd())
    out, err = io.BytesIO(), io.BytesIO()
    wrappers = (
        io.TextIOWrapper(io.BytesIO(input or b"")),
        io.TextIOWrapper(out, write_through=True),
        io.TextIOWrapper(err, write_through=True),
    )
    sys.stdin, sys.stdout, sys.stderr = wrappers
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        for w in wrappers[1:]:
            w.flush()
        result = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.environ.clear()
        os.environ.update(saved[3])
        os.chdir(saved[4])
        for w in wrappers:
            w.detach()
    return result


def start_cluster(root: Path, nodes: int = 4, **spec: object) -> LocalCluster:
    cluster = LocalCluster(root, ClusterSpec(nodes=nodes, chunk_size=CHUNK, **spec))  # type: ignore[arg-type]
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """3 masters + 4 file nodes, 64 KiB chunks, shared by the tests of one module."""
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def fs(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Fs:
    return Fs(cluster, tmp_path_factory.mktemp("cache"))


def node_ids(cluster: LocalCluster) -> Sequence[str]:
    return [n.id for n in cluster.config.nodes]

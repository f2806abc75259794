"""``fahadfs node``: where a node listens and keeps its data; a real node process end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fahadfs import config
from fahadfs.errors import ConfigError
from fahadfs.storage._main import plan_node

from .conftest import free_port, write_token

TOML = """
[cluster]
secret = "test-secret-1234"
data_dir = "state"
[[master]]
id = "m1"
host = "127.0.0.1"
raft_port = {raft}
http_port = {mport}
[[node]]
id = "n1"
host = "127.0.0.1"
port = {port}
capacity = "1GiB"
[[node]]
id = "n2"
host = "127.0.0.1"
port = {port2}
data_dir = "elsewhere/n2"
"""


def write_config(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    text = TOML.format(raft=free_port(), mport=free_port(), port=port, port2=free_port())
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path, port


def test_plan_uses_the_config_entry_and_the_data_dir(tmp_path: Path) -> None:
    path, port = write_config(tmp_path)
    cfg = config.load(path)
    plan = plan_node(cfg, "n1", None, None)
    assert (plan.host, plan.port, plan.advertise) == ("127.0.0.1", port, f"127.0.0.1:{port}")
    assert plan.data_dir == (tmp_path / "state" / "n1").resolve() and plan.capacity == 1 << 30
    assert plan_node(cfg, "n2", None, None).data_dir == (tmp_path / "elsewhere" / "n2").resolve()


def test_plan_overrides_from_the_command_line(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path)
    cfg = config.load(path)
    plan = plan_node(cfg, "n1", "0.0.0.0:9999", str(tmp_path / "d"))
    assert (plan.host, plan.port, plan.advertise) == ("0.0.0.0", 9999, "127.0.0.1:9999")
    assert plan.data_dir == (tmp_path / "d").resolve()
    extra = plan_node(cfg, "n9", "127.0.0.1:9998", None)
    assert extra.advertise == "127.0.0.1:9998" and extra.data_dir.name == "n9"
    with pytest.raises(ConfigError, match="n9"):
        plan_node(cfg, "n9", None, None)
    with pytest.raises(ConfigError, match="--listen"):
        plan_node(cfg, "n1", "nonsense", None)


def start(tmp_path: Path, node_id: str = "n1") -> subprocess.Popen[bytes]:
    code = (
        "import sys; from fahadfs.storage.server import main_node; "
        f"sys.exit(main_node({node_id!r}, 'cluster.toml', None, None))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, finish(proc)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("node did not become ready")


def put(port: int, data: bytes) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chunk/00000000000000aa",
        data=data,
        method="PUT",
        headers={"X-Fahadfs-Token": write_token(0xAA, len(data))},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def get(port: int) -> bytes:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/v1/chunk/00000000000000aa", timeout=10
    ) as r:
        return bytes(r.read())


def finish(proc: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, str]:
    """Wait for the process to exit (killed if it will not); its exit code and stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, err.decode()


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    return finish(proc, 20)[0]


def test_node_process_serves_keeps_pid_and_log_and_stops_cleanly(tmp_path: Path) -> None:
    _, port = write_config(tmp_path)
    home = tmp_path / "state" / "n1"
    proc = start(tmp_path)
    try:
        wait_ready(proc, port)
        assert (home / "n1.pid").read_text().strip() == str(proc.pid)
        assert put(port, b"survives a restart") == 200
        code, err = finish(start(tmp_path))
        assert code == 1 and "already running" in err and len(err.strip().splitlines()) == 1
    finally:
        assert stop(proc) == 0
    assert not (home / "n1.pid").exists()
    assert "node.listening" in (home / "n1.log").read_text()
    again = start(tmp_path)
    try:
        wait_ready(again, port)
        assert get(port) == b"survives a restart"
    finally:
        assert stop(again) == 0


def test_bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "cluster.toml").write_text("[cluster]\nsecret = 'short'\n")
    code, err = finish(start(tmp_path))
    assert code == 1 and err.startswith("fahadfs node: ") and len(err.strip().splitlines()) == 1


def test_port_in_use_is_exit_1(tmp_path: Path) -> None:
    import socket

    _, port = write_config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        code, err = finish(start(tmp_path))
    assert code == 1 and "cannot listen" in err
    assert not (tmp_path / "state" / "n1" / "n1.pid").exists()

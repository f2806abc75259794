"""config.py: cluster.toml is validated with one clear line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fahadfs import config
from fahadfs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_cluster_toml_is_valid() -> None:
    cfg = config.load(ROOT / "cluster.toml")
    assert [m.id for m in cfg.masters] == ["m1", "m2", "m3"]
    assert len(cfg.nodes) == 4
    assert cfg.replication == 3
    assert cfg.chunk_size == 64 << 20
    assert cfg.timeouts.heartbeat == 0.5 and cfg.timeouts.dead_node == 5.0
    assert cfg.data_dir == ROOT / ".fahadfs"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("64MiB", 64 << 20), ("1 GiB", 1 << 30), ("4KiB", 4096), ("10", 10)],
)
def test_sizes(value, expected) -> None:
    assert config.parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(5, 5.0), ("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), (0.25, 0.25)]
)
def test_durations(value, expected) -> None:
    assert config.parse_duration(value) == expected


def _base() -> str:
    return (ROOT / "cluster.toml").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('chunk_size = "64MiB"', 'chunk_size = "lots"'), "cluster.chunk_size: must be a size"),
        (("replication = 3", "replication = 0"), "cluster.replication: must be an integer 1-16"),
        (('heartbeat = "500ms"', 'heartbeat = "soon"'), "timeouts.heartbeat: must be a duration"),
        (("http_port = 7201", 'http_port = "x"'), "master[0].http_port: must be an integer port"),
        (("http_port = 7202", "http_port = 7201"), "address 127.0.0.1:7201 is used twice"),
        (('id = "n2"', 'id = "n1"'), "duplicate id 'n1'"),
        (('secret = "change-me-please"', 'secret = "x"'), "cluster.secret: must be at least 8"),
        (("[healer]", "[healer]\nbogus = 1"), "healer.bogus: unknown key"),
        (('dead_node = "5s"', 'dead_node = "100ms"'), "timeouts.dead_node: must be longer"),
        (('id = "m1"', 'id = "../evil"'), "master[0].id: must match"),
    ],
)
def test_bad_files_are_rejected_with_one_line(tmp_path: Path, edit, message) -> None:
    old, new = edit
    text = _base()
    assert old in text
    p = tmp_path / "c.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        config.load(p)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert str(p) in str(err.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "absent.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[cluster\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(p)


def test_env_var_names_the_default(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "c.toml"
    p.write_text(_base())
    monkeypatch.setenv("FAHADFS_CONFIG", str(p))
    assert config.load().source == str(p)


def test_masters_override() -> None:
    cfg = config.load(ROOT / "cluster.toml").with_masters(["10.0.0.1:80", "h:81"])
    assert [m.http_address for m in cfg.masters] == ["10.0.0.1:80", "h:81"]
    with pytest.raises(ConfigError, match="expected host:port"):
        cfg.with_masters(["nope"])

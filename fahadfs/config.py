"""cluster.toml -> one frozen, typed, validated Config.

A bad file is rejected with a ConfigError whose message is one line naming the key and the
problem, e.g. ``cluster.toml: master[1].http_port: must be an integer port 1-65535, got 'x'``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fahadfs.errors import ConfigError

DEFAULT_CONFIG = "cluster.toml"
CONFIG_ENV = "FAHADFS_CONFIG"

_SIZE_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
_SIZE_UNITS |= {"KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "K": 1 << 10}
_SIZE_UNITS |= {"M": 1 << 20, "G": 1 << 30}
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class MasterConfig:
    id: str
    host: str
    raft_port: int
    http_port: int

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.raft_port}"

    @property
    def http_address(self) -> str:
        return f"{self.host}:{self.http_port}"


@dataclass(frozen=True)
class NodeConfig:
    id: str
    host: str
    port: int
    capacity: int
    data_dir: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Timeouts:
    heartbeat: float = 0.5
    dead_node: float = 5.0
    session: float = 60.0
    request: float = 30.0
    orphan_grace: float = 600.0
    chunk_report: float = 30.0
    raft_min: float = 0.2
    raft_max: float = 0.5
    raft_append_period: float = 0.05
    raft_leader_fallback: float = 1.5
    raft_connection_retry: float = 0.5


@dataclass(frozen=True)
class HealerConfig:
    interval: float = 1.0
    max_repairs_per_node: int = 4
    rebalance_threshold: float = 0.10
    repair_bandwidth: int = 0  # bytes/s per node, 0 = unthrottled


@dataclass(frozen=True)
class ScrubConfig:
    rate: int = 32 << 20  # bytes per second
    interval: float = 3600.0


@dataclass(frozen=True)
class Config:
    name: str
    secret: str
    replication: int
    chunk_size: int
    data_dir: Path
    timeouts: Timeouts
    healer: HealerConfig
    scrub: ScrubConfig
    masters: tuple[MasterConfig, ...]
    nodes: tuple[NodeConfig, ...]
    source: str = field(default="<memory>", compare=False)

    def master(self, master_id: str) -> MasterConfig:
        for m in self.masters:
            if m.id == master_id:
                return m
        raise ConfigError(f"{self.source}: no master with id {master_id!r}")

    def node(self, node_id: str) -> NodeConfig | None:
        for n in self.nodes:
            if n.id == node_id:
                return n
        return None

    def process_dir(self, process_id: str) -> Path:
        """``<data_dir>/<id>/``: where a process keeps its data, log and pid file."""
        return self.data_dir / process_id

    def with_masters(self, addresses: list[str]) -> Config:
        """A copy whose masters are the given ``host:port`` HTTP addresses (CLI --masters)."""
        masters = []
        for i, addr in enumerate(addresses):
            host, port = _split_address(addr, f"--masters[{i}]")
            masters.append(MasterConfig(id=f"m{i + 1}", host=host, raft_port=0, http_port=port))
        return replace(self, masters=tuple(masters))


def _split_address(addr: str, key: str) -> tuple[str, int]:
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{key}: expected host:port, got {addr!r}")
    try:
        return host, _port(int(port), key)
    except ValueError:
        raise ConfigError(f"{key}: expected host:port, got {addr!r}") from None


def parse_size(value: object, key: str = "size") -> int:
    """An int of bytes or a string like ``64MiB``; raises ConfigError naming ``key``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: must be a size like 64MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if m and m.group(2).upper() in _SIZE_UNITS:
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])
    raise ConfigError(f"{key}: must be a size like 64MiB or an int of bytes, got {value!r}")


def parse_duration(value: object, key: str = "duration") -> float:
    """A number of seconds or a string like ``500ms``/``5s``; raises ConfigError naming ``key``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: must be a duration like 5s, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    raise ConfigError(f"{key}: must be a duration like 500ms or 5s, got {value!r}")


def _port(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{key}: must be an integer port 1-65535, got {value!r}")
    return value


def _str(table: dict[str, Any], name: str, key: str, default: str | None = None) -> str:
    value = table.get(name, default)
    if value is None:
        raise ConfigError(f"{key}.{name}: missing")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}.{name}: must be a non-empty string, got {value!r}")
    return value


def _ident(table: dict[str, Any], key: str) -> str:
    value = _str(table, "id", key)
    if not _ID_RE.match(value):
        raise ConfigError(f"{key}.id: must match [A-Za-z0-9][A-Za-z0-9_.-]*, got {value!r}")
    return value


def _check_keys(table: object, allowed: set[str], key: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: must be a table")
    for name in table:
        if name not in allowed:
            raise ConfigError(f"{key}.{name}: unknown key")
    return table


def _timeouts(raw: object) -> Timeouts:
    names = set(Timeouts.__dataclass_fields__)
    table = _check_keys(raw or {}, names, "timeouts")
    values = {n: parse_duration(v, f"timeouts.{n}") for n, v in table.items()}
    t = Timeouts(**values)
    if t.heartbeat <= 0:
        raise ConfigError("timeouts.heartbeat: must be positive")
    if t.dead_node <= t.heartbeat:
        raise ConfigError("timeouts.dead_node: must be longer than timeouts.heartbeat")
    if t.raft_min <= 3 * t.raft_append_period or t.raft_max <= t.raft_min:
        raise ConfigError(
            "timeouts.raft_min: must exceed 3x raft_append_period and be below raft_max"
        )
    return t


def _healer(raw: object) -> HealerConfig:
    table = _check_keys(raw or {}, set(HealerConfig.__dataclass_fields__), "healer")
    out: dict[str, Any] = {}
    for name, value in table.items():
        key = f"healer.{name}"
        if name == "interval":
            out[name] = parse_duration(value, key)
        elif name == "repair_bandwidth":
            out[name] = parse_size(value, key)
        elif name == "max_repairs_per_node":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
            out[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise ConfigError(f"{key}: must be a fraction between 0 and 1, got {value!r}")
            out[name] = float(value)
    return HealerConfig(**out)


def _scrub(raw: object) -> ScrubConfig:
    table = _check_keys(raw or {}, set(ScrubConfig.__dataclass_fields__), "scrub")
    out: dict[str, Any] = {}
    if "rate" in table:
        out["rate"] = parse_size(table["rate"], "scrub.rate")
    if "interval" in table:
        out["interval"] = parse_duration(table["interval"], "scrub.interval")
    return ScrubConfig(**out)


def _masters(raw: object) -> tuple[MasterConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("master: at least one [[master]] table is required")
    out = []
    for i, item in enumerate(raw):
        key = f"master[{i}]"
        t = _check_keys(item, {"id", "host", "raft_port", "http_port"}, key)
        out.append(
            MasterConfig(
                id=_ident(t, key),
                host=_str(t, "host", key),
                raft_port=_port(t.get("raft_port"), f"{key}.raft_port"),
                http_port=_port(t.get("http_port"), f"{key}.http_port"),
            )
        )
    return tuple(out)


def _nodes(raw: object) -> tuple[NodeConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("node: must be an array of [[node]] tables")
    out = []
    for i, item in enumerate(raw):
        key = f"node[{i}]"
        t = _check_keys(item, {"id", "host", "port", "capacity", "data_dir"}, key)
        capacity = parse_size(t.get("capacity", "10GiB"), f"{key}.capacity")
        if capacity <= 0:
            raise ConfigError(f"{key}.capacity: must be positive")
        data_dir = t.get("data_dir")
        if data_dir is not None and not isinstance(data_dir, str):
            raise ConfigError(f"{key}.data_dir: must be a string, got {data_dir!r}")
        out.append(
            NodeConfig(
                id=_ident(t, key),
                host=_str(t, "host", key),
                port=_port(t.get("port"), f"{key}.port"),
                capacity=capacity,
                data_dir=data_dir,
            )
        )
    return tuple(out)


def _check_unique(cfg_masters: tuple[MasterConfig, ...], nodes: tuple[NodeConfig, ...]) -> None:
    ids: set[str] = set()
    endpoints: set[tuple[str, int]] = set()
    for kind, pid, eps in [
        ("master", m.id, [(m.host, m.raft_port), (m.host, m.http_port)]) for m in cfg_masters
    ] + [("node", n.id, [(n.host, n.port)]) for n in nodes]:
        if pid in ids:
            raise ConfigError(f"{kind}.id: duplicate id {pid!r}")
        ids.add(pid)
        for ep in eps:
            if ep in endpoints:
                raise ConfigError(f"{kind}[{pid}]: address {ep[0]}:{ep[1]} is used twice")
            endpoints.add(ep)


def from_dict(
    raw: dict[str, Any], source: str = "<memory>", base_dir: Path | None = None
) -> Config:
    """Validate a parsed TOML document and build the Config."""
    try:
        _check_keys(raw, {"cluster", "timeouts", "healer", "scrub", "master", "node"}, "")
        cluster = _check_keys(
            raw.get("cluster", {}),
            {"name", "secret", "replication", "chunk_size", "data_dir"},
            "cluster",
        )
        secret = _str(cluster, "secret", "cluster")
        if len(secret) < 8:
            raise ConfigError("cluster.secret: must be at least 8 characters")
        replication = cluster.get("replication", 3)
        if (
            isinstance(replication, bool)
            or not isinstance(replication, int)
            or not 1 <= replication <= 16
        ):
            raise ConfigError(f"cluster.replication: must be an integer 1-16, got {replication!r}")
        chunk_size = parse_size(cluster.get("chunk_size", "64MiB"), "cluster.chunk_size")
        if not 1 <= chunk_size <= 1 << 32:
            raise ConfigError("cluster.chunk_size: must be between 1 byte and 4GiB")
        data_dir = Path(_str(cluster, "data_dir", "cluster", ".fahadfs"))
        if base_dir is not None and not data_dir.is_absolute():
            data_dir = base_dir / data_dir
        masters = _masters(raw.get("master"))
        nodes = _nodes(raw.get("node"))
        _check_unique(masters, nodes)
        return Config(
            name=_str(cluster, "name", "cluster", "local"),
            secret=secret,
            replication=replication,
            chunk_size=chunk_size,
            data_dir=data_dir,
            timeouts=_timeouts(raw.get("timeouts")),
            healer=_healer(raw.get("healer")),
            scrub=_scrub(raw.get("scrub")),
            masters=masters,
            nodes=nodes,
            source=source,
        )
    except ConfigError as exc:
        msg = exc.message.lstrip(".")
        raise ConfigError(f"{source}: {msg}") from None


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a cluster.toml (default: $FAHADFS_CONFIG, else ./cluster.toml).

    A relative ``data_dir`` is resolved against the directory holding the file.
    """
    p = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return from_dict(raw, source=str(p), base_dir=p.resolve().parent)

"""Type and range checks of state-machine op arguments, done before anything changes.

Each op has a schema: argument name -> (checker, default). A checker returns the normalized
value or raises InvalidArgument naming the op, the argument and what was wrong. Unknown
arguments are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fahadfs.errors import InvalidArgument
from fahadfs.meta_raft._records import U8_MAX, U32_MAX, U64_MAX

Checker = Callable[[str, str, Any], Any]
REQUIRED: Any = object()
ADMIN_STATES = ("active", "draining", "decommissioned")
MAX_TTL_MS = 2**40

ChunkArg = tuple[int, int, int, tuple[str, ...]]


def _kind(value: object) -> str:
    return type(value).__name__


def _is_int(value: object) -> bool:
    return type(value) is int


def _str(op: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{op}: {key} must be a string, got {_kind(value)}")
    return value


def _name(op: str, key: str, value: Any) -> str:
    text = _str(op, key, value)
    if not text or len(text) > 255:
        raise InvalidArgument(f"{op}: {key} must be 1 to 255 characters")
    return text


def _bool(op: str, key: str, value: Any) -> bool:
    if type(value) is not bool:
        raise InvalidArgument(f"{op}: {key} must be a bool, got {_kind(value)}")
    return value


def _ranged(lo: int, hi: int) -> Checker:
    def check(op: str, key: str, value: Any) -> int:
        if not _is_int(value):
            raise InvalidArgument(f"{op}: {key} must be an int, got {_kind(value)}")
        if not lo <= value <= hi:
            raise InvalidArgument(f"{op}: {key} must be in [{lo}, {hi}], got {value}")
        return int(value)

    return check


def _optional(inner: Checker) -> Checker:
    def check(op: str, key: str, value: Any) -> Any:
        return None if value is None else inner(op, key, value)

    return check


def _list(op: str, key: str, value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InvalidArgument(f"{op}: {key} must be a list, got {_kind(value)}")
    return list(value)


_u64 = _ranged(0, U64_MAX)
_u32 = _ranged(0, U32_MAX)
_token = _ranged(0, 2**63 - 1)
_ttl = _ranged(1, MAX_TTL_MS)
_replication = _ranged(1, U8_MAX)


def _chunk_ids(op: str, key: str, value: Any) -> tuple[int, ...]:
    return tuple(_u64(op, f"{key}[{i}]", cid) for i, cid in enumerate(_list(op, key, value)))


def _commit_chunks(op: str, key: str, value: Any) -> tuple[ChunkArg, ...]:
    out = []
    for i, item in enumerate(_list(op, key, value)):
        where = f"{key}[{i}]"
        if not isinstance(item, (list, tuple)) or len(item) != 4:
            raise InvalidArgument(f"{op}: {where} must be [id, size, checksum, replicas]")
        cid, size, checksum, replicas = item
        names = tuple(
            _name(op, f"{where} replica", node) for node in _list(op, f"{where} replicas", replicas)
        )
        out.append(
            (
                _u64(op, f"{where} id", cid),
                _u64(op, f"{where} size", size),
                _u32(op, f"{where} checksum", checksum),
                names,
            )
        )
    return tuple(out)


def _admin_state(op: str, key: str, value: Any) -> str:
    if value not in ADMIN_STATES:
        raise InvalidArgument(f"{op}: {key} must be one of {', '.join(ADMIN_STATES)}")
    return str(value)


SCHEMA: dict[str, dict[str, tuple[Checker, Any]]] = {
    "mkdir": {"path": (_str, REQUIRED), "parents": (_bool, False)},
    "create": {
        "path": (_str, REQUIRED),
        "holder": (_name, REQUIRED),
        "lease_id": (_name, REQUIRED),
        "ttl_ms": (_ttl, REQUIRED),
        "replication": (_optional(_replication), None),
        "overwrite": (_bool, True),
    },
    "renew": {
        "path": (_str, REQUIRED),
        "lease_id": (_name, REQUIRED),
        "ttl_ms": (_ttl, REQUIRED),
        "chunks": (_chunk_ids, ()),
    },
    "release": {"path": (_str, REQUIRED), "lease_id": (_name, REQUIRED)},
    "commit": {
        "path": (_str, REQUIRED),
        "lease_id": (_optional(_name), None),
        "token": (_optional(_token), None),
        "size": (_u64, REQUIRED),
        "chunks": (_commit_chunks, REQUIRED),
        "replication": (_optional(_replication), None),
        "mtime": (_optional(_u64), None),
    },
    "rm": {"path": (_str, REQUIRED)},
    "rmdir": {"path": (_str, REQUIRED), "recursive": (_bool, False)},
    "mv": {"src": (_str, REQUIRED), "dst": (_str, REQUIRED)},
    "cp": {"src": (_str, REQUIRED), "dst": (_str, REQUIRED)},
    "node_register": {
        "node_id": (_name, REQUIRED),
        "address": (_str, REQUIRED),
        "capacity": (_u64, REQUIRED),
    },
    "node_update": {
        "node_id": (_name, REQUIRED),
        "address": (_optional(_str), None),
        "capacity": (_optional(_u64), None),
        "admin_state": (_optional(_admin_state), None),
    },
    "replica_add": {"chunk_id": (_u64, REQUIRED), "node_id": (_name, REQUIRED)},
    "replica_remove": {"chunk_id": (_u64, REQUIRED), "node_id": (_name, REQUIRED)},
    "bump_generation": {"chunk_id": (_u64, REQUIRED)},
    "expire_sessions": {},
    "noop": {},
}

_ENVELOPE = ("op", "rid")


def check_args(op: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Checked and normalized arguments of ``raw`` (an op dict) for ``op``."""
    schema = SCHEMA[op]
    unknown = sorted(str(k) for k in raw if k not in schema and k not in _ENVELOPE)
    if unknown:
        raise InvalidArgument(f"{op}: unknown argument {', '.join(unknown)}")
    args = {}
    for key, (checker, default) in schema.items():
        if key in raw:
            args[key] = checker(op, key, raw[key])
        elif default is REQUIRED:
            raise InvalidArgument(f"{op}: missing argument {key}")
        else:
            args[key] = default
    return args

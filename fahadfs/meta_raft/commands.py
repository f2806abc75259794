"""Commands of the metadata state machine and their CBOR encoding (for the HTTP layer).

A command batch is one Raft log entry: ``{"now": ms, "ops": [op, ...]}``; an op is
``{"op": NAME, "rid": str | None, ...args}`` (args per docs/STATE.md). Results are dicts
``{"ok": True, ...}`` or ``{"ok": False, "code", "message", ...}``.
"""

from __future__ import annotations

from typing import Any

import cbor2

from fahadfs.errors import InvalidArgument

OPS: tuple[str, ...] = (
    "mkdir",
    "create",
    "renew",
    "release",
    "commit",
    "rm",
    "rmdir",
    "mv",
    "cp",
    "node_register",
    "node_update",
    "replica_add",
    "replica_remove",
    "bump_generation",
    "expire_sessions",
    "noop",
)


def op(name: str, rid: str | None = None, **args: Any) -> dict[str, Any]:
    """One op dict; InvalidArgument for an unknown op name."""
    if name not in OPS:
        raise InvalidArgument(f"unknown op {name!r}")
    return {"op": name, "rid": rid, **args}


def batch(now_ms: int, ops: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """One Raft entry: the leader-stamped time and the ops it carries."""
    return {"now": now_ms, "ops": list(ops)}


def encode(obj: Any) -> bytes:
    """CBOR bytes of a batch, an op, a result or a list of results."""
    return cbor2.dumps(obj)


def decode(data: bytes) -> Any:
    """Inverse of :func:`encode`; InvalidArgument if ``data`` is not valid CBOR."""
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"bad CBOR body: {exc}") from None

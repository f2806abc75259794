"""Sending a chunk down a pipeline of file nodes (chain replication), as PUT and replicate do.

``send_chunk`` streams a body to the first address with ``X-Fahadfs-Pipeline`` naming the rest;
each node stores its copy while forwarding to the next, and the acks of the whole chain come
back. Any failure below becomes :class:`PipelineFailed` (HTTP 502) naming the node that failed
(``failed`` address, ``failed_node`` id when known, ``failed_code``), so the client can plan a
pipeline without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable
from typing import Any

import aiohttp
import cbor2

from fahadfs.errors import InvalidArgument, Unavailable
from fahadfs.storage.chunkstore import format_chunk_id

CBOR = "application/cbor"
TOKEN_HEADER = "X-Fahadfs-Token"
PIPELINE_HEADER = "X-Fahadfs-Pipeline"
CHECKSUM_HEADER = "X-Fahadfs-Checksum"
GENERATION_HEADER = "X-Fahadfs-Generation"
SIZE_HEADER = "X-Fahadfs-Size"
MAX_PIPELINE = 16
_ADDRESS_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


class PipelineFailed(Unavailable):
    """A node further down the pipeline failed (502); ``failed`` is its address."""

    status = 502


def parse_address(text: str, what: str = "address") -> str:
    """Validate ``host:port`` (IPv6 in brackets); InvalidArgument otherwise."""
    text = text.strip()
    m = _ADDRESS_RE.match(text)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise InvalidArgument(f"bad {what} {text!r}: expected host:port")
    return text


def parse_pipeline(header: str | None) -> list[str]:
    """``"h:p,h:p"`` -> addresses of the rest of the chain (empty header: none)."""
    if not header or not header.strip():
        return []
    addrs = [parse_address(a, "pipeline address") for a in header.split(",")]
    if len(addrs) > MAX_PIPELINE:
        raise InvalidArgument(f"pipeline of {len(addrs)} nodes is longer than {MAX_PIPELINE}")
    return addrs


def decode_reply(raw: bytes, content_type: str) -> Any:
    """A CBOR or JSON reply body; None if it is neither."""
    try:
        if content_type == CBOR:
            return cbor2.loads(raw)
        if content_type == "application/json":
            return json.loads(raw)
    except (ValueError, cbor2.CBORDecodeError):
        return None
    return None


def _failure(target: str, status: int, reply: Any) -> PipelineFailed:
    reply = reply if isinstance(reply, dict) else {}
    if "failed" in reply:  # a node further down failed: name that one
        failed, node, code = reply["failed"], reply.get("failed_node"), reply.get("failed_code")
    else:
        failed, node, code = target, reply.get("node"), reply.get("code", f"HTTP {status}")
    message = reply.get("message", "")
    who = f"{failed} ({node})" if node else str(failed)
    return PipelineFailed(
        f"pipeline node {who} failed: {code}: {message}".rstrip(": "),
        failed=failed,
        failed_node=node,
        failed_code=code,
    )


async def send_chunk(
    session: aiohttp.ClientSession,
    chunk_id: int,
    pipeline: list[str],
    body: AsyncIterable[bytes] | bytes,
    *,
    token: str,
    checksum: int | None,
    generation: int | None,
    length: int | None,
    timeout: aiohttp.ClientTimeout,
) -> list[dict[str, Any]]:
    """PUT ``body`` to ``pipeline[0]`` (forwarding to the rest); return the chain's acks."""
    target, rest = pipeline[0], pipeline[1:]
    headers = {TOKEN_HEADER: token, "Accept": CBOR, "Content-Type": "application/octet-stream"}
    if rest:
        headers[PIPELINE_HEADER] = ",".join(rest)
    if checksum is not None:
        headers[CHECKSUM_HEADER] = str(checksum)
    if generation is not None:
        headers[GENERATION_HEADER] = str(generation)
    if length is not None:
        headers["Content-Length"] = str(length)
    url = f"http://{target}/v1/chunk/{format_chunk_id(chunk_id)}"
    try:
        async with session.put(url, data=body, headers=headers, timeout=timeout) as resp:
            raw = await resp.read()
            status, reply = resp.status, decode_reply(raw, resp.content_type)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise PipelineFailed(
            f"pipeline node {target} failed: {detail}", failed=target, failed_code="EUNAVAIL"
        ) from exc
    if status != 200:
        raise _failure(target, status, reply)
    acks = reply.get("acks") if isinstance(reply, dict) else None
    if not isinstance(acks, list):
        raise PipelineFailed(
            f"pipeline node {target} answered without acks", failed=target, failed_code="EIO"
        )
    return acks

"""The client's one HTTP edge: bodies in, results or fahadfs errors out.

Every response a client reads passes through :func:`result` (2xx -> decoded body, anything else
-> the ``fahadfs.errors`` class named by the body's ``code``), and every network failure passes
through :func:`network_errors` (-> :class:`~fahadfs.errors.Unavailable`, retryable). Errors are
chained with ``raise ... from exc`` so the transport cause stays visible in tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import cbor2

from fahadfs import errors

CBOR = "application/cbor"
CBOR_HEADERS = {"Content-Type": CBOR, "Accept": CBOR}

# A status with no ``{code, message}`` body (a proxy, a crashed handler) maps to the closest class.
_STATUS_CLASSES: dict[int, type[errors.FahadfsError]] = {
    400: errors.InvalidArgument,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Busy,
    421: errors.NotLeader,
    422: errors.IntegrityError,
    502: errors.Unavailable,
    503: errors.Unavailable,
    504: errors.Unavailable,
    507: errors.NoSpace,
}


class Deadline:
    """An absolute point in monotonic time; ``None`` seconds means no limit."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def cap(self, seconds: float | None) -> float | None:
        """The smaller of ``seconds`` and what is left (``None`` = unbounded)."""
        left = self.remaining()
        if left is None:
            return seconds
        return left if seconds is None else min(left, seconds)


def encode(body: Any) -> bytes:
    return cbor2.dumps(body)


def decode(content_type: str, data: bytes) -> Any:
    """Decode a body by its content type: CBOR, JSON, else text (``None`` when empty)."""
    if not data:
        return None
    if content_type == CBOR:
        return cbor2.loads(data)
    if content_type == "application/json":
        return json.loads(data)
    return data.decode("utf-8", "replace")


def error_from(status: int, body: Any, what: str) -> errors.FahadfsError:
    """The error for a non-2xx answer: from the ``{code, message}`` body, else from the status."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        err = errors.from_wire(body)
        err.details.setdefault("http_status", status)
        return err
    cls = _STATUS_CLASSES.get(status, errors.FahadfsError)
    text = body.strip()[:200] if isinstance(body, str) else ""
    return cls(f"{what}: HTTP {status}" + (f": {text}" if text else ""), http_status=status)


async def read_body(resp: aiohttp.ClientResponse) -> Any:
    """Read and decode the whole response body (network failures -> Unavailable)."""
    data = await resp.read()
    try:
        return decode(resp.content_type, data)
    except (ValueError, cbor2.CBORDecodeError) as exc:
        raise errors.FahadfsError(
            f"{resp.method} {resp.url.path}: undecodable {resp.content_type} body from "
            f"{resp.url.host}:{resp.url.port}"
        ) from exc


async def result(resp: aiohttp.ClientResponse, what: str) -> Any:
    """Turn a response into its decoded result, or raise the fahadfs error it carries."""
    try:
        body = await read_body(resp)
    except errors.FahadfsError:
        if resp.status < 400:
            raise
        body = None
    if resp.status >= 300:
        raise error_from(resp.status, body, what)
    if isinstance(body, dict):
        body.pop("ok", None)
    return body


def unavailable(exc: BaseException, what: str, *, maybe_sent: bool) -> errors.Unavailable:
    """An Unavailable describing a network failure (``maybe_sent``: the outcome is unknown)."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        cause = "timed out"
    else:
        cause = str(exc) or type(exc).__name__
    suffix = " (unknown outcome: the request may have been applied)" if maybe_sent else ""
    return errors.Unavailable(f"{what}: {cause}{suffix}", unknown_outcome=maybe_sent)


def was_not_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (connect failed)."""
    return isinstance(exc, aiohttp.ClientConnectorError)


NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


@contextlib.asynccontextmanager
async def network_errors(what: str) -> AsyncIterator[None]:
    """Turn aiohttp connection errors and timeouts inside the block into Unavailable."""
    try:
        yield
    except NETWORK_ERRORS as exc:
        raise unavailable(exc, what, maybe_sent=not was_not_sent(exc)) from exc


def timeout(
    total: float | None, connect: float = 3.0, idle: float | None = None
) -> aiohttp.ClientTimeout:
    """A per-attempt timeout: ``total`` for the exchange, a short connect phase, and
    optionally ``idle``: the longest wait for the next bytes (a paused peer fails fast)."""
    if total is not None:
        total = max(total, 0.05)  # aiohttp reads 0 as "no timeout"
    return aiohttp.ClientTimeout(
        total=total,
        sock_connect=connect if total is None else min(connect, total),
        sock_read=idle,
    )

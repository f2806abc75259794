"""A tiny synchronous CBOR HTTP call (no redirects, no retries) for tests, chaos and benchmarks."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import cbor2


def call(
    base: str, path: str, body: Any = None, method: str | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], Any]:
    """One request; returns (status, headers, decoded body). Never raises on HTTP errors."""
    data = cbor2.dumps(body) if body is not None else None
    req = urllib.request.Request(
        base + path,
        data=data,
        method=method or ("POST" if body is not None else "GET"),
        headers={"Content-Type": "application/cbor", "Accept": "application/cbor"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), _decode(resp.read(), resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), _decode(err.read(), err.headers)


def _decode(raw: bytes, headers: Any) -> Any:
    if not raw:
        return None
    ctype = headers.get("Content-Type", "")
    if "cbor" in ctype:
        return cbor2.loads(raw)
    if "json" in ctype:
        return json.loads(raw)
    return raw


def q(path: str) -> str:
    return urllib.parse.quote(path)

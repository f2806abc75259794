"""Request/response bodies for the master: CBOR for programs, JSON for people."""

from __future__ import annotations

import json
from typing import Any

import cbor2
from aiohttp import web

from fahadfs.errors import InvalidArgument

CBOR = "application/cbor"


async def decode_body(request: web.Request) -> dict[str, Any]:
    """The request body as a dict (CBOR or JSON by Content-Type); EINVAL if it is not one."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        if request.content_type == "application/json":
            body = json.loads(raw)
        else:
            body = cbor2.loads(raw)
    except Exception:
        raise InvalidArgument(
            f"request body is not valid {request.content_type or 'CBOR'}"
        ) from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be an object")
    return body


def wants_cbor(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return CBOR in accept or (request.content_type == CBOR and "json" not in accept)


def respond(
    request: web.Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Answer in CBOR when the client speaks it, else JSON."""
    if wants_cbor(request):
        return web.Response(
            body=cbor2.dumps(body), status=status, content_type=CBOR, headers=headers
        )
    return web.Response(
        text=json.dumps(body, default=_json_default),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

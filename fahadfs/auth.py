"""Short-lived tokens signed with the cluster secret (HMAC-SHA256 over a CBOR payload).

Used for chunk write tokens (master -> client -> file node), for master -> node commands
(delete, replicate) and for node -> master registration. A token is
``base64url(cbor(payload)) + "." + base64url(hmac)``; every payload carries ``exp`` (unix ms).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import cbor2

from fahadfs.errors import Forbidden


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str, purpose: str) -> bytes:
    # One derived key per purpose, so a token minted for one use never verifies for another.
    return hmac.new(secret.encode(), b"fahadfs-token:" + purpose.encode(), hashlib.sha256).digest()


def sign(secret: str, purpose: str, payload: dict[str, Any], now_ms: int, ttl_ms: int) -> str:
    """Mint a token for ``purpose`` carrying ``payload``, valid until now + ttl."""
    body = cbor2.dumps({**payload, "exp": now_ms + ttl_ms}, canonical=True)
    mac = hmac.new(_key(secret, purpose), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def verify(secret: str, purpose: str, token: str | None, now_ms: int) -> dict[str, Any]:
    """Return the payload of a valid, unexpired token; raise Forbidden otherwise."""
    if not token:
        raise Forbidden("missing token")
    try:
        body_text, mac_text = token.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise Forbidden("malformed token") from None
    expected = hmac.new(_key(secret, purpose), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Forbidden("bad token signature")
    try:
        payload = cbor2.loads(body)
    except Exception:
        raise Forbidden("malformed token") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise Forbidden("malformed token")
    if payload["exp"] < now_ms:
        raise Forbidden("token expired")
    return payload

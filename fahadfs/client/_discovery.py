"""Leader discovery: send a master call to the leader, wherever it is, before a deadline.

The rules (docs/API.md):
- the last known leader is tried first, then the configured masters in order;
- ``307`` (or ``421 ENOTLEADER``) names the leader (``Location`` / body ``leader_url``): follow it
  by hand (never ``allow_redirects``: bodies are CBOR POSTs) and remember it;
- a connection error fails over to the next master;
- ``503`` (ENOLEADER, EUNAVAIL, ESAFEMODE) and a full round of unreachable masters back off
  exponentially with jitter and go round again, until the deadline;
- at the deadline the last cluster error is raised, naming every master tried.

A retried mutation carries the same request id in its body, so the leader applies it once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from fahadfs import errors
from fahadfs.client import _http

BACKOFF_START = 0.05
BACKOFF_MAX = 1.0
# One exchange with one master; a stuck or partitioned master is left after this. Master calls
# answer in milliseconds (a commit waits for one Raft round); a retry elsewhere reuses the
# request id, so giving up early is safe. Calls that may compute longer (walk) pass their own.
ATTEMPT_TIMEOUT = 3.0
CONNECT_TIMEOUT = 2.0
_RETRY_CODES = frozenset({"ENOLEADER", "ENOTLEADER", "EUNAVAIL", "ESAFEMODE"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def base_url(address: str) -> str:
    """``host:port`` or a URL -> ``http://host:port`` (scheme and netloc only)."""
    if "://" not in address:
        return f"http://{address}"
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.netloc}"


def _hostport(url: str) -> str:
    return urlsplit(url).netloc


class Masters:
    """Routes master calls to the current leader; one per Client, safe for concurrent calls."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        addresses: Sequence[str],
        *,
        rng: random.Random | None = None,
        attempt_timeout: float = ATTEMPT_TIMEOUT,
    ) -> None:
        if not addresses:
            raise errors.ConfigError("no masters configured")
        self._session = session
        self._masters = [base_url(a) for a in addresses]
        self._rng = rng or random.Random()
        self._attempt_timeout = attempt_timeout
        self.leader: str | None = None  # base URL of the last known leader

    @property
    def addresses(self) -> list[str]:
        return [_hostport(m) for m in self._masters]

    def _order(self) -> list[str]:
        """The leader first (if known), then the configured masters from the one after it."""
        masters = list(self._masters)
        if self.leader is None:
            return masters
        if self.leader in masters:
            i = masters.index(self.leader)
            masters = masters[i + 1 :] + masters[:i]
        return [self.leader, *masters]

    async def call(
        self,
        method: str,
        path: str,
        *,
        deadline: _http.Deadline,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        what: str | None = None,
        attempt_timeout: float | None = None,
    ) -> Any:
        """Send ``method path`` to the leader and return its decoded result (or raise)."""
        what = what or f"{method} {path}"
        data = None if body is None else _http.encode(body)
        tried: list[str] = []
        last: errors.FahadfsError | None = None
        maybe_sent = False
        backoff = BACKOFF_START
        while True:
            queue = self._order()
            hops = 0
            while queue:
                url = queue.pop(0)
                if _hostport(url) not in tried:
                    tried.append(_hostport(url))
                try:
                    return await self._attempt(
                        method, url + path, data, params, deadline, what, attempt_timeout
                    )
                except _Redirect as hop:
                    self.leader = hop.leader
                    hops += 1
                    if hops > len(self._masters) + 1:  # a redirect loop (mid-election): back off
                        last = errors.NotLeader(f"{what}: masters keep redirecting ({hop.leader})")
                        break
                    queue = [hop.leader, *(u for u in queue if u != hop.leader)]
                except errors.FahadfsError as exc:
                    if not _retryable(exc):
                        raise
                    last = exc
                    maybe_sent = maybe_sent or bool(exc.details.get("unknown_outcome"))
                    if self.leader == url:
                        self.leader = None
                if deadline.expired:
                    break
            if deadline.expired:
                raise _final(last, what, tried, maybe_sent) from last
            await asyncio.sleep(deadline.cap(backoff * (0.5 + self._rng.random())) or 0.0)
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _attempt(
        self,
        method: str,
        url: str,
        data: bytes | None,
        params: Mapping[str, str] | None,
        deadline: _http.Deadline,
        what: str,
        attempt_timeout: float | None = None,
    ) -> Any:
        total = deadline.cap(attempt_timeout or self._attempt_timeout)
        headers = _http.CBOR_HEADERS if data is not None else {"Accept": _http.CBOR}
        async with (
            _http.network_errors(f"{what} at {_hostport(url)}"),
            self._session.request(
                method,
                url,
                data=data,
                params=params,
                headers=headers,
                allow_redirects=False,
                timeout=_http.timeout(total, CONNECT_TIMEOUT),
            ) as resp,
        ):
            if resp.status in _REDIRECTS or resp.status == 421:
                body = await _safe_body(resp)
                leader = _leader_from(resp, body)
                if leader is not None:
                    raise _Redirect(leader)
                raise _http.error_from(resp.status, body, what)
            out = await _http.result(resp, what)
            self.leader = base_url(url)
            return out


class _Redirect(Exception):
    def __init__(self, leader: str) -> None:
        super().__init__(leader)
        self.leader = leader


async def _safe_body(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await _http.read_body(resp)
    except errors.FahadfsError:
        return None


def _leader_from(resp: aiohttp.ClientResponse, body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("leader_url"), str) and body["leader_url"]:
        return base_url(body["leader_url"])
    location = resp.headers.get("Location")
    if location and "://" in location:
        return base_url(location)
    return None


def _retryable(exc: errors.FahadfsError) -> bool:
    return exc.code in _RETRY_CODES


def _final(
    last: errors.FahadfsError | None, what: str, tried: list[str], maybe_sent: bool
) -> errors.FahadfsError:
    names = ", ".join(tried)
    outcome = " (unknown outcome: the request may have been applied)" if maybe_sent else ""
    if last is None or (last.code == "EUNAVAIL" and not last.details.get("http_status")):
        err: errors.FahadfsError = errors.Unavailable(
            f"{what}: no master reachable (tried {names}){outcome}", unknown_outcome=maybe_sent
        )
    elif last.code in ("ENOLEADER", "ENOTLEADER"):
        err = errors.NoLeader(f"{what}: no leader elected before the deadline (tried {names})")
    else:
        err = type(last)(f"{last.message} (tried {names}){outcome}", **last.details)
    return err

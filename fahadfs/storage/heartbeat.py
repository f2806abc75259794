"""A file node talking to the masters: registration and heartbeats, chunk reports, bad chunks.

One :class:`Heartbeat` task per master (``run_once`` posts one heartbeat), so a master that
hangs delays nobody else's heartbeats. The first heartbeat a master accepts after start-up
carries a full chunk report, and then one every ``timeouts.chunk_report`` seconds. Failing to
reach a master is expected while it is down: logged at debug, with one info line whenever a
master goes from reachable to unreachable or back.

Wire (docs/API.md): ``POST /v1/node/heartbeat`` with a CBOR body ``{"node", "address",
"capacity", "used", "free", "inflight", "chunks"?: [[id_hex, generation], ...]}`` and the
header ``Authorization: Fahadfs <node token>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import cbor2

from fahadfs import auth
from fahadfs.config import Config
from fahadfs.storage.chunkstore import ChunkStore
from fahadfs.storage.metrics import NodeMetrics

CBOR = "application/cbor"
NODE_TOKEN_TTL_MS = 60_000


def master_urls(config: Config) -> list[str]:
    return [f"http://{m.http_address}" for m in config.masters]


def node_headers(secret: str, node_id: str, now_ms: int) -> dict[str, str]:
    """The Authorization header a node sends to masters (a fresh ``node`` token)."""
    token = auth.sign(secret, "node", {"node": node_id}, now_ms, NODE_TOKEN_TTL_MS)
    return {"Authorization": f"Fahadfs {token}", "Content-Type": CBOR, "Accept": CBOR}


def chunk_report(store: ChunkStore) -> list[list[Any]]:
    return [[info.hex, info.generation] for info in store.list()]


class Heartbeat:
    """Heartbeats from one node to one master (a periodic task, see fahadfs.periodic)."""

    def __init__(
        self,
        *,
        node_id: str,
        address: str,
        master_url: str,
        store: ChunkStore,
        session: aiohttp.ClientSession,
        secret: str,
        interval: float,
        report_every: float,
        inflight: Callable[[], int],
        log: Any,
        metrics: NodeMetrics | None = None,
        report_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = f"heartbeat[{master_url}]"
        self.interval = interval
        self.master_url = master_url
        self._url = f"{master_url}/v1/node/heartbeat"
        self._node_id = node_id
        self._address = address
        self._store = store
        self._session = session
        self._secret = secret
        self._report_every = report_every
        self._inflight = inflight
        self._log = log
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=max(2.0, 2 * interval))
        self._report_timeout = aiohttp.ClientTimeout(total=max(report_timeout, 2 * interval))
        self._clock = clock
        self.last_report: float | None = None  # when this master last accepted a chunk report
        self.reachable: bool | None = None
        self.last_reply: dict[str, Any] | None = None

    def body(self, with_report: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "node": self._node_id,
            "address": self._address,
            "capacity": self._store.capacity,
            "used": self._store.used(),
            "free": self._store.free(),
            "inflight": self._inflight(),
        }
        if with_report:
            body["chunks"] = chunk_report(self._store)
        return body

    async def run_once(self) -> dict[str, Any]:
        now = self._clock()
        with_report = self.last_report is None or now - self.last_report >= self._report_every
        headers = node_headers(self._secret, self._node_id, int(now * 1000))
        data = cbor2.dumps(self.body(with_report))
        timeout = self._report_timeout if with_report else self._timeout
        try:
            async with self._session.post(
                self._url, data=data, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._outcome(False, error=repr(exc))
            return {"ok": False}
        if not 200 <= status < 300:
            self._outcome(False, status=status, body=raw[:200].decode("utf-8", "replace"))
            return {"ok": False, "status": status}
        self.last_reply = _decode(raw, resp.content_type)
        if with_report:
            self.last_report = now
        self._outcome(True)
        return {"ok": True, "report": with_report}

    def _outcome(self, ok: bool, **fields: Any) -> None:
        if self._metrics is not None:
            self._metrics.heartbeats.labels("ok" if ok else "failed").inc()
        if ok != self.reachable:
            event = "heartbeat.master_reachable" if ok else "heartbeat.master_unreachable"
            self._log.info(event, master=self.master_url, **fields)
        elif not ok:
            self._log.debug("heartbeat.failed", master=self.master_url, **fields)
        self.reachable = ok


def _decode(raw: bytes, content_type: str) -> dict[str, Any] | None:
    try:
        value = cbor2.loads(raw) if content_type == CBOR else None
    except Exception:
        return None
    return value if isinstance(value, dict) else None


async def report_bad(
    session: aiohttp.ClientSession,
    masters: list[str],
    *,
    secret: str,
    node_id: str,
    chunk_hex: str,
    reason: str,
    log: Any,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Tell the masters a local copy is bad (``POST /v1/report_bad``); True once one accepts.

    Masters are tried in order; a follower's redirect to the leader is followed.
    """
    body = cbor2.dumps({"chunk": chunk_hex, "node": node_id, "reason": reason})
    timeout = aiohttp.ClientTimeout(total=5.0)
    for url in masters:
        headers = node_headers(secret, node_id, int(clock() * 1000))
        try:
            async with session.post(
                f"{url}/v1/report_bad", data=body, headers=headers, timeout=timeout
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    log.info("chunk.reported_bad", chunk=chunk_hex, reason=reason, master=url)
                    return True
                log.debug("report_bad.rejected", master=url, status=resp.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.debug("report_bad.unreachable", master=url, error=repr(exc))
    log.warning("report_bad.failed", chunk=chunk_hex, reason=reason)
    return False

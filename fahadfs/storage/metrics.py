"""Prometheus metrics of one file node, in a registry of its own (one per app, so tests can run
several nodes in one process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fahadfs.storage.chunkstore import ChunkStore

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
OPS = ("put", "get", "head", "delete", "replicate", "list")


class NodeMetrics:
    """Counters the handlers bump, and gauges read from the store when scraped."""

    def __init__(self, store: ChunkStore, inflight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        gauge = Gauge("fahadfs_node_bytes_stored", "Bytes of committed chunks", registry=r)
        gauge.set_function(store.used)
        gauge = Gauge("fahadfs_node_chunks", "Committed chunks held", registry=r)
        gauge.set_function(store.count)
        gauge = Gauge("fahadfs_node_free_bytes", "Bytes a new chunk may still use", registry=r)
        gauge.set_function(store.free)
        gauge = Gauge("fahadfs_node_capacity_bytes", "Configured capacity", registry=r)
        gauge.set(store.capacity)
        gauge = Gauge("fahadfs_node_inflight", "Chunk transfers in progress", registry=r)
        gauge.set_function(inflight)
        self.requests = Counter(
            "fahadfs_node_requests",
            "Chunk requests by operation and status",
            ["op", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "fahadfs_node_request_seconds",
            "Chunk request latency by operation",
            ["op"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_received = Counter(
            "fahadfs_node_received_bytes", "Chunk bytes received (PUT)", registry=r
        )
        self.bytes_sent = Counter(
            "fahadfs_node_sent_bytes", "Chunk bytes served (GET) or forwarded", ["kind"], registry=r
        )
        self.checksum_failures = Counter(
            "fahadfs_node_checksum_failures",
            "Checksum mismatches by where they were found (put, scrub, replicate)",
            ["source"],
            registry=r,
        )
        self.quarantined = Counter(
            "fahadfs_node_quarantined_chunks", "Chunks moved to quarantine", registry=r
        )
        self.scrubbed_bytes = Counter(
            "fahadfs_node_scrubbed_bytes", "Bytes re-read by the scrubber", registry=r
        )
        self.scrub_passes = Counter(
            "fahadfs_node_scrub_passes", "Completed scrubber passes", registry=r
        )
        self.heartbeats = Counter(
            "fahadfs_node_heartbeats", "Heartbeats sent by outcome", ["outcome"], registry=r
        )

    def observe(self, op: str, status: int, seconds: float) -> None:
        self.requests.labels(op, str(status)).inc()
        self.latency.labels(op).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""prometheus_client metrics shared by the servers: one registry per process (or test app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MasterMetrics:
    """Everything a master exports at /metrics."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.raft_term = Gauge("fahadfs_raft_term", "Current Raft term", registry=r)
        self.is_leader = Gauge("fahadfs_raft_is_leader", "1 if this master leads", registry=r)
        self.commit_index = Gauge("fahadfs_raft_commit_index", "Raft commit index", registry=r)
        self.last_applied = Gauge("fahadfs_raft_last_applied", "Last applied index", registry=r)
        self.leader_changes = Counter(
            "fahadfs_raft_leader_changes", "Leader changes seen by this master", registry=r
        )
        self.entries = Counter("fahadfs_raft_entries_proposed", "Raft entries proposed", registry=r)
        self.batched_ops = Counter(
            "fahadfs_raft_ops_proposed",
            "Ops proposed (group commit packs many per entry)",
            registry=r,
        )
        self.journal_flushes = Gauge("fahadfs_journal_flushes", "Journal msyncs", registry=r)
        self.journal_flush_seconds = Gauge(
            "fahadfs_journal_flush_seconds", "Time spent in journal msync", registry=r
        )
        self.requests = Counter(
            "fahadfs_master_requests", "Requests by operation and code", ["op", "code"], registry=r
        )
        self.latency = Histogram(
            "fahadfs_master_request_seconds",
            "Request latency by operation",
            ["op"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.namespace = Gauge("fahadfs_namespace_objects", "Namespace sizes", ["kind"], registry=r)
        self.nodes = Gauge("fahadfs_nodes", "File nodes by liveness", ["alive"], registry=r)
        self.safemode = Gauge("fahadfs_safemode", "1 while the leader is in safemode", registry=r)
        self.under_replicated = Gauge(
            "fahadfs_under_replicated_chunks",
            "Chunks below their replication factor, by copies missing",
            ["missing"],
            registry=r,
        )

        self.lost_chunks = Gauge(
            "fahadfs_lost_chunks", "Chunks with no live copy at all", registry=r
        )
        self.repair_queue = Gauge(
            "fahadfs_repair_queue_depth", "Chunks waiting for a repair copy", registry=r
        )
        self.repairs_running = Gauge(
            "fahadfs_repairs_running", "Node-to-node copies in flight", registry=r
        )
        self.repairs = Counter(
            "fahadfs_repairs",
            "Healer copies by reason and result",
            ["reason", "result"],
            registry=r,
        )
        self.repair_bytes = Counter(
            "fahadfs_repair_bytes", "Bytes copied by the healer", registry=r
        )
        self.repair_seconds = Counter(
            "fahadfs_repair_seconds", "Seconds spent in healer copies", registry=r
        )
        self.redundancy_eta = Gauge(
            "fahadfs_seconds_to_full_redundancy",
            "Estimate: missing copy bytes / recent repair rate (0 when whole)",
            registry=r,
        )
        self.orphans_collected = Gauge(
            "fahadfs_orphans_collected", "Orphan chunk files deleted by this leader", registry=r
        )
        self.chunks_deleted = Gauge(
            "fahadfs_chunk_deletes", "Chunk copies deleted on nodes by this leader", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""fahadfs: a fault-tolerant distributed file system (Raft-replicated masters, k=3 file nodes)."""

__version__ = "0.1.0"

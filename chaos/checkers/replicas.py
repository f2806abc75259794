"""Replicas (pure): every chunk has exactly its factor of good copies, and the map agrees.

Input is a snapshot taken after the heal-and-quiesce phase:

    {"files": {path: {"replication": 3, "chunks": [{"id", "size", "checksum", "replicas"}]}},
     "disks": {node: {chunk_id: {"size": int, "crc": int}}}}

where ``replicas`` is the master's replica map and ``disks`` is what is really on each node's
disk, with the CRC32C computed from the bytes. A copy is *good* when size and checksum match
the master's record. Violations: a chunk with more or fewer good copies than its factor, a
corrupt copy, and a map that names a node without a good copy or misses one that has it.
Copies of chunks no file references (orphans awaiting collection) are counted, not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.checkers import CheckResult, result


def _chunks(files: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Referenced chunks: id -> record with the highest factor and the paths using it."""
    out: dict[int, dict[str, Any]] = {}
    for path, f in files.items():
        for c in f.get("chunks", []):
            rec = out.setdefault(int(c["id"]), {**c, "factor": 0, "paths": []})
            rec["factor"] = max(rec["factor"], int(f.get("replication") or 0))
            rec["paths"].append(path)
    return out


def check_snapshot(snapshot: Mapping[str, Any], default_factor: int = 3) -> CheckResult:
    chunks = _chunks(snapshot.get("files", {}))
    disks: dict[str, dict[int, dict[str, int]]] = {
        node: {int(k): v for k, v in held.items()}
        for node, held in snapshot.get("disks", {}).items()
    }
    violations: list[dict[str, Any]] = []
    copies = 0
    for cid, rec in sorted(chunks.items()):
        factor = rec["factor"] or default_factor
        good, bad = [], []
        for node, held in sorted(disks.items()):
            copy = held.get(cid)
            if copy is None:
                continue
            copies += 1
            ok = copy.get("crc") == rec["checksum"] and copy.get("size") == rec["size"]
            (good if ok else bad).append(node)
        where = {"chunk": f"{cid:016x}", "path": rec["paths"][0]}
        for node in bad:
            violations.append({"kind": "corrupt replica", **where, "node": node})
        if len(good) != factor:
            violations.append(
                {"kind": "copies", **where, "good": len(good), "factor": factor, "nodes": good}
            )
        mapped = set(rec.get("replicas") or [])
        if mapped != set(good):
            violations.append(
                {"kind": "map disagrees", **where, "map": sorted(mapped), "disk": good}
            )
    orphans = sum(1 for held in disks.values() for cid in held if cid not in chunks)
    return result(
        "replicas", violations, chunks=len(chunks), copies=copies, orphans=orphans, nodes=len(disks)
    )

"""Three real master processes on loopback: election, redirects, failover, dedup, restart."""

from __future__ import annotations

import threading
import time
import uuid

from fahadfs.localcluster import LocalCluster
from fahadfs.rawhttp import call, q


def _mkdir(base: str, path: str, rid: str | None = None, parents: bool = False) -> tuple[int, dict]:
    status, _, body = call(
        base, "/v1/meta/mkdir", {"path": path, "parents": parents, "rid": rid or uuid.uuid4().hex}
    )
    return status, body


def _leader_url(c: LocalCluster) -> str:
    return c.http(c.leader_id())


def _followers(c: LocalCluster) -> list[str]:
    leader = c.leader_id()
    return [m.id for m in c.config.masters if m.id != leader]


def test_a_leader_is_elected_and_status_reports_it(masters_only: LocalCluster) -> None:
    leader = masters_only.leader_id()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        views = [masters_only.status(m.id)["leader"] for m in masters_only.config.masters]
        if views == [leader] * 3:
            break
        time.sleep(0.05)
    for m in masters_only.config.masters:
        s = masters_only.status(m.id)
        assert s["id"] == m.id
        assert s["leader"] == leader
        assert s["has_quorum"] is True
        assert {"term", "commit_index", "peers", "role"} <= set(s)
        assert len(s["peers"]) == 2


def test_follower_redirects_mutations_to_the_leader(masters_only: LocalCluster) -> None:
    c = masters_only
    follower = _followers(c)[0]
    status, headers, body = call(c.http(follower), "/v1/meta/mkdir", {"path": "/r", "rid": "x1"})
    assert status == 307
    assert body["code"] == "ENOTLEADER"
    assert body["leader"] == c.leader_id()
    assert headers["Location"] == f"{c.http(c.leader_id())}/v1/meta/mkdir"
    status, _, _ = call(
        headers["Location"].removesuffix("/v1/meta/mkdir"),
        "/v1/meta/mkdir",
        {"path": "/r", "rid": "x1"},
    )
    assert status == 200
    status, _, st = call(c.http(c.leader_id()), f"/v1/stat?path={q('/r')}")
    assert status == 200 and st["type"] == "dir"


def test_retried_request_id_is_applied_once(masters_only: LocalCluster) -> None:
    base = _leader_url(masters_only)
    assert _mkdir(base, "/src")[0] == 200
    rid = uuid.uuid4().hex
    first = call(base, "/v1/meta/mv", {"src": "/src", "dst": "/dst", "rid": rid})
    again = call(base, "/v1/meta/mv", {"src": "/src", "dst": "/dst", "rid": rid})
    assert first[0] == 200
    # Applied again it would fail with ENOENT (/src is gone); the stored first result comes back.
    assert again[0] == 200
    assert call(base, f"/v1/stat?path={q('/dst')}")[0] == 200
    assert call(base, f"/v1/stat?path={q('/src')}")[0] == 404


def test_failing_command_returns_error_and_cluster_keeps_committing(
    masters_only: LocalCluster,
) -> None:
    base = _leader_url(masters_only)
    assert _mkdir(base, "/x")[0] == 200
    status, body = _mkdir(base, "/x")
    assert status == 409 and body["code"] == "EEXIST"
    status, body = _mkdir(base, "/nope/deeper")
    assert status == 404 and body["code"] == "ENOENT"
    assert _mkdir(base, "/y")[0] == 200
    _, _, listing = call(base, f"/v1/ls?path={q('/')}")
    assert [e["name"] for e in listing["entries"]] == ["x", "y"]


def test_bad_input_gets_400_and_changes_nothing(masters_only: LocalCluster) -> None:
    base = _leader_url(masters_only)
    assert _mkdir(base, "/keep")[0] == 200
    before = masters_only.status(masters_only.leader_id())["namespace"]
    bad = [
        ("/v1/meta/mkdir", {"path": "relative"}),
        ("/v1/meta/mkdir", {"path": "/a/../b"}),
        ("/v1/meta/mkdir", {"path": "/a\x00b"}),
        ("/v1/meta/mkdir", {"path": "/a//b"}),
        ("/v1/meta/mkdir", {"path": "/" + "n" * 300}),
        ("/v1/meta/mkdir", {"path": 42}),
        ("/v1/meta/mkdir", {"path": "/ok", "parents": "yes"}),
        ("/v1/meta/frobnicate", {"path": "/x"}),
        ("/v1/meta/node_register", {"node_id": "evil", "address": "h:1", "capacity": 1}),
        ("/v1/meta/mv", {"src": "/keep", "dst": ["not", "a", "path"]}),
    ]
    for path, body in bad:
        status, _, answer = call(base, path, body)
        assert status == 400, (path, body, status, answer)
        assert answer["code"] == "EINVAL" and answer["message"]
    status, _, answer = call(base, f"/v1/stat?path={q('x/y')}")
    assert status == 400
    # A body that is not CBOR at all.
    import urllib.request

    req = urllib.request.Request(
        base + "/v1/meta/mkdir",
        data=b"\xff\x00garbage",
        method="POST",
        headers={"Content-Type": "application/cbor"},
    )
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("garbage body accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 400
    assert masters_only.status(masters_only.leader_id())["namespace"] == before


def test_leader_killed_during_mutations_new_leader_keeps_every_ack(
    masters_only: LocalCluster,
) -> None:
    c = masters_only
    acked: list[str] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        i = 0
        while not stop.is_set() and i < 400:
            path = f"/w{worker}-{i}"
            rid = uuid.uuid4().hex
            for _attempt in range(60):
                try:
                    leader = c.leader_id(timeout=5)
                    status, body = _mkdir(c.http(leader), path, rid=rid)
                except (OSError, TimeoutError):
                    time.sleep(0.1)
                    continue
                if status == 200 or (status == 409 and body.get("code") == "EEXIST"):
                    acked.append(path)
                    break
                time.sleep(0.1)
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    old = c.leader_id()
    before_kill = len(acked)
    killed_at = time.monotonic()
    c.kill(old)
    new = c.leader_id(timeout=10, exclude=[old])
    # The new leader commits within a few seconds.
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and _mkdir(c.http(new), f"/probe-{uuid.uuid4().hex}")[0] != 200
    ):
        time.sleep(0.05)
    failover = time.monotonic() - killed_at
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(60)
    assert new != old
    assert failover < 5.0, failover
    assert len(acked) > before_kill
    _, _, listing = call(c.http(new), f"/v1/ls?path={q('/')}")
    names = {"/" + e["name"] for e in listing["entries"]}
    missing = [p for p in acked if p not in names]
    assert not missing, f"{len(missing)} acknowledged mkdirs lost: {missing[:5]}"


def test_all_masters_restart_and_state_comes_back(masters_only: LocalCluster) -> None:
    c = masters_only
    base = _leader_url(c)
    for i in range(20):
        assert _mkdir(base, f"/d{i}/e", parents=True)[0] == 200
    commit_before = c.status(c.leader_id())["commit_index"]
    for m in c.config.masters:
        c.kill(m.id)
    for m in c.config.masters:
        c.start_master(m.id)
    c.wait_ready(node_ids=[])
    base = _leader_url(c)
    _, _, listing = call(base, f"/v1/ls?path={q('/')}")
    assert sorted(e["name"] for e in listing["entries"]) == sorted(f"d{i}" for i in range(20))
    assert call(base, f"/v1/stat?path={q('/d7/e')}")[0] == 200
    assert c.status(c.leader_id())["commit_index"] >= commit_before

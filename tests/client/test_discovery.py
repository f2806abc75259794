"""Leader discovery: redirects, failover, ENOLEADER backoff, deadlines naming the masters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fahadfs import errors
from fahadfs.client import Client
from tests.client.fakes import FakeMaster, cbor, dead_address, make_config


@pytest.fixture
async def three() -> AsyncIterator[list[FakeMaster]]:
    ms = [FakeMaster() for _ in range(3)]
    for m in ms:
        await m.start()
    try:
        yield ms
    finally:
        for m in ms:
            await m.stop()


def stats(m: FakeMaster) -> int:
    return sum(r.path == "/v1/stat" for r in m.requests)


async def test_follows_307_to_the_leader_and_remembers_it(three: list[FakeMaster]) -> None:
    m1, m2, m3 = three
    m1.mode = f"http://{m2.address}"
    m3.mode = f"http://{m2.address}"
    async with Client(make_config([m.address for m in three]), deadline=5) as c:
        assert (await c.stat("/"))["type"] == "dir"
        assert c.leader == m2.address
        await c.mkdir("/a")
        await c.stat("/a")
    assert stats(m1) == 1  # only the first call went there
    assert stats(m2) == 2 and len(m2.ops("mkdir")) == 1
    assert m3.requests == []
    assert m2.ops("mkdir")[0].body["path"] == "/a"  # the CBOR POST body was re-sent intact


async def test_fails_over_past_a_refused_master(three: list[FakeMaster]) -> None:
    dead = dead_address()
    async with Client(make_config([dead, three[0].address]), deadline=5) as c:
        await c.mkdir("/x")
        assert c.leader == three[0].address
        await c.mkdir("/y")
    assert len(three[0].ops("mkdir")) == 2


async def test_a_leader_that_dies_is_forgotten(three: list[FakeMaster]) -> None:
    m1, m2, _ = three
    async with Client(make_config([m1.address, m2.address]), deadline=5) as c:
        await c.stat("/")
        assert c.leader == m1.address
        await m1.stop()
        await c.stat("/")
        assert c.leader == m2.address


async def test_enoleader_is_retried_until_the_deadline_naming_the_masters(
    three: list[FakeMaster],
) -> None:
    for m in three:
        m.mode = "noleader"
    addrs = [m.address for m in three]
    async with Client(make_config(addrs), deadline=0.6) as c:
        with pytest.raises(errors.NoLeader) as info:
            await c.mkdir("/a")
    assert f"tried {', '.join(addrs)}" in info.value.message
    assert all(len(m.ops("mkdir")) >= 2 for m in three)  # went round more than once
    rids = {r.body["rid"] for m in three for r in m.ops("mkdir")}
    assert len(rids) == 1  # every retry carried the same request id


async def test_no_master_reachable_names_every_master() -> None:
    addrs = [dead_address() for _ in range(3)]
    async with Client(make_config(addrs), deadline=0.3) as c:
        with pytest.raises(errors.Unavailable) as info:
            await c.ls("/")
    assert info.value.message.endswith(f"no master reachable (tried {', '.join(addrs)})")
    assert info.value.__cause__ is not None


async def test_a_leader_elected_during_the_wait_is_used(three: list[FakeMaster]) -> None:
    m1 = three[0]
    left = [3]

    async def hook(request: Any, body: Any) -> Any:
        if left[0] == 0:
            return None
        left[0] -= 1
        return cbor({"code": "ENOLEADER", "message": "x"}, status=503)

    m1.hook = hook
    async with Client(make_config([m1.address]), deadline=5) as c:
        await c.mkdir("/late")
    assert "/late" in m1.dirs and len(m1.ops("mkdir")) == 4


async def test_a_redirect_without_a_leader_url_is_an_error_not_a_loop(
    three: list[FakeMaster],
) -> None:
    m1 = three[0]

    async def hook(request: Any, body: Any) -> Any:
        return cbor({"code": "ENOTLEADER", "message": "lost"}, status=421)

    m1.hook = hook
    async with Client(make_config([m1.address]), deadline=0.3) as c:
        with pytest.raises(errors.NoLeader, match=m1.address):
            await c.stat("/")

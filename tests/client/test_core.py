"""Client namespace calls: request ids, error mapping, deadlines."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from fahadfs import errors
from fahadfs.client import Client
from tests.client.fakes import FakeCluster, cbor, err


async def test_a_retried_mutation_reuses_its_request_id(cluster: FakeCluster) -> None:
    m = cluster.leader
    first = [True]

    async def drop_first_mkdir(request: web.Request, body: Any) -> Any:
        if request.path == "/v1/meta/mkdir" and first[0]:
            first[0] = False
            m.dispatch(request, body)  # applied, but the answer is lost
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return None

    m.hook = drop_first_mkdir
    async with Client(cluster.config(), deadline=5) as c:
        await c.mkdir("/d")  # no EEXIST: the retry is answered from the request table
        await c.mkdir("/e")
    calls = m.ops("mkdir")
    assert len(calls) == 3
    assert calls[0].body["rid"] == calls[1].body["rid"]
    assert calls[2].body["rid"] != calls[0].body["rid"]
    assert len(calls[0].body["rid"]) == 32


async def test_a_503_eunavail_is_retried_with_the_same_rid(cluster: FakeCluster) -> None:
    m = cluster.leader
    answers = [cbor({"code": "EUNAVAIL", "message": "commit timed out"}, status=503)]

    async def hook(request: web.Request, body: Any) -> Any:
        return answers.pop() if answers else None

    m.hook = hook
    async with Client(cluster.config(), deadline=5) as c:
        await c.mkdir("/z", rid="my-rid")
    assert [r.body["rid"] for r in m.ops("mkdir")] == ["my-rid", "my-rid"]


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (errors.NotFound("stat /x: no such file"), errors.NotFound),
        (errors.Busy("busy", holder="h1", expires=9), errors.Busy),
        (errors.InvalidArgument("bad"), errors.InvalidArgument),
        (errors.NoSpace("full"), errors.NoSpace),
        (errors.SafeMode("safe"), errors.SafeMode),
    ],
)
async def test_error_bodies_raise_their_classes(
    cluster: FakeCluster, error: errors.FahadfsError, cls: type
) -> None:
    async def hook(request: web.Request, body: Any) -> Any:
        return err(error)

    cluster.leader.hook = hook
    async with Client(cluster.config(), deadline=0.3) as c:
        with pytest.raises(cls) as info:
            await c.stat("/x")
    assert type(info.value) is cls
    if cls is errors.Busy:
        assert info.value.details["holder"] == "h1"


async def test_json_error_bodies_are_understood(cluster: FakeCluster) -> None:
    async def hook(request: web.Request, body: Any) -> Any:
        return web.json_response(
            {"code": "ENOTEMPTY", "message": "rmdir /a: not empty"}, status=409
        )

    cluster.leader.hook = hook
    async with Client(cluster.config(), deadline=1) as c:
        with pytest.raises(errors.DirectoryNotEmpty, match="not empty"):
            await c.rmdir("/a")


async def test_namespace_calls_send_the_documented_bodies(cluster: FakeCluster) -> None:
    m = cluster.leader
    async with Client(cluster.config(), deadline=2) as c:
        await c.mkdir("/a/", parents=True)
        assert await c.exists("/a")
        assert not await c.exists("/b")
        assert [e["name"] for e in await c.ls("/")] == ["a"]
        assert await c.walk("/") == [("/", {"type": "dir"}), ("/a", {"type": "dir"})]
        with pytest.raises(errors.AlreadyExists):
            await c.mkdir("/a")
        with pytest.raises(errors.InvalidArgument):
            await c.mkdir("relative")
    assert m.ops("mkdir")[0].body == {
        "path": "/a",
        "parents": True,
        "rid": m.ops("mkdir")[0].body["rid"],
    }


async def test_a_closed_client_says_so(cluster: FakeCluster) -> None:
    c = Client(cluster.config())
    with pytest.raises(RuntimeError, match="closed"):
        await c.stat("/")

"""fahadfs.client._http: responses become results or the right fahadfs.errors class."""

from __future__ import annotations

import json

import aiohttp
import cbor2
import pytest

from fahadfs import errors
from fahadfs.client import _http


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("ENOENT", 404, errors.NotFound),
        ("EEXIST", 409, errors.AlreadyExists),
        ("ENOTDIR", 409, errors.NotADirectory),
        ("EISDIR", 409, errors.IsADirectory),
        ("ENOTEMPTY", 409, errors.DirectoryNotEmpty),
        ("EINVAL", 400, errors.InvalidArgument),
        ("EBUSY", 409, errors.Busy),
        ("ESTALE", 409, errors.StaleSession),
        ("ENOLEADER", 503, errors.NoLeader),
        ("ENOSPC", 507, errors.NoSpace),
        ("EREPLICATION", 503, errors.NotEnoughNodes),
        ("EINTEGRITY", 422, errors.IntegrityError),
        ("ENOCHUNK", 404, errors.ChunkNotFound),
        ("EACCES", 403, errors.Forbidden),
        ("EIO", 500, errors.FahadfsError),
    ],
)
def test_error_body_code_picks_the_class(code: str, status: int, cls: type) -> None:
    e = _http.error_from(status, {"code": code, "message": f"it is {code}"}, "op")
    assert type(e) is cls
    assert e.message == f"it is {code}"


def test_error_details_survive_and_unknown_codes_keep_their_code() -> None:
    busy = _http.error_from(
        409, {"code": "EBUSY", "message": "m", "holder": "h", "expires": 5}, "x"
    )
    assert busy.details["holder"] == "h" and busy.details["expires"] == 5
    odd = _http.error_from(418, {"code": "EWEIRD", "message": "m"}, "x")
    assert type(odd) is errors.FahadfsError and odd.details["code"] == "EWEIRD"


def test_a_body_without_a_code_maps_by_status() -> None:
    assert type(_http.error_from(502, "Bad Gateway", "put")) is errors.Unavailable
    assert type(_http.error_from(404, None, "get")) is errors.NotFound
    e = _http.error_from(500, "boom", "stat /a")
    assert type(e) is errors.FahadfsError and "stat /a: HTTP 500: boom" in e.message


def test_bodies_decode_by_content_type() -> None:
    assert _http.decode(_http.CBOR, cbor2.dumps({"a": 1})) == {"a": 1}
    assert _http.decode("application/json", json.dumps({"a": 1}).encode()) == {"a": 1}
    assert _http.decode("text/plain", b"hi") == "hi"
    assert _http.decode(_http.CBOR, b"") is None


async def test_network_errors_become_unavailable_chained() -> None:
    with pytest.raises(errors.Unavailable) as info:
        async with _http.network_errors("stat /x"):
            raise aiohttp.ServerDisconnectedError()
    assert info.value.retryable
    assert info.value.details["unknown_outcome"] is True
    assert "unknown outcome" in info.value.message
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    with pytest.raises(errors.Unavailable, match="timed out"):
        async with _http.network_errors("stat /x"):
            raise TimeoutError()


def test_deadline_caps_and_expires() -> None:
    d = _http.Deadline(10)
    assert d.cap(3) == 3 and 9 < d.cap(None) <= 10  # type: ignore[operator]
    assert _http.Deadline(None).cap(None) is None
    assert _http.Deadline(0).expired

"""paths, auth tokens and the error tree."""

from __future__ import annotations

import pytest

from fahadfs import auth, errors, paths


@pytest.mark.parametrize(
    "bad", ["", "rel", "/a//b", "/a/./b", "/a/../b", "/a\x00", "/" + "x" * 256, 7, None]
)
def test_bad_paths_are_einval(bad) -> None:
    with pytest.raises(errors.InvalidArgument):
        paths.split(bad)


def test_paths_split_and_normalize() -> None:
    assert paths.split("/") == ()
    assert paths.split("/a/b/") == ("a", "b")
    assert paths.normalize("/a/b/") == "/a/b"
    assert paths.is_within("/a/b", "/a") and not paths.is_within("/ab", "/a")
    assert paths.parent("/a/b") == "/a" and paths.basename("/a/b") == "b"


def test_token_round_trip_and_rejections() -> None:
    tok = auth.sign("s3cret-key", "write", {"chunk": "00ff"}, now_ms=1000, ttl_ms=500)
    assert auth.verify("s3cret-key", "write", tok, now_ms=1200)["chunk"] == "00ff"
    with pytest.raises(errors.Forbidden, match="expired"):
        auth.verify("s3cret-key", "write", tok, now_ms=2000)
    with pytest.raises(errors.Forbidden, match="signature"):
        auth.verify("other-key!", "write", tok, now_ms=1200)
    with pytest.raises(errors.Forbidden, match="signature"):
        auth.verify("s3cret-key", "node", tok, now_ms=1200)  # other purpose
    _body, mac = tok.split(".")
    forged = auth.sign("attacker!", "write", {"chunk": "00ff", "max": 1 << 40}, 1000, 500)
    with pytest.raises(errors.Forbidden):
        auth.verify("s3cret-key", "write", forged.split(".")[0] + "." + mac, now_ms=1200)
    for junk in (None, "", "nodot", "a.b.c", "!!!.???"):
        with pytest.raises(errors.Forbidden):
            auth.verify("s3cret-key", "write", junk, now_ms=1200)


def test_error_codes_round_trip_through_the_wire() -> None:
    for cls in (
        errors.NotFound,
        errors.Busy,
        errors.NoSpace,
        errors.NotLeader,
        errors.IntegrityError,
    ):
        err = cls("boom", holder="c1")
        back = errors.from_wire(err.to_wire())
        assert type(back) is cls and back.message == "boom" and back.details["holder"] == "c1"
    assert errors.from_wire({"code": "EWHATEVER", "message": "m"}).code == "EIO"
    assert len(set(errors.BY_CODE)) == len(errors.BY_CODE)

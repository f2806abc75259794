"""Pure validation and splitting of fahadfs paths (absolute, '/'-separated, no '.' or '..')."""

from __future__ import annotations

from fahadfs.errors import InvalidArgument

MAX_NAME = 255
MAX_PATH = 4096


def split(path: object) -> tuple[str, ...]:
    """Validate ``path`` and return its components; ``/`` gives ``()``.

    Raises InvalidArgument naming what is wrong: not a string, relative, empty component,
    ``.``/``..``, NUL or control characters, over-long names or paths.
    """
    if not isinstance(path, str):
        raise InvalidArgument(f"path must be a string, got {type(path).__name__}")
    if not path.startswith("/"):
        raise InvalidArgument(f"path must be absolute: {path!r}")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise InvalidArgument(f"path longer than {MAX_PATH} bytes")
    if path == "/":
        return ()
    body = path[1:]
    if body.endswith("/"):
        body = body[:-1]
    parts = tuple(body.split("/"))
    for part in parts:
        check_name(part, path)
    return parts


def check_name(name: str, path: str = "") -> None:
    """Raise InvalidArgument unless ``name`` is a valid single path component."""
    where = f" in {path!r}" if path else ""
    if name == "":
        raise InvalidArgument(f"empty path component{where}")
    if name in (".", ".."):
        raise InvalidArgument(f"'{name}' is not allowed{where}")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise InvalidArgument(f"NUL or control character{where}")
    if "/" in name:
        raise InvalidArgument(f"'/' inside a name{where}")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
        raise InvalidArgument(f"name longer than {MAX_NAME} bytes{where}")


def normalize(path: object) -> str:
    """Validate and return the canonical form (no trailing slash except for root)."""
    return join(split(path))


def join(parts: tuple[str, ...] | list[str]) -> str:
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    parts = split(path)
    return join(parts[:-1])


def basename(path: str) -> str:
    parts = split(path)
    return parts[-1] if parts else ""


def is_within(path: str, ancestor: str) -> bool:
    """True if ``path`` equals ``ancestor`` or lies below it (both canonical)."""
    if ancestor == "/":
        return True
    return path == ancestor or path.startswith(ancestor + "/")

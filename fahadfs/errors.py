"""One error hierarchy for fahadfs, with stable codes and HTTP statuses.

Every error carries a stable ``code`` (what programs match on, never the message) and the HTTP
status a server answers with. Errors cross the wire as ``{"code", "message", ...}`` and are turned
back into the same class by :func:`from_wire` at the client edge.

    FahadfsError (EIO, 500)
    ├── NamespaceError
    │   ├── NotFound            ENOENT      404
    │   ├── AlreadyExists       EEXIST      409
    │   ├── NotADirectory       ENOTDIR     409
    │   ├── IsADirectory        EISDIR      409
    │   ├── DirectoryNotEmpty   ENOTEMPTY   409
    │   └── InvalidPath         EINVAL      400   (also bad requests in general)
    ├── SessionError
    │   ├── Busy                EBUSY       409   (another writer holds the path)
    │   └── StaleSession        ESTALE      409   (lease expired or fencing token superseded)
    ├── ClusterError
    │   ├── NoLeader            ENOLEADER   503   (retryable)
    │   ├── NotLeader           ENOTLEADER  421   (retryable at the named leader)
    │   ├── Unavailable         EUNAVAIL    503   (retryable: unknown outcome, timeouts)
    │   └── SafeMode            ESAFEMODE   503
    ├── StorageError
    │   ├── NoSpace             ENOSPC      507
    │   ├── NotEnoughNodes      EREPLICATION 503
    │   ├── IntegrityError      EINTEGRITY  422
    │   ├── ChunkNotFound       ENOCHUNK    404
    │   └── Forbidden           EACCES      403
    └── ConfigError             ECONFIG     (local only)
"""

from __future__ import annotations

from typing import Any, ClassVar


class FahadfsError(Exception):
    """Root of every fahadfs error: a stable code, an HTTP status and a human message."""

    code: ClassVar[str] = "EIO"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        """The ``{code, message, ...details}`` body a server sends."""
        return {"code": self.code, "message": self.message, **self.details}


class NamespaceError(FahadfsError):
    pass


class NotFound(NamespaceError):
    code, status = "ENOENT", 404


class AlreadyExists(NamespaceError):
    code, status = "EEXIST", 409


class NotADirectory(NamespaceError):
    code, status = "ENOTDIR", 409


class IsADirectory(NamespaceError):
    code, status = "EISDIR", 409


class DirectoryNotEmpty(NamespaceError):
    code, status = "ENOTEMPTY", 409


class InvalidArgument(NamespaceError):
    code, status = "EINVAL", 400


class SessionError(FahadfsError):
    pass


class Busy(SessionError):
    code, status = "EBUSY", 409


class StaleSession(SessionError):
    code, status = "ESTALE", 409


class ClusterError(FahadfsError):
    retryable = True


class NoLeader(ClusterError):
    code, status = "ENOLEADER", 503


class NotLeader(ClusterError):
    code, status = "ENOTLEADER", 421


class Unavailable(ClusterError):
    code, status = "EUNAVAIL", 503


class SafeMode(ClusterError):
    code, status = "ESAFEMODE", 503


class StorageError(FahadfsError):
    pass


class NoSpace(StorageError):
    code, status = "ENOSPC", 507


class NotEnoughNodes(StorageError):
    code, status = "EREPLICATION", 503
    retryable = True


class IntegrityError(StorageError):
    code, status = "EINTEGRITY", 422


class ChunkNotFound(StorageError):
    code, status = "ENOCHUNK", 404


class Forbidden(StorageError):
    code, status = "EACCES", 403


class ConfigError(FahadfsError):
    code, status = "ECONFIG", 500


def _all_subclasses(cls: type[FahadfsError]) -> list[type[FahadfsError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


BY_CODE: dict[str, type[FahadfsError]] = {}
for _cls in _all_subclasses(FahadfsError):
    BY_CODE.setdefault(_cls.code, _cls)
BY_CODE["EIO"] = FahadfsError


def from_code(code: str, message: str, **details: Any) -> FahadfsError:
    """Build the error class registered for ``code`` (unknown codes become FahadfsError)."""
    cls = BY_CODE.get(code, FahadfsError)
    err = cls(message, **details)
    if cls is FahadfsError and code != "EIO":
        err.details["code"] = code
    return err


def from_wire(body: dict[str, Any]) -> FahadfsError:
    """Turn a ``{code, message, ...}`` body back into its error."""
    details = {k: v for k, v in body.items() if k not in ("code", "message", "ok")}
    return from_code(str(body.get("code", "EIO")), str(body.get("message", "")), **details)

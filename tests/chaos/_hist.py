"""Build histories by hand for checker tests: ``H().op(...)`` with explicit times."""

from __future__ import annotations

from typing import Any

from chaos import content, history


class H:
    def __init__(self, chunk_size: int = 1024) -> None:
        self.events: list[dict[str, Any]] = []
        self.n = 0
        self.chunk_size = chunk_size

    def op(
        self,
        f: str,
        t0: float,
        t1: float | None,
        outcome: str,
        process: str = "w0",
        value: dict[str, Any] | None = None,
        code: str | None = None,
        **args: Any,
    ) -> H:
        """One op invoked at t0, completed at t1 (None: never completed, i.e. unknown)."""
        n = self.n
        self.n += 1
        self.events.append(
            {"type": "invoke", "op": n, "t": t0, "process": process, "f": f, "args": args}
        )
        if t1 is not None:
            e: dict[str, Any] = {"type": outcome, "op": n, "t": t1, "process": process, "f": f}
            if value is not None:
                e["value"] = value
            if code is not None:
                e["error"] = {"code": code}
            self.events.append(e)
        return self

    def put(
        self,
        path: str,
        data: bytes,
        t0: float,
        t1: float | None,
        outcome: str = "ok",
        once: bool = False,
        **kw: Any,
    ) -> H:
        return self.op(
            "put",
            t0,
            t1,
            outcome,
            path=path,
            size=len(data),
            sha256=content.sha256(data),
            fp=content.fingerprint(data, self.chunk_size),
            once=once,
            **kw,
        )

    def stat_file(self, path: str, data: bytes, t0: float, t1: float, **kw: Any) -> H:
        value = {
            "type": "file",
            "size": len(data),
            "fp": content.fingerprint(data, self.chunk_size),
        }
        return self.op("stat", t0, t1, "ok", path=path, value=value, **kw)

    def get(
        self,
        path: str,
        data: bytes | None,
        t0: float,
        t1: float,
        process: str = "w0",
        code: str | None = None,
    ) -> H:
        if data is None:
            return self.op("get", t0, t1, "fail", path=path, code=code or "ENOENT", process=process)
        value = {"sha256": content.sha256(data), "size": len(data)}
        return self.op("get", t0, t1, "ok", path=path, value=value, process=process)

    def nemesis(self, t: float, **event: Any) -> H:
        self.events.append({"type": "nemesis", "process": "nemesis", "t": t, **event})
        return self

    def monitor(self, t: float, **event: Any) -> H:
        self.events.append({"type": "monitor", "process": "monitor", "t": t, **event})
        return self

    def sorted_events(self) -> list[dict[str, Any]]:
        evs = sorted(self.events, key=lambda e: e["t"])
        return [{"i": i, **e} for i, e in enumerate(evs)]

    def ops(self) -> list[history.Op]:
        return history.ops(self.sorted_events())

"""Pure text formatting for the CLI: sizes, durations, times, tables and tree drawing.

Nothing here does I/O; every function takes values and returns strings, so the output of the
commands can be unit-tested without a cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: int | float | None, exact: bool = False) -> str:
    """``1536`` -> ``1.5 KiB`` (binary units, one decimal); ``exact`` gives plain bytes."""
    if n is None:
        return "-"
    if exact:
        return str(int(n))
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 and seconds != s else f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def mtime(ms: int | float | None, now: float | None = None) -> str:
    """A modification time in milliseconds since the epoch as local ``YYYY-MM-DD HH:MM``."""
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000.0))


def percent(part: float, whole: float) -> str:
    if whole <= 0:
        return "-"
    return f"{100.0 * part / whole:.0f}%"


def table(
    rows: Sequence[Sequence[Any]],
    header: Sequence[str] | None = None,
    right: Iterable[int] = (),
    indent: str = "",
) -> str:
    """Left-aligned columns (``right``: indexes of right-aligned ones), two spaces apart."""
    cells = [[str(c) for c in r] for r in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    ncol = max(len(r) for r in cells)
    widths = [max((len(r[i]) for r in cells if i < len(r)), default=0) for i in range(ncol)]
    right = set(right)
    lines = []
    for r in cells:
        parts = [
            (c.rjust(widths[i]) if i in right else c.ljust(widths[i])) for i, c in enumerate(r)
        ]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


def to_json(value: Any) -> str:
    """Stable, human-diffable JSON for ``--json`` output."""
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


# -- tree drawing -------------------------------------------------------------------------------

BRANCH, LAST, PIPE, SPACE = "├── ", "└── ", "│   ", "    "
TreeItem = tuple[str, "list[TreeItem] | None"]


def tree_lines(root_label: str, children: Sequence[TreeItem]) -> list[str]:
    """Draw nested ``(label, children)`` items like tree(1).

    ``children`` is a list of ``(label, sub)`` where ``sub`` is the list of a directory's items
    or ``None`` for a file. Order is kept.
    """
    lines = [root_label]

    def walk(items: Sequence[TreeItem], prefix: str) -> None:
        for i, (label, sub) in enumerate(items):
            last = i == len(items) - 1
            lines.append(prefix + (LAST if last else BRANCH) + label)
            if sub:
                walk(sub, prefix + (SPACE if last else PIPE))

    walk(children, "")
    return lines


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def nodes_table(nodes: Sequence[dict[str, Any]], exact: bool = False) -> str:
    """File nodes as ``GET /v1/nodes`` lists them, one line each."""
    rows = [
        (
            n["id"],
            n.get("state", "-"),
            "live" if n.get("alive") else "DEAD",
            size(n.get("used_bytes"), exact),
            size(n.get("free_bytes"), exact),
            percent(n.get("used_bytes") or 0, n.get("capacity") or 0),
            n.get("chunks", "-"),
            n.get("address", "-"),
        )
        for n in sorted(nodes, key=lambda n: n["id"])
    ]
    header = ("NODE", "STATE", "ALIVE", "USED", "FREE", "USE%", "CHUNKS", "ADDRESS")
    return table(rows, header=header, right=[3, 4, 5, 6])

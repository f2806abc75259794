"""Pure formatting helpers and the pure parts of commands (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from fahadfs.cli import _format, _health, cmd_du, cmd_ls, cmd_tree


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (200 << 20, "200.0 MiB"),
     (3 << 40, "3.0 TiB"), (None, "-")],
)  # fmt: skip
def test_size_uses_binary_units(n: int | None, text: str) -> None:
    assert _format.size(n) == text


def test_size_exact_is_plain_bytes() -> None:
    assert _format.size(209715200, exact=True) == "209715200"


@pytest.mark.parametrize(
    ("s", "text"), [(None, "-"), (3, "3s"), (2.5, "2.5s"), (75, "1m15s"), (7322, "2h02m")]
)
def test_duration(s: float | None, text: str) -> None:
    assert _format.duration(s) == text


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    out = _format.table([("a", 1), ("bbb", 100)], header=("NAME", "N"), right=[1])
    assert out.splitlines() == ["NAME    N", "a       1", "bbb   100"]
    assert _format.table([]) == ""


def test_tree_lines_draw_branches() -> None:
    items: list[_format.TreeItem] = [
        ("a/", [("x", None), ("y/", [("z", None)])]),
        ("b", None),
    ]
    assert _format.tree_lines("/", items) == [
        "/",
        "├── a/",
        "│   ├── x",
        "│   └── y/",
        "│       └── z",
        "└── b",
    ]


def test_plural() -> None:
    assert _format.plural(1, "file") == "1 file"
    assert _format.plural(2, "directory", "directories") == "2 directories"


WALK: list[tuple[str, dict[str, Any]]] = [
    ("/", {"type": "dir", "size": 0}),
    ("/a", {"type": "dir", "size": 0}),
    ("/a/x", {"type": "file", "size": 100, "replication": 3}),
    ("/a/y", {"type": "dir", "size": 0}),
    ("/a/y/z", {"type": "file", "size": 50, "replication": 2}),
    ("/b", {"type": "file", "size": 7, "replication": 0}),
]


def test_du_sums_below_each_directory_children_first() -> None:
    total, rows = cmd_du.usage("/", WALK, default_k=3)
    assert total == {"path": "/", "size": 157, "stored_bytes": 421, "files": 3, "dirs": 2}
    assert [(p, n) for p, n, k in rows if k == "dir"] == [("/a/y", 50), ("/a", 150), ("/", 157)]


def test_du_of_a_subtree_and_of_a_file() -> None:
    total, _ = cmd_du.usage("/a", WALK[1:5], default_k=3)
    assert total["size"] == 150 and total["files"] == 2 and total["dirs"] == 1
    total, rows = cmd_du.usage("/b", WALK[5:], default_k=3)
    assert total["size"] == 7 and rows == [("/b", 7, "file")]


def test_ls_groups_a_walk_by_directory() -> None:
    groups = dict(cmd_ls._group("/", WALK))
    assert [e["name"] for e in groups["/"]] == ["a", "b"]
    assert [e["name"] for e in groups["/a"]] == ["x", "y"]
    assert groups["/a/y"][0]["name"] == "z"


def test_tree_totals_and_health_marks() -> None:
    problem = _health.Problem("/a/x", 5, _health.UNDER, 2, 3, ("n1", "n2"), ())
    top = cmd_tree.build("/", WALK, {"/a/x": problem})
    assert top["size"] == 157 and top["files"] == 3 and top["dirs"] == 2
    lines = cmd_tree.render(top, None, exact=True)
    assert lines[0] == "/  (3 files, 157)"
    assert "│   ├── x  100  [2/3 replicas]" in lines
    assert lines[-1] == "2 directories, 3 files, 157; 1 file short of replicas"
    shallow = cmd_tree.render(top, 1, exact=True)
    assert not any("z" in line for line in shallow)

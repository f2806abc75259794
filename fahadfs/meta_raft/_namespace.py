"""The directory tree: ``_Dir`` nodes whose children are ``_Dir``s or packed file records.

Every traversal here is iterative (paths may be thousands of components deep) and visits
children in sorted order wherever the order reaches an output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from fahadfs.errors import NotADirectory, NotFound
from fahadfs.meta_raft._records import file_chunks
from fahadfs.paths import join


class _Dir:
    """A directory: ``children`` maps a name (interned for directories, plain for files, which
    are mostly unique) to a ``_Dir`` or a file record."""

    __slots__ = ("children", "mtime")

    def __init__(self, mtime: int, children: dict[str, _Dir | bytes] | None = None) -> None:
        self.children: dict[str, _Dir | bytes] = {} if children is None else children
        self.mtime = mtime


Node = _Dir | bytes
intern = sys.intern


def parent_dir(root: _Dir, parts: tuple[str, ...], what: str) -> _Dir:
    """The directory that holds ``parts[-1]`` (``root`` for ``()``).

    Raises NotFound naming the first missing directory, NotADirectory naming a file on the way.
    """
    node = root
    for i in range(len(parts) - 1):
        child = node.children.get(parts[i])
        if child is None:
            raise NotFound(f"{what}: no such directory {join(parts[: i + 1])}")
        if isinstance(child, bytes):
            raise NotADirectory(f"{what}: {join(parts[: i + 1])} is a file, not a directory")
        node = child
    return node


def lookup(root: _Dir, parts: tuple[str, ...], what: str) -> Node:
    """The node at ``parts``; NotFound / NotADirectory as for :func:`parent_dir`."""
    if not parts:
        return root
    node = parent_dir(root, parts, what).children.get(parts[-1])
    if node is None:
        raise NotFound(f"{what}: no such file or directory {join(parts)}")
    return node


def iter_tree(node: Node, path: str) -> Iterator[tuple[str, Node]]:
    """``(path, node)`` for ``node`` and everything below it, depth-first, names sorted."""
    stack: list[tuple[str, Node]] = [(path, node)]
    while stack:
        here, item = stack.pop()
        yield here, item
        if isinstance(item, bytes):
            continue
        prefix = "" if here == "/" else here
        children = item.children
        for name in sorted(children, reverse=True):
            stack.append((f"{prefix}/{name}", children[name]))


def iter_files(node: _Dir) -> Iterator[bytes]:
    """Every file record below ``node``, in no particular order."""
    stack = [node]
    while stack:
        for child in stack.pop().children.values():
            if isinstance(child, bytes):
                yield child
            else:
                stack.append(child)


def subtree_contents(node: _Dir) -> tuple[int, int, list[int]]:
    """``(files, dirs, chunk ids)`` strictly below ``node``; a chunk id repeats per reference."""
    files = dirs = 0
    ids: list[int] = []
    stack = [node]
    while stack:
        for child in stack.pop().children.values():
            if isinstance(child, bytes):
                files += 1
                ids.extend(file_chunks(child))
            else:
                dirs += 1
                stack.append(child)
    return files, dirs, ids


def dump_tree(root: _Dir) -> list[list[Any]]:
    """The tree as rows ``[parent row, name, mtime, {file name: record}]``, sorted preorder.

    Every map is built in sorted key order, so equal trees give equal rows in equal order.
    """
    rows: list[list[Any]] = []
    stack: list[tuple[int, str, _Dir]] = [(-1, "", root)]
    while stack:
        parent, name, node = stack.pop()
        index = len(rows)
        files = {}
        subdirs = []
        children = node.children
        for child_name in sorted(children):
            child = children[child_name]
            if isinstance(child, bytes):
                files[child_name] = child
            else:
                subdirs.append((index, child_name, child))
        rows.append([parent, name, node.mtime, files])
        stack.extend(reversed(subdirs))
    return rows


def load_tree(rows: list[list[Any]]) -> tuple[_Dir, int, int]:
    """Rebuild the tree of :func:`dump_tree`; returns ``(root, files, dirs below root)``."""
    dirs: list[_Dir] = []
    files = 0
    for parent, name, mtime, records in rows:
        node = _Dir(mtime, records)  # file names are not interned: unique names cost 31 B more
        files += len(records)
        if parent >= 0:
            dirs[parent].children[intern(name)] = node
        dirs.append(node)
    if not dirs:
        raise ValueError("snapshot has no root directory")
    return dirs[0], files, len(dirs) - 1

"""Namespace ops of the state machine: mkdir, rm, rmdir, mv, cp."""

from __future__ import annotations

from fahadfs.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
)
from fahadfs.meta_raft import _records as rec
from fahadfs.meta_raft._namespace import _Dir, intern, lookup, parent_dir, subtree_contents
from fahadfs.meta_raft._tables import Result, _split, _Tables
from fahadfs.paths import join


class _NamespaceOps(_Tables):
    """mkdir, rm, rmdir, mv and cp: POSIX-like rules over the tree, refcounted chunks."""

    def _op_mkdir(self, now: int, path: str, parents: bool) -> Result:
        parts = _split("mkdir", path)
        what = f"mkdir {join(parts)}"
        if not parts:
            if parents:
                return {}
            raise AlreadyExists(f"{what}: already exists")
        if not parents:
            parent = parent_dir(self._root, parts, what)
            if parts[-1] in parent.children:
                raise AlreadyExists(f"{what}: already exists")
            self._add_dirs(now, parent, parts[-1:])
            return {}
        node, depth = self._root, 0
        for name in parts:
            child = node.children.get(name)
            if child is None:
                break
            if isinstance(child, bytes):
                if depth == len(parts) - 1:
                    raise AlreadyExists(f"{what}: already exists as a file")
                raise NotADirectory(f"{what}: {join(parts[: depth + 1])} is a file")
            node, depth = child, depth + 1
        self._add_dirs(now, node, parts[depth:])
        return {}

    def _add_dirs(self, now: int, node: _Dir, names: tuple[str, ...]) -> None:
        if names:
            node.mtime = now
        for name in names:
            child = _Dir(now)
            node.children[intern(name)] = child
            node = child
            self._dirs += 1

    def _op_rm(self, now: int, path: str) -> Result:
        parts = _split("rm", path)
        canon, what = join(parts), f"rm {join(parts)}"
        node = lookup(self._root, parts, what)
        if not isinstance(node, bytes):
            raise IsADirectory(f"{what}: is a directory (use rmdir)")
        self._check_idle(what, canon, now, subtree=False)
        pending = self._close_expired(canon, subtree=False)
        parent = parent_dir(self._root, parts, what)
        del parent.children[parts[-1]]
        parent.mtime = now
        self._files -= 1
        return {"garbage": self._garbage(self._unref(rec.file_chunks(node)), pending)}

    def _op_rmdir(self, now: int, path: str, recursive: bool) -> Result:
        parts = _split("rmdir", path)
        canon, what = join(parts), f"rmdir {join(parts)}"
        if not parts:
            raise InvalidArgument(f"{what}: cannot remove the root directory")
        node = lookup(self._root, parts, what)
        if isinstance(node, bytes):
            raise NotADirectory(f"{what}: not a directory")
        if node.children and not recursive:
            raise DirectoryNotEmpty(f"{what}: directory not empty")
        self._check_idle(what, canon, now, subtree=True)
        pending = self._close_expired(canon, subtree=True)
        files, dirs, ids = subtree_contents(node)
        parent = parent_dir(self._root, parts, what)
        del parent.children[parts[-1]]
        parent.mtime = now
        self._files -= files
        self._dirs -= dirs + 1
        return {"garbage": self._garbage(self._unref(ids), pending)}

    def _op_mv(self, now: int, src: str, dst: str) -> Result:
        sparts, dparts = _split("mv", src), _split("mv", dst)
        scanon, dcanon = join(sparts), join(dparts)
        what = f"mv {scanon} {dcanon}"
        if not sparts or not dparts:
            raise InvalidArgument(f"{what}: cannot move the root directory or onto it")
        node = lookup(self._root, sparts, what)
        if sparts == dparts:
            return {"garbage": []}
        is_dir = not isinstance(node, bytes)
        if is_dir and dparts[: len(sparts)] == sparts:
            raise InvalidArgument(f"{what}: cannot move a directory inside itself")
        dparent = parent_dir(self._root, dparts, what)
        target = dparent.children.get(dparts[-1])
        if target is not None:
            if not is_dir and not isinstance(target, bytes):
                raise IsADirectory(f"{what}: {dcanon} is a directory")
            if is_dir and isinstance(target, bytes):
                raise NotADirectory(f"{what}: {dcanon} is not a directory")
            if isinstance(target, _Dir) and target.children:
                raise DirectoryNotEmpty(f"{what}: {dcanon} is not empty")
        self._check_idle(what, scanon, now, subtree=is_dir)
        self._check_idle(what, dcanon, now, subtree=True)
        pending = self._close_expired(scanon, subtree=is_dir)
        pending += self._close_expired(dcanon, subtree=True)
        sparent = parent_dir(self._root, sparts, what)
        del sparent.children[sparts[-1]]
        dropped: list[Result] = []
        if isinstance(target, bytes):
            dropped = self._unref(rec.file_chunks(target))
            self._files -= 1
        elif target is not None:
            self._dirs -= 1
        dparent.children[intern(dparts[-1])] = node
        sparent.mtime = dparent.mtime = now
        return {"garbage": self._garbage(dropped, pending)}

    def _op_cp(self, now: int, src: str, dst: str) -> Result:
        sparts, dparts = _split("cp", src), _split("cp", dst)
        dcanon = join(dparts)
        what = f"cp {join(sparts)} {dcanon}"
        node = lookup(self._root, sparts, what)
        if not isinstance(node, bytes):
            raise IsADirectory(f"{what}: {join(sparts)} is a directory")
        if not dparts:
            raise IsADirectory(f"{what}: / is a directory")
        dparent = parent_dir(self._root, dparts, what)
        target = dparent.children.get(dparts[-1])
        if target is not None and not isinstance(target, bytes):
            raise IsADirectory(f"{what}: {dcanon} is a directory")
        self._check_idle(what, dcanon, now, subtree=False)
        ids = rec.file_chunks(node)
        for cid in ids:
            if rec.chunk_refs(self._chunks[cid]) >= rec.U32_MAX:
                raise InvalidArgument(f"{what}: chunk {cid} has too many references")
        pending = self._close_expired(dcanon, subtree=False)
        for cid in ids:
            chunk = self._chunks[cid]
            self._chunks[cid] = rec.chunk_with_refs(chunk, rec.chunk_refs(chunk) + 1)
        version = self._next()
        dparent.children[dparts[-1]] = rec.file_with_version(node, now, version)
        dropped: list[Result] = []
        if target is None:
            self._files += 1
            dparent.mtime = now
        else:
            dropped = self._unref(rec.file_chunks(target))
        return {"version": version, "garbage": self._garbage(dropped, pending)}

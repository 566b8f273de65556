"""Brokers, chosen by URL: ``memory://[name]`` or ``redis://host:port/db``."""

from __future__ import annotations

from urllib.parse import urlparse

from .base import Broker, Listener, Replay, Snapshot

__all__ = ["Broker", "Listener", "Replay", "Snapshot", "broker_from_url"]


def broker_from_url(
    url: str, history_size: int = 2048, revocations_path: str | None = None
) -> Broker:
    """Make the broker a URL names; raise ``ValueError`` for an unknown scheme.

    ``revocations_path`` is where the memory broker keeps revoked tokens
    (Redis keeps them itself).
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from .memory import MemoryBroker

        name = url.split("://", 1)[1] or "default"
        return MemoryBroker(name, history_size, revocations_path)
    if scheme in {"redis", "rediss", "unix"}:
        from .redis import RedisBroker

        return RedisBroker(url, history_size)
    raise ValueError(f"unknown broker URL scheme {scheme!r}; expected memory:// or redis://")

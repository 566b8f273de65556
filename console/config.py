"""Settings of one livecon process, from arguments, the environment and the data dir.

Secrets (the token signing key, the admin key) come from ``LIVECON_SECRET``
and ``LIVECON_ADMIN_KEY``; when unset in embedded mode they are generated once
and kept in the data directory with mode 0600. The order webhook is
``LIVECON_WEBHOOK_URL`` signed with ``LIVECON_WEBHOOK_SECRET`` (required with a
URL); viewers' reminders go out through it ``LIVECON_REMINDER_LEAD_S`` seconds
(default 600) before a show's start. Secrets are never logged.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from realtime import HubSettings

__all__ = ["Settings"]


def _secret_from(env: str, path: Path, generate: bool) -> str:
    value = os.environ.get(env, "").strip()
    if value:
        return value
    if path.exists():
        return path.read_text().strip()
    if not generate:
        raise SystemExit(f"{env} must be set when running on Redis (every node needs the same)")
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


@dataclass
class Settings:
    """What a process needs to start; ``redis_url`` empty means embedded."""

    redis_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("LIVECON_DATA", ".livecon")))
    hub: HubSettings = field(default_factory=HubSettings)
    secret: str = ""
    admin_key: str = ""
    scripts: dict[str, str] = field(default_factory=dict)
    previous_secrets: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            key.strip()
            for key in os.environ.get("LIVECON_PREVIOUS_SECRETS", "").split(",")
            if key.strip()
        )
    )
    """Signing keys still accepted for tokens while clients move to the new one (rotation)."""
    webhook_url: str = field(default_factory=lambda: os.environ.get("LIVECON_WEBHOOK_URL", ""))
    webhook_secret: str = field(
        default_factory=lambda: os.environ.get("LIVECON_WEBHOOK_SECRET", "")
    )
    reminder_lead_s: float = field(
        default_factory=lambda: float(os.environ.get("LIVECON_REMINDER_LEAD_S", "600"))
    )
    """How long before a show's ``starts_at`` the ``reminder.due`` webhook goes out."""

    def __post_init__(self) -> None:
        embedded = not self.redis_url
        self.secret = self.secret or _secret_from(
            "LIVECON_SECRET", self.data_dir / "secret", generate=embedded
        )
        self.admin_key = self.admin_key or _secret_from(
            "LIVECON_ADMIN_KEY", self.data_dir / "admin-key", generate=embedded
        )

    @property
    def broker_url(self) -> str:
        return self.redis_url or "memory://"

    @property
    def durable_path(self) -> Path:
        """The SQLite file of the embedded mode."""
        return self.data_dir / "livecon.db"

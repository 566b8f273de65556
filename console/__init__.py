"""livecon's show side: the application, the rooms' handlers, the command line."""

from __future__ import annotations

from .app import create_app
from .config import Settings

__all__ = ["Settings", "create_app"]

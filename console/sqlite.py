"""The embedded mode's SQLite files, opened one way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_database"]


def open_database(
    path: str | Path, *schema: str, full_sync: bool = False, any_thread: bool = True
) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with ``schema`` applied (``CREATE ... IF NOT
    EXISTS`` statements). ``full_sync``: fsync every commit (what must survive a crash)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=not any_thread)
    db.execute("PRAGMA journal_mode=WAL")
    if full_sync:
        db.execute("PRAGMA synchronous=FULL")
    for statement in schema:
        db.execute(statement)
    return db

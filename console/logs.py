"""Log hygiene: no secret in a log line, no traceback a client can cause at will."""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["install_log_filters"]

_SECRET: Final = re.compile(r"([?&](?:token|key)=)[^&\s\"']+")


class RedactingFilter(logging.Filter):
    """Replaces ``token=`` and ``key=`` query values with ``[redacted]``; turns the
    traceback uvicorn logs for a client's invalid UTF-8 text frame into one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UnicodeDecodeError):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (
                "websocket closed with 1007: invalid UTF-8 in a text frame",
                (),
            )
            return True
        message = record.getMessage()
        if "token=" in message or "key=" in message:
            record.msg, record.args = _SECRET.sub(r"\1[redacted]", message), ()
        return True


_FILTER: Final = RedactingFilter()


def install_log_filters() -> None:
    """Attach the filter to uvicorn's loggers and their handlers (idempotent)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "livecon"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)

"""Typed, line-aware access to a parsed TOML show script. Pure."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
from dataclasses import dataclass
from typing import Any

from ..compliance import Category, Lexicon
from .locate import Locator
from .templates import TemplateError, check_template

__all__ = ["Checker", "Issue", "Reader", "Severity"]

Path_ = tuple[str | int, ...]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity.value}: {self.message}"


class Reader:
    """Typed access to one table of the parsed TOML, recording issues with lines."""

    def __init__(
        self, checker: Checker, table: dict[str, Any], path: Path_, allowed: set[str]
    ) -> None:
        self.checker = checker
        self.table = table
        self.path = path
        for key in sorted(set(table) - allowed):
            checker.error(path, key, f"unknown key {key!r}")

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self.table.get(key)
        if value is None:
            if required:
                self.checker.error(self.path, None, f"missing {key!r}")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.checker.error(self.path, key, f"{key!r} must be a non-empty string")
            return default
        return value.strip()

    def number(
        self,
        key: str,
        low: float,
        default: float | None = None,
        integer: bool = False,
        required: bool | None = None,
    ) -> float | None:
        """The value at ``key``; required when no default is given unless ``required=False``."""
        value = self.table.get(key)
        if value is None:
            if required if required is not None else default is None:
                self.checker.error(self.path, None, f"missing {key!r}")
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
        ):
            kind = "an integer" if integer else "a number"
            self.checker.error(self.path, key, f"{key!r} must be {kind}")
            return default
        if not math.isfinite(value):
            self.checker.error(self.path, key, f"{key!r} must be a finite number")
            return default
        if value < low:
            self.checker.error(self.path, key, f"{key!r} must be at least {low:g}, got {value}")
            return default
        return value

    def integer(
        self, key: str, low: int, default: int | None = None, required: bool | None = None
    ) -> int | None:
        value = self.number(key, low, default, integer=True, required=required)
        return None if value is None else int(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.checker.error(self.path, key, f"{key!r} must be a list of strings")
            return ()
        return tuple(item.strip() for item in value if item.strip())

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.checker.error(self.path, key, f"{key!r} must be true or false")
            return default
        return value

    def time(self, key: str, required: bool) -> float | None:
        value = self.table.get(key)
        if value is None:
            if required:
                self.checker.error(self.path, None, f"missing {key!r}")
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            self.checker.error(
                self.path,
                key,
                f"{key!r} must be a date-time with a UTC offset, e.g. 2026-12-01T20:00:00+08:00",
            )
            return None
        return value.timestamp()

    def utc_offset_s(self, key: str) -> int:
        """The UTC offset of the date-time at ``key`` in seconds, 0 when absent or bad."""
        value = self.table.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime) and value.utcoffset() is not None:
            offset = value.utcoffset()
            assert offset is not None
            return int(offset.total_seconds())
        return 0

    def choice(self, key: str, kind: type[enum.StrEnum], default: Any = None) -> Any:
        value = self.table.get(key, default)
        if value is None:
            self.checker.error(self.path, None, f"missing {key!r}")
            return None
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(item.value for item in kind)
            self.checker.error(self.path, key, f"{key!r} must be one of {names}, got {value!r}")
            return None

    def tables(self, key: str) -> list[dict[str, Any]]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.checker.error(self.path, key, f"{key!r} must be an array of tables ([[{key}]])")
            return []
        return value

    def table_at(self, key: str) -> dict[str, Any] | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, dict):
            self.checker.error(self.path, key, f"{key!r} must be a table")
            return None
        return value


class Checker:
    """Collects issues for one file."""

    def __init__(self, file: str, source: str, lexicon: Lexicon) -> None:
        self.file = file
        self.locator = Locator(source)
        self.lexicon = lexicon
        self.issues: list[Issue] = []

    def error(self, path: Path_, key: str | None, message: str, line: int | None = None) -> None:
        self._add(Severity.ERROR, path, key, message, line)

    def warn(self, path: Path_, key: str | None, message: str, line: int | None = None) -> None:
        self._add(Severity.WARNING, path, key, message, line)

    def _add(
        self, severity: Severity, path: Path_, key: str | None, message: str, line: int | None
    ) -> None:
        line = line if line is not None else self.locator.line_of(path, key)
        self.issues.append(Issue(self.file, line, severity, message))

    def spoken(self, path: Path_, key: str, lines: tuple[str, ...]) -> None:
        """Check lines the host will say: templates, extreme words and medical claims."""
        for text in lines:
            line = self.locator.line_of_text(path, key, text[:20])
            try:
                check_template(text)
            except TemplateError as problem:
                self.error(path, key, problem.message, line)
            for hit in self.lexicon.find(text):
                kind = (
                    "extreme or banned word (极限词/违禁词)"
                    if hit.category is Category.EXTREME
                    else "medical claim (医疗用语)"
                )
                self.error(path, key, f"{kind} {hit.word!r} in {text!r}", line)

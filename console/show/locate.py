"""Line numbers for places in a TOML show script.

``tomllib`` gives values but not positions. The locator scans the source once
for table headers and ``key =`` lines, so every issue can name its line.
Pure.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Locator"]

_HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
_KEY: Final = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

Path = tuple[str | int, ...]


class Locator:
    """Maps table paths like ``("segments", 2, "sale")`` and their keys to 1-based lines."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self._tables: dict[Path, tuple[int, int]] = {(): (1, len(self.lines))}
        self._keys: dict[tuple[Path, str], int] = {}
        self._scan()

    def _scan(self) -> None:
        counts: dict[str, int] = {}
        current: Path = ()
        starts: list[tuple[Path, int]] = [((), 1)]
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                current = self._path_of(header.group(1) == "[[", header.group(2), counts, current)
                starts.append((current, number))
                continue
            key = _KEY.match(line)
            if key:
                self._keys.setdefault((current, key.group(1)), number)
        for index, (path, start) in enumerate(starts):
            end = starts[index + 1][1] - 1 if index + 1 < len(starts) else len(self.lines)
            self._tables[path] = (start, end)

    @staticmethod
    def _path_of(is_array: bool, dotted: str, counts: dict[str, int], current: Path) -> Path:
        names = [name.strip('"') for name in dotted.split(".")]
        path: list[str | int] = []
        for depth, name in enumerate(names):
            prefix = ".".join(names[: depth + 1])
            path.append(name)
            is_last = depth == len(names) - 1
            if is_last and is_array:
                parent = tuple(path[:-1])
                key = f"{parent}|{prefix}"
                counts[key] = counts.get(key, -1) + 1
                path.append(counts[key])
            elif not is_last:
                parent_key = f"{tuple(path[:-1])}|{prefix}"
                if parent_key in counts:
                    path.append(counts[parent_key])
        return tuple(path)

    def line_of(self, path: Path, key: str | None = None) -> int:
        """The line of ``key`` in the table at ``path``, else the table's header line."""
        if key is not None and (path, key) in self._keys:
            return self._keys[(path, key)]
        if path in self._tables:
            return self._tables[path][0]
        if path and isinstance(path[-1], str):  # an inline table: the line of its key
            return self.line_of(path[:-1], path[-1])
        return 1

    def line_of_text(self, path: Path, key: str, text: str) -> int:
        """The first line within the table at ``path`` (from ``key`` on) that contains ``text``."""
        start, end = self._tables.get(path, (1, len(self.lines)))
        start = max(start, self.line_of(path, key))
        for number in range(start, end + 1):
            if text in self.lines[number - 1]:
                return number
        return self.line_of(path, key)

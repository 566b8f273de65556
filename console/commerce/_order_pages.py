"""Pages of a Redis order stream, read one after another at O(page) each.

An export, a report or the lottery's buyer list page through a sale's order log
with ``(after, limit)``. Read naively, each page re-reads the ``after`` entries
before it: O(log²) for the whole log. :class:`OrderPages` keeps where each page
ended (the entry's id and its position) and reads the next page on from that id.

The answer is always the ``[after:after + limit]`` slice of the stream as it is
when read. A page end is used only if its entry is still in the stream and no
entry was deleted since (Redis's ``entries-added`` minus the length, which every
``XDEL`` and trim raises): a stream trimmed, emptied, restored anew or cut short
by a restart is read from the start again, never continued from a stale id. Not
covered: a stream rewritten by hand with reused ids and the same deletion count
(``XSETID``). Before Redis 7.0 (no ``entries-added``) no page end is trusted and
every page is read from the start.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis

__all__ = ["READ_CURSORS", "OrderPages"]

READ_CURSORS: Final = 256
"""Page ends kept (by sale and position) for readers to go on from; policy when full:
drop the least recently used (its reader's next page is read from the start)."""

Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class _Cursor:
    """Where a page of an order stream ended: the entry ``last_id`` is its
    ``position``-th (1-based; ``""`` at 0), taken when ``deleted`` entries had ever been
    deleted from the stream (``None``: Redis does not say, the cursor is never trusted)."""

    last_id: str
    position: int
    deleted: int | None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One ``MULTI`` look at an order stream: deletions so far and the entries of one range."""

    deleted: int | None
    entries: list[Entry]

    @property
    def first_id(self) -> str:
        return self.entries[0][0] if self.entries else ""


@dataclass(frozen=True, slots=True)
class _Page:
    """Entries to answer with and the cursor at the last entry read (it may be past them:
    none were answered, or fewer than read)."""

    entries: list[Entry]
    end: _Cursor


class OrderPages:
    """See the module docstring. One per store (its client)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._cursors: OrderedDict[tuple[str, int], _Cursor] = OrderedDict()

    async def read(self, key: str, sale_id: str, after: int, limit: int) -> list[Entry]:
        """Up to ``limit`` entries of the stream ``key`` (sale ``sale_id``) after the first
        ``after``: on from a page end at ``after`` if one holds, else from the start."""
        if limit <= 0:
            return []
        skip = max(0, after)
        known = self._cursors.pop((sale_id, skip), None)
        page = await self._continue(key, known, limit) if known else None
        if page is None:
            found = await self._snapshot(key, "-", skip + limit)
            page = _page(found.entries, _Cursor("", 0, found.deleted), skip)
        end = page.end
        if end.last_id and end.deleted is not None and end.position == skip + len(page.entries):
            self._remember(sale_id, end)
        return page.entries

    def _remember(self, sale_id: str, end: _Cursor) -> None:
        self._cursors[(sale_id, end.position)] = end
        self._cursors.move_to_end((sale_id, end.position))
        while len(self._cursors) > READ_CURSORS:
            self._cursors.popitem(last=False)

    async def _continue(self, key: str, cursor: _Cursor, count: int) -> _Page | None:
        """``count`` entries past ``cursor``; ``None`` if the cursor no longer holds (its
        entry is gone, or entries were deleted since it was taken). The read starts at the
        cursor's entry itself: the first entry read proves it is still there."""
        found = await self._snapshot(key, cursor.last_id, 1 + count)
        if found.first_id != cursor.last_id or found.deleted != cursor.deleted:
            return None
        return _page(found.entries[1:], cursor, 0)

    async def _snapshot(self, key: str, start: str, count: int) -> _Snapshot:
        """The stream's deletion count and ``count`` entries from ``start`` (inclusive), as
        of one moment (a ``MULTI``)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xlen(key)
            pipe.xinfo_stream(key)  # an error if there is no stream; its XLEN is then 0
            pipe.xrange(key, start, "+", count=count)
            length, info, found = await pipe.execute(raise_on_error=False)
        if not length:
            return _Snapshot(None, [])
        for reply in (info, found):
            if isinstance(reply, Exception):
                raise reply
        added = info.get("entries-added")
        return _Snapshot(None if added is None else int(added) - int(length), [*found])


def _page(entries: list[Entry], before: _Cursor, skip: int) -> _Page:
    """The entries read just past ``before``, less the first ``skip``, and where they end."""
    if not entries:
        return _Page([], before)
    return _Page(
        entries[skip:], _Cursor(entries[-1][0], before.position + len(entries), before.deleted)
    )

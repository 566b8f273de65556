"""Viewers' "remind me" for a room's next show (预热): validation, CSV and ICS exports,
and the ``reminder.due`` webhook.

:func:`parse_reminder`, :func:`reminders_csv` and :func:`reminders_ics` are pure.
:class:`ReminderDispatcher` runs beside the order webhook: once a room's show
is due within ``lead_s`` (and has not started more than ``lead_s`` ago), it
POSTs one ``reminder.due`` event listing the room's reminders, signed exactly
like orders (``X-Livecon-Signature``), with ``X-Livecon-Delivery:
reminder-<room>-<starts_at>``. The delivery is remembered only after a 2xx
answer, so it is sent at least once; a failure is retried on the next pass
(every ``interval_s``). Only the holder of the order webhook's lease sends, so
with several nodes one sends. Reminders added after the delivery are not sent
again; the CSV export has them.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import re
import secrets
from typing import Any, Final

from .commerce.webhook import LEASE_S, WebhookSender
from .preshow_store import PreshowStore, Reminder
from .show import Show, load_show
from .show.store import ShowStore

__all__ = [
    "REMINDER_COLUMNS",
    "ReminderDispatcher",
    "ReminderError",
    "parse_reminder",
    "reminders_csv",
    "reminders_ics",
]

log = logging.getLogger("livecon.reminders")

REMINDER_COLUMNS: Final = ("room", "viewer", "name", "contact", "created_at")
MAX_NAME: Final = 64
MAX_CONTACT: Final = 128
_VIEWER: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ReminderError(ValueError):
    """A reminder request that cannot be stored; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _clean(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReminderError(field, f"{field} must be a string")
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    if len(text) > limit:
        raise ReminderError(field, f"{field} is longer than {limit} characters")
    return text


def parse_reminder(body: Any, room: str, now: float) -> Reminder:
    """A :class:`Reminder` from a request body ``{"viewer"?, "name"?, "contact"?,
    "consent"?}``; a contact needs ``consent: true``; no viewer id draws a random one."""
    if not isinstance(body, dict):
        raise ReminderError("body", "body must be a JSON object")
    unknown = sorted(set(body) - {"viewer", "name", "contact", "consent"})
    if unknown:
        raise ReminderError(unknown[0], f"unexpected field {unknown[0]!r}")
    viewer = _clean(body.get("viewer"), "viewer", 64) or f"v-{secrets.token_hex(8)}"
    if not _VIEWER.match(viewer):
        raise ReminderError("viewer", "viewer must be 1-64 letters, digits, '.', '_' or '-'")
    contact = _clean(body.get("contact"), "contact", MAX_CONTACT)
    consent = body.get("consent", False)
    if not isinstance(consent, bool):
        raise ReminderError("consent", "consent must be true or false")
    if contact and not consent:
        raise ReminderError("consent", "a contact is kept only with consent: true")
    return Reminder(room, viewer, _clean(body.get("name"), "name", MAX_NAME), contact, now)


def reminders_csv(reminders: list[Reminder]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REMINDER_COLUMNS)
    for reminder in reminders:
        created = dt.datetime.fromtimestamp(reminder.created_at, dt.UTC).isoformat()
        writer.writerow([reminder.room, reminder.viewer, reminder.name, reminder.contact, created])
    return buffer.getvalue()


def _ics_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """RFC 5545 line folding: at most 75 octets a line, continuations start with a space."""
    out: list[str] = []
    current = ""
    for ch in line:
        limit = 75 if not out else 74
        if len((current + ch).encode()) > limit:
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return [out[0], *(" " + part for part in out[1:])]


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def reminders_ics(
    show: Show, room: str, reminders: list[Reminder], lead_s: float, now: float
) -> str:
    """An iCalendar file: one event for the show per reminder, each with an alarm
    ``lead_s`` before the start. Lines end in CRLF."""
    end = show.starts_at + show.planned_duration_s
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//livecon//reminders//EN"]
    for reminder in reminders:
        who = ", ".join(part for part in (reminder.name, reminder.contact) if part)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{room}-{reminder.viewer}-{int(show.starts_at)}@livecon",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(show.starts_at)}",
            f"DTEND:{_stamp(end)}",
            f"SUMMARY:{_ics_text(show.title)}",
            f"DESCRIPTION:{_ics_text(f'{show.host} · {who}' if who else show.host)}",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{_ics_text(show.title)}",
            f"TRIGGER:-PT{max(0, int(lead_s // 60))}M",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(folded + "\r\n" for line in lines for folded in _fold(line))


class ReminderDispatcher:
    """Sends ``reminder.due`` through ``sender``; see the module docstring."""

    def __init__(
        self,
        sender: WebhookSender,
        store: PreshowStore,
        shows: ShowStore,
        lead_s: float,
        interval_s: float = 1.0,
    ) -> None:
        self.sender = sender
        self.store = store
        self.shows = shows
        self.lead_s = lead_s
        self.interval_s = interval_s
        self.delivered = 0

    async def run(self, clock: Any) -> None:
        """Check every ``interval_s`` forever; cancel to stop. ``clock()`` gives seconds."""
        backoff = self.interval_s
        while True:
            try:
                await self.deliver_due(float(clock()))
                backoff = self.interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reminder delivery failed (%s); retrying in %.1fs", exc, backoff)
                backoff = min(backoff * 2, self.sender.max_backoff_s)
            await asyncio.sleep(backoff)

    async def deliver_due(self, now: float) -> int:
        """Send every due, unsent room once (if this node holds the lease); return how many."""
        if not await self.sender.cursors.hold_lease(self.sender.holder, LEASE_S):
            return 0
        sent = 0
        for room in await self.store.reminder_rooms():
            stored = await self.shows.load(room)
            if stored is None:
                continue
            show, _ = load_show(stored.script, stored.file)
            if (
                show is None
                or not show.starts_at - self.lead_s <= now <= show.starts_at + self.lead_s
            ):
                continue
            delivery = f"reminder-{room}-{int(show.starts_at)}"
            if await self.store.was_sent(delivery):
                continue
            reminders = await self.store.reminders(room)
            await self.sender.post_event("reminder.due", delivery, _payload(room, show, reminders))
            await self.store.mark_sent(delivery)
            sent += 1
        self.delivered += sent
        return sent


def _payload(room: str, show: Show, reminders: list[Reminder]) -> dict[str, Any]:
    return {
        "event": "reminder.due",
        "room": room,
        "show": {
            "title": show.title,
            "host": show.host,
            "starts_at_ms": int(show.starts_at * 1000),
        },
        "reminders": [
            {"viewer": r.viewer, "name": r.name, "contact": r.contact} for r in reminders
        ],
    }

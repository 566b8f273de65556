"""The pre-show checklist (设备与场景准备) of a room: ticks, the "checklist" state, the
start gate.

Ticks live in the :class:`~console.preshow_store.PreshowStore`, so every node
sees the same ones: a node writes a tick, audits it and publishes at once; the
other nodes read the store every tick and publish what changed. A ``start``
while items are unticked is refused with :class:`NeedsConfirmation` naming
them and the script's compliance result; the same ``start`` sent with
``confirm`` goes ahead and the override is audited.

:func:`checklist_view`, :func:`unticked` and :func:`gate_reason` are pure.
"""

from __future__ import annotations

import hashlib
from typing import Any

from realtime import Audience, RoomContext

from .audit import AuditEntry, AuditLog
from .commerce.sale import NeedsConfirmation, SaleRejected
from .preshow_store import PreshowStore, Tick
from .show import Issue, Severity, Show, load_show
from .show.store import ShowStore

__all__ = ["ChecklistDesk", "checklist_view", "gate_reason", "unticked"]


def unticked(show: Show, ticks: dict[str, Tick]) -> list[str]:
    """Labels of the script's checklist items not ticked now, in script order."""
    return [item.label for item in show.checklist if not (item.id in ticks and ticks[item.id].done)]


def compliance(issues: list[Issue]) -> dict[str, Any]:
    """The script's check result: counts and each issue as ``line: severity: message``."""
    errors = sum(1 for issue in issues if issue.severity is Severity.ERROR)
    return {
        "errors": errors,
        "warnings": len(issues) - errors,
        "passed": errors == 0,
        "issues": [
            f"{issue.line}: {issue.severity.value}: {issue.message}" for issue in issues[:20]
        ],
    }


def gate_reason(open_items: list[str], result: dict[str, Any]) -> str:
    """The refusal text of a ``start`` with unticked items (zh / en)."""
    listed = "、".join(open_items)
    verdict = (
        f"合规检查通过 / compliance passed ({result['warnings']} warnings)"
        if result["passed"]
        else f"合规检查未通过 / compliance failed ({result['errors']} errors)"
    )
    details = "; ".join(result["issues"][:5])
    return (
        f"准备清单未完成 / checklist not done: {listed}. {verdict}"
        + (f": {details}" if details else "")
        + '. Send start again with "confirm": true to start anyway.'
    )


def checklist_view(show: Show, ticks: dict[str, Tick], result: dict[str, Any]) -> dict[str, Any]:
    """The controllers' "checklist" state: items with their ticks, and the compliance result."""
    items = []
    for item in show.checklist:
        tick = ticks.get(item.id)
        items.append(
            {
                "id": item.id,
                "label": item.label,
                "done": bool(tick and tick.done),
                "by": tick.by if tick else "",
                "at_ms": int(tick.at * 1000) if tick else 0,
            }
        )
    return {
        "items": items,
        "done": sum(1 for item in items if item["done"]),
        "total": len(items),
        "compliance": result,
    }


class ChecklistDesk:
    """One room's checklist on one node; see the module docstring."""

    def __init__(
        self, room: RoomContext, store: PreshowStore, shows: ShowStore, audit: AuditLog
    ) -> None:
        self.room = room
        self.store = store
        self.shows = shows
        self.audit = audit
        self._digest = ""
        self._show: Show | None = None
        self._issues: list[Issue] = []
        self._published: dict[str, Any] | None = None

    async def _load(self) -> Show | None:
        stored = await self.shows.load(self.room.name)
        if stored is None:
            self._show, self._digest = None, ""
            return None
        digest = hashlib.sha256(stored.script.encode()).hexdigest()
        if digest != self._digest:
            self._show, self._issues = load_show(stored.script, stored.file)
            self._digest = digest
        return self._show

    async def tick(self, item: str, done: bool, actor: str, role: str, now: float) -> Tick:
        """Tick or untick ``item``; audited as ``checklist.tick`` / ``checklist.untick``."""
        show = await self._load()
        if show is None:
            raise SaleRejected("no show script is loaded in this room")
        labels = {entry.id: entry.label for entry in show.checklist}
        if item not in labels:
            raise SaleRejected(f"no checklist item {item!r} in this show")
        before = (await self.store.ticks(self.room.name)).get(item)
        tick = Tick(item, done, actor, now)
        await self.store.set_tick(self.room.name, tick)
        await self.audit.append(
            AuditEntry(
                now,
                self.room.name,
                actor,
                role,
                "checklist.tick" if done else "checklist.untick",
                {"item": item, "done": bool(before and before.done)},
                {"item": item, "done": done},
                labels[item],
            )
        )
        await self.publish()
        return tick

    async def gate(self, confirm: bool, actor: str, role: str, now: float) -> list[str]:
        """Before ``start``: the unticked labels; raise :class:`NeedsConfirmation` when there
        are some and ``confirm`` is false (the refusal is audited)."""
        show = await self._load()
        if show is None:
            return []
        open_items = unticked(show, await self.store.ticks(self.room.name))
        if open_items and not confirm:
            reason = gate_reason(open_items, compliance(self._issues))
            await self._record(now, actor, role, "script.start.confirm_required", open_items)
            raise NeedsConfirmation(reason)
        return open_items

    async def record_override(
        self, open_items: list[str], actor: str, role: str, now: float
    ) -> None:
        """Audit a confirmed ``start`` that went ahead with items unticked (an alert)."""
        await self._record(now, actor, role, "script.start.override", open_items, alert=True)

    async def _record(
        self,
        now: float,
        actor: str,
        role: str,
        action: str,
        open_items: list[str],
        alert: bool = False,
    ) -> None:
        result = compliance(self._issues)
        detail = f"unticked: {'、'.join(open_items)}; compliance errors {result['errors']}"
        entry = AuditEntry(
            now, self.room.name, actor, role, action, None, {"unticked": open_items}, detail, alert
        )
        await self.audit.append(entry)
        if alert:
            self.room.emit_event(
                Audience.CONTROL,
                {"type": "alert", "key": "checklist_override", "text": detail, "by": actor},
            )

    async def publish(self) -> None:
        """Set the controllers' "checklist" state when it changed (called every tick)."""
        show = await self._load()
        if show is None or not show.checklist:
            return
        ticks = await self.store.ticks(self.room.name)
        view = checklist_view(show, ticks, compliance(self._issues))
        if view != self._published:
            self._published = view
            self.room.set_state(Audience.CONTROL, "checklist", view)

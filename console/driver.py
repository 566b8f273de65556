"""A room's show on one node: commands, triggers and screen views around the pure engine.

Thin shell: read the stored state, call :mod:`console.show.engine` or
:mod:`console.show.triggers` with ``now``, write the new state by
compare-and-set, then emit the effects into the room and record them in the
audit log. Any node may run it; the compare-and-set makes sure each command
and each trigger is applied once.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import deque
from typing import Any, Final

from realtime import Audience, RoomContext

from .audit import AuditEntry, AuditLog
from .commerce import SaleRejected, SalesDesk
from .metrics import derive
from .show import Issue, SegmentKind, Severity, Show, load_show
from .show.engine import (
    Command,
    Cue,
    Effect,
    Rejected,
    SegmentEntered,
    ShowEnded,
    ShowState,
    StartSale,
    Transition,
    apply,
)
from .show.store import ShowStore
from .show.triggers import Signals, tick
from .show.views import prompter_view, show_view, timeline_view

__all__ = ["ShowDriver", "load_script"]

log = logging.getLogger("livecon.show")

CAS_ATTEMPTS: Final = 3
ONLINE_WINDOW_S: Final = 600.0


def _summary(state: ShowState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"phase": state.phase.value, "index": state.index, "version": state.version}


async def load_script(
    store: ShowStore, audit: AuditLog, room: str, source: str, file: str, actor: str, now: float
) -> tuple[bool, list[Issue]]:
    """Check ``source`` and make it the room's script unless a show is running there."""
    show, issues = load_show(source, file)
    if show is None:
        return False, issues
    current = await store.load(room)
    if current is not None and current.state.is_running:
        message = "a show is running in this room; end it before loading another script"
        return False, [*issues, Issue(file, 1, Severity.ERROR, message)]
    version = current.state.version + 1 if current else 0
    state = ShowState(version=version)
    stored = await store.replace_script(
        room, file, source, state, current.state.version if current else None
    )
    if not stored:
        return False, [*issues, Issue(file, 1, Severity.ERROR, "the room changed; try again")]
    await audit.append(
        AuditEntry(
            now,
            room,
            actor,
            "admin",
            "script.load",
            _summary(current.state if current else None),
            _summary(state),
            detail=f"{file} ({len(show.segments)} segments)",
        )
    )
    return True, issues


class ShowDriver:
    """Runs one room's show on this node; see the module docstring."""

    def __init__(
        self, room: RoomContext, store: ShowStore, audit: AuditLog, node: str, desk: SalesDesk
    ) -> None:
        self.room = room
        self.store = store
        self.audit = audit
        self.node = node
        self.desk = desk
        self.show: Show | None = None
        self.state: ShowState | None = None
        self._digest = ""
        self._ids = itertools.count(1)
        self._published: dict[str, Any] = {}
        self._pending_sales: list[StartSale] = []
        self._top_commenters: list[str] = []
        self._comments_per_min = 0.0
        self._online: deque[tuple[float, int]] = deque(maxlen=1000)

    # what the room saw -------------------------------------------------------

    def update_audience(self, top_commenters: list[str], comments_per_min: float) -> None:
        """Room-wide figures read from the shared metrics once a tick."""
        self._top_commenters = top_commenters
        self._comments_per_min = comments_per_min

    def signals(self, now: float) -> Signals:
        self._online.append((now, self.room.online))
        while self._online and self._online[0][0] < now - ONLINE_WINDOW_S:
            self._online.popleft()
        show = self.show
        window = show.rules.dead_room_window_s if show else 120.0
        recent = [online for at, online in self._online if at >= now - window]
        return Signals(
            stock=self.desk.stock_by_product(),
            sold_out=self.desk.sold_out_products(),
            online=self.room.online,
            recent_peak_online=max(recent, default=0),
            comments_per_min=self._comments_per_min,
            values=self.live(now),
        )

    def live(self, now: float) -> dict[str, Any]:
        show = self.show
        names = {pid: product.name for pid, product in show.products.items()} if show else {}
        product = self.current_product()
        sale = self.desk.open_sale_for(product) if product else None
        return {
            "online": self.room.online,
            "peak_online": self.room.peak,
            "top_commenters": list(self._top_commenters),
            "stock": self.desk.stock_by_product(),
            "sold": self.desk.sold_by_product(),
            "benefits": self.desk.benefits(names),
            "sale_time_left": max(0.0, sale["ends_at_ms"] / 1000 - now) if sale else None,
        }

    def segment_index(self) -> int | None:
        state = self.state
        return state.index if state is not None and state.is_running else None

    def current_product(self) -> str | None:
        index = self.segment_index()
        if self.show is None or index is None:
            return None
        return self.show.segments[index].product

    def open_prompt(self, now: float) -> str | None:
        """The keyword of the interaction prompt on air, while its window is open."""
        index = self.segment_index()
        if self.show is None or self.state is None or index is None:
            return None
        segment = self.show.segments[index]
        if segment.kind is not SegmentKind.INTERACTION or not segment.keyword:
            return None
        if now - self.state.segment_started_at > segment.window_s:
            return None
        return segment.keyword

    def publish_prompt(self, now: float, counters: dict[str, int]) -> None:
        """The live count of comments answering the interaction prompt on air."""
        index = self.segment_index()
        if self.show is None or self.state is None or index is None:
            return
        segment = self.show.segments[index]
        if segment.kind is not SegmentKind.INTERACTION:
            return
        view = {
            "segment": index,
            "keyword": segment.keyword,
            "prompt": segment.prompt,
            "count": counters.get(f"seg:{index}:prompt", 0),
            "ends_at_ms": int((self.state.segment_started_at + segment.window_s) * 1000),
            "version": self.state.version,
        }
        if self._published.get("prompt") != view:
            self._published["prompt"] = view
            self.room.set_state(Audience.ALL, "prompt", view)

    def publish_metrics(
        self, now: float, counters: dict[str, int], uniques: dict[str, int]
    ) -> None:
        """Derive the room's live figures from the shared counts and publish what changed."""
        targets = None
        if self.show is not None:
            goal = self.show.targets
            targets = {"gmv": goal.gmv, "orders": goal.orders, "peak_online": goal.peak_online}
        figures = derive(counters, uniques, self.room.online, self.room.peak, now, targets)
        if self._published.get("metrics") != figures:
            self._published["metrics"] = figures
            self.room.set_state(Audience.CONTROL, "metrics", figures)

    # state -------------------------------------------------------------------

    async def refresh(self) -> None:
        stored = await self.store.load(self.room.name)
        if stored is None:
            self.show, self.state = None, None
            return
        digest = hashlib.sha256(stored.script.encode()).hexdigest()
        if digest != self._digest:
            show, issues = load_show(stored.script, stored.file)
            if show is None:
                log.error("stored script of %s no longer loads: %s", self.room.name, issues[:1])
            self.show, self._digest = show, digest
        self.state = stored.state

    async def command(self, command: Command, actor: str, role: str, now: float) -> ShowState:
        """Apply a controller's or host's command; raise :class:`Rejected` with the reason."""
        for _ in range(CAS_ATTEMPTS):
            await self.refresh()
            if self.show is None or self.state is None:
                raise Rejected("no show script is loaded in this room")
            before = self.state
            try:
                transition = apply(self.show, before, command, now)
            except Rejected as exc:
                await self._record(
                    now,
                    actor,
                    role,
                    f"script.{command.kind.value}.rejected",
                    before,
                    before,
                    exc.reason,
                )
                raise
            if await self._commit(
                before, transition, now, actor, role, f"script.{command.kind.value}"
            ):
                return transition.state
        reason = "the show changed at the same moment elsewhere; try again"
        assert self.state is not None
        await self._record(
            now,
            actor,
            role,
            f"script.{command.kind.value}.rejected",
            self.state,
            self.state,
            reason,
        )
        raise Rejected(reason)

    async def on_tick(self, now: float) -> None:
        await self.refresh()
        if self.show is None or self.state is None:
            return
        before = self.state
        transition = tick(self.show, before, self.signals(now), now)
        if transition.state is not before:
            await self._commit(before, transition, now, "engine", "system", "script.trigger")
        self.publish(now)

    async def _commit(
        self,
        before: ShowState,
        transition: Transition,
        now: float,
        actor: str,
        role: str,
        action: str,
    ) -> bool:
        if not await self.store.compare_and_set(self.room.name, before.version, transition.state):
            return False
        self.state = transition.state
        for effect in transition.effects:
            self._emit(effect, now)
        await self._start_due_sales(now, actor, role)
        self.publish(now)
        await self.room.flush()
        detail = ", ".join(type(effect).__name__ for effect in transition.effects)
        await self._record(now, actor, role, action, before, transition.state, detail)
        self.publish(now)
        return True

    async def _record(
        self,
        now: float,
        actor: str,
        role: str,
        action: str,
        before: ShowState,
        after: ShowState,
        detail: str,
    ) -> None:
        entry = AuditEntry(
            now, self.room.name, actor, role, action, _summary(before), _summary(after), detail
        )
        await self.audit.append(entry)

    async def _start_due_sales(self, now: float, actor: str, role: str) -> None:
        """Start the flash sales the script asks for as their segments come on air."""
        due, self._pending_sales = self._pending_sales, []
        for effect in due:
            if self.desk.active_sale_for(effect.product) is not None:
                continue  # back on a segment whose sale still runs: keep that sale
            try:
                await self.desk.start(
                    self.show, effect.product, effect.segment, None, actor, role, now
                )
            except SaleRejected as exc:
                self.room.emit_event(
                    Audience.CONTROL,
                    {
                        "type": "alert",
                        "key": "sale_not_started",
                        "product": effect.product,
                        "text": f"自动开售失败 / sale did not start: {exc.reason}",
                    },
                )

    # output ------------------------------------------------------------------

    def _emit(self, effect: Effect, now: float) -> None:
        """Put one effect into the room; ``version`` lets screens order events from nodes."""
        show, state = self.show, self.state
        assert show is not None
        assert state is not None
        version = state.version
        if isinstance(effect, SegmentEntered):
            segment = show.segments[effect.index]
            self.room.emit_event(
                Audience.ALL,
                {
                    "type": "segment",
                    "version": version,
                    "index": effect.index,
                    "kind": segment.kind.value,
                    "title": segment.title,
                    "product": segment.product,
                    "skipped_previous": effect.skipped_previous,
                },
            )
        elif isinstance(effect, Cue):
            mask = (Audience.HOST if effect.to_host else 0) | (
                Audience.CONTROL if effect.to_control else 0
            )
            self.room.emit_event(
                mask,
                {
                    "type": "cue",
                    "version": version,
                    "cue": f"auto-{self.node}-{next(self._ids)}",
                    "key": effect.key,
                    "text": effect.text,
                    "level": effect.level,
                    "from": "livecon",
                    "auto": True,
                },
            )
        elif isinstance(effect, StartSale):
            self._pending_sales.append(effect)
        elif isinstance(effect, ShowEnded):
            self.room.emit_event(
                Audience.ALL,
                {"type": "show_ended", "version": version, "at_ms": int(effect.at * 1000)},
            )

    def publish(self, now: float) -> None:
        """Set the room's show state keys, only those that changed."""
        if self.show is None or self.state is None:
            return
        live = self.live(now)
        views = {
            "show": (Audience.ALL, show_view(self.show, self.state, now, live["stock"])),
            "prompter": (Audience.STAFF, prompter_view(self.show, self.state, now, live)),
            "timeline": (Audience.CONTROL, timeline_view(self.show, self.state, now)),
        }
        for key, (mask, view) in views.items():
            if self._published.get(key) != view:
                self._published[key] = view
                self.room.set_state(mask, key, view)

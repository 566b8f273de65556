"""The hub: rooms, the per-room tick, fan-out, presence, revocation, shutdown.

Flow of one tick (every ``tick_s``): each room's outbox becomes one batch,
published on the broker (which numbers its events); every node serving the
room receives the delivery, builds one frame per audience, encodes it at most
once per codec and variant, and offers the same message object to every local
socket of that audience. The socket side lives in :mod:`realtime.endpoint`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Final

from .batching import Batch, Delivery, Outbox, build_merged_frame
from .brokers import Broker
from .connection import Connection, socket_ref
from .errors import BrokerError
from .outbound import BacklogLimits, SharedFrame
from .permissions import Audience, Role
from .protocol import CLOSE_GOING_AWAY, CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_REVOKED, FRAME_DIRECT
from .rooms import HandlerFactory, LocalRoom
from .tokens import TokenSigner

__all__ = ["Hub", "HubSettings"]

log = logging.getLogger("livecon.hub")

RECOVER_WAIT_STEP_S: Final = 0.05
RECOVER_WAIT_STEPS: Final = 100
"""A reader come back waits at most 5 s for a gap already being filled before it takes
the room's snapshot (counted in ``recover_failures`` if it gives up)."""


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Tunables; every limit here is documented in ``docs/protocol.md``."""

    node: str = field(default_factory=lambda: "node-" + secrets.token_hex(3))
    tick_s: float = 0.1
    presence_interval_s: float = 1.0
    room_linger_s: float = 30.0
    max_frame_bytes: int = 16 * 1024
    viewer_chat_cap: int = 50
    replay_limit: int = 1000
    max_connections_per_address: int = 200
    rate_per_s: dict[Role, float] = field(
        default_factory=lambda: {
            Role.VIEWER: 5.0,
            Role.HOST: 10.0,
            Role.SUPPORT: 20.0,
            Role.CONTROLLER: 30.0,
            Role.ADMIN: 30.0,
        }
    )
    burst: float = 20.0
    max_errors_per_minute: int = 60
    freeze_gc: bool = True
    """Move long-lived objects (sockets, rooms) out of the cyclic collector's reach as the
    node grows, so full collections do not stall fan-out (hundreds of ms at 10k sockets)."""
    backlog: BacklogLimits = field(default_factory=BacklogLimits)


def _without_stale_state(room: LocalRoom, delivery: Delivery) -> Delivery:
    """Drop state values older than one already applied: a value that is a dict with an
    integer ``version`` replaces the key's value only if its version is not lower.

    Nodes publish in no particular order, but every node sees deliveries in one
    total order, so every node drops the same values and screens never go back.
    Also keeps the room's peak in step with the peak other nodes publish.
    """
    kept = []
    for item in delivery.batch.state:
        _, key, value = item
        if isinstance(value, dict):
            version = value.get("version")
            if isinstance(version, int):
                if version < room.versions.get(key, -1):
                    continue
                room.versions[key] = version
            if key == "presence":
                room.peak = max(room.peak, int(value.get("peak", 0)))
        kept.append(item)
    if len(kept) == len(delivery.batch.state):
        return delivery
    return replace(delivery, batch=replace(delivery.batch, state=kept))


def _peak_in(state: list[tuple[int, str, Any]]) -> int:
    """The room's peak as last published by any node, so a reopened room keeps it."""
    for _, key, value in state:
        if key == "presence" and isinstance(value, dict):
            return int(value.get("peak", 0))
    return 0


class Hub:
    """Serves every socket of this node; see the module docstring for the flow."""

    def __init__(
        self,
        broker: Broker,
        signer: TokenSigner,
        handlers: HandlerFactory,
        settings: HubSettings | None = None,
    ) -> None:
        self.broker = broker
        self.signer = signer
        self.handlers = handlers
        self.settings = settings or HubSettings()
        self.rooms: dict[str, LocalRoom] = {}
        self.by_token: dict[str, set[Connection]] = {}
        self.by_address: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.accepting = False
        self._frozen_at_sockets = 0
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._recovering: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.connect(self)
        self._tasks = [
            asyncio.create_task(self._supervise("tick", self._tick_once, self.settings.tick_s)),
            asyncio.create_task(
                self._supervise("presence", self._housekeep, self.settings.presence_interval_s)
            ),
        ]
        self.accepting = True

    async def stop(self) -> None:
        """Stop accepting, publish what is pending, close every socket with 1001."""
        self.accepting = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(BrokerError):
            await self._tick_once()
        for room in self.rooms.values():
            for conn in room.connections():
                conn.close_soon(CLOSE_GOING_AWAY)
        await asyncio.sleep(0)
        await self.broker.disconnect()

    async def drain(self, timeout_s: float) -> None:
        """Stop accepting, publish what is pending, close every socket with 1001.

        Returns once every socket has been told, or after ``timeout_s``.
        """
        self.accepting = False
        with contextlib.suppress(BrokerError):
            await self._tick_once()
        for room in self.rooms.values():
            if room.frames_handle is not None:
                room.frames_handle.cancel()
            self._send_frames(room)
        connections = [conn for room in self.rooms.values() for conn in room.connections()]
        for conn in connections:
            conn.close_soon(CLOSE_GOING_AWAY)
        writers = [conn.writer for conn in connections if conn.writer is not None]
        if writers:
            await asyncio.wait(writers, timeout=timeout_s)

    async def _supervise(self, name: str, step: Any, interval_s: float) -> None:
        """Run ``step`` every ``interval_s``; log failures and back off, capped at 5 s."""
        backoff = interval_s
        while True:
            started = time.monotonic()
            try:
                await step()
                backoff = interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.counters[f"{name}_failures"] += 1
                if isinstance(exc, BrokerError):  # the bus is down: expected, one line
                    log.warning("%s failed (%s); retrying in %.2fs", name, exc, backoff)
                else:
                    log.exception("%s failed; retrying in %.2fs", name, backoff)
                backoff = min(backoff * 2, 5.0)
                await asyncio.sleep(backoff)
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    # rooms -------------------------------------------------------------------

    async def open_room(self, name: str) -> LocalRoom:
        """The room on this node, subscribing to it and creating its handler if needed.

        A room opened without sockets (e.g. for comments ingested over HTTP) lingers
        ``room_linger_s`` like any room that empties.
        """
        lock = self._room_locks.setdefault(name, asyncio.Lock())
        async with lock:
            room = self.rooms.get(name)
            if room is None:
                room = LocalRoom(name, Outbox(), self.publish_room)
                await self.broker.subscribe(name)
                snapshot = await self.broker.snapshot(name)
                room.epoch, room.high_water = snapshot.epoch, snapshot.high_water
                room.peak = _peak_in(snapshot.state)
                room.handler = self.handlers(room)
                room.empty_since = time.monotonic()
                self.rooms[name] = room
                try:  # the room's views exist before its first welcome's next tick
                    await room.handler.on_tick(time.time())
                except Exception:
                    self.counters["room_tick_failures"] += 1
                    log.exception("first tick of room %s failed", name)
            return room

    async def join(self, conn: Connection) -> LocalRoom:
        """Add a socket to its room, opening the room on this node if needed."""
        room = await self.open_room(conn.session.claims.room)
        room.add(conn)
        token = conn.session.claims.token_id
        self.by_token.setdefault(token, set()).add(conn)
        return room

    def leave(self, conn: Connection) -> None:
        if conn.closing_code is not None:  # e.g. ``closed_4009``: slow consumers
            self.counters[f"closed_{conn.closing_code}"] += 1
        room = self.rooms.get(conn.session.claims.room)
        if room is not None:
            room.remove(conn, time.monotonic())
        token = conn.session.claims.token_id
        group = self.by_token.get(token)
        if group is not None:
            group.discard(conn)
            if not group:
                del self.by_token[token]

    def reserve_address(self, address: str) -> bool:
        """Count one more socket from ``address`` unless it is at its limit (no await
        between check and count, so concurrent handshakes cannot overshoot)."""
        if self.by_address[address] >= self.settings.max_connections_per_address:
            return False
        self.by_address[address] += 1
        return True

    def release_address(self, address: str) -> None:
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]

    # broker listener ---------------------------------------------------------

    def on_delivery(self, delivery: Delivery) -> None:
        room = self.rooms.get(delivery.room)
        if room is None:
            return
        if room.held is not None:
            room.held.append(delivery)
            return
        if delivery.epoch != room.epoch or delivery.first_seq > room.high_water + 1:
            room.held = [delivery]
            asyncio.get_running_loop().create_task(self._catch_up(room))
            return
        self._fan_out(room, delivery)

    def on_revoked(self, token_id: str) -> None:
        for conn in list(self.by_token.get(token_id, ())):
            conn.close_soon(CLOSE_TOKEN_REVOKED)
        self.counters["revocations"] += 1

    def on_resubscribed(self) -> None:
        self.counters["bus_resubscribed"] += 1
        loop = asyncio.get_running_loop()
        for room in list(self.rooms.values()):
            task = loop.create_task(self._recover(room))
            self._recovering.add(task)
            task.add_done_callback(self._recovering.discard)

    async def _recover(self, room: LocalRoom) -> None:
        """What the room missed while this node's bus reader was away: the state from the
        room's snapshot (state is conflated and never replayed), then the events from
        history (as for any gap). Deliveries that arrive meanwhile are held and applied
        after the snapshot's state, so a newer value is never replaced by the snapshot's
        older one. A gap already being filled is let finish first (it holds deliveries
        of its own)."""
        for _ in range(RECOVER_WAIT_STEPS):
            if room.held is None:
                break
            await asyncio.sleep(RECOVER_WAIT_STEP_S)
        else:
            self.counters["recover_failures"] += 1
            return
        room.held = []
        try:
            snapshot = await self.broker.snapshot(room.name)
        except BrokerError:
            self.counters["recover_failures"] += 1
            self._apply_held(room)
            return
        if snapshot.epoch != room.epoch:
            await self._resync(room, snapshot.epoch)  # its snapshot frames carry the state
            self._apply_held(room)
            return
        if snapshot.state:
            state = Batch("bus", int(time.time() * 1000), state=list(snapshot.state))
            self._fan_out(room, Delivery(room.name, room.epoch, room.high_water, state))
        if snapshot.high_water > room.high_water:
            await self._fill_gap(room, snapshot.epoch)
        else:
            self._apply_held(room)

    def _fan_out(self, room: LocalRoom, delivery: Delivery) -> None:
        if delivery.high_water <= room.high_water and delivery.batch.events:
            return  # already applied while catching up
        room.high_water = max(room.high_water, delivery.high_water)
        delivery = _without_stale_state(room, delivery)
        self.counters["deliveries"] += 1
        if room.handler is not None:
            try:
                room.handler.observe(delivery)
            except Exception:
                self.counters["observe_failures"] += 1
                log.exception("room handler failed to observe a delivery in %s", room.name)
        for user, item, *skip in delivery.batch.direct:
            for conn in room.by_user.get(user, ()):
                if not skip or skip[0] != socket_ref(self.settings.node, conn.session):
                    conn.push({"t": FRAME_DIRECT, **item})
        room.pending.append(delivery)
        self._schedule_frames(room)

    def _schedule_frames(self, room: LocalRoom) -> None:
        """Send the room's pending deliveries now if the last frames went out a tick ago or
        more, else at that tick: at most one frame per audience per tick, however many
        nodes publish to the room (leading edge, so a quiet room pays no delay)."""
        if room.frames_handle is not None:
            return
        loop = asyncio.get_running_loop()
        due = room.frames_at + self.settings.tick_s
        if loop.time() >= due:
            self._send_frames(room)
        else:
            room.frames_handle = loop.call_at(due, self._send_frames, room)

    def _send_frames(self, room: LocalRoom) -> None:
        room.frames_handle = None
        deliveries, room.pending = room.pending, []
        if not deliveries:
            return
        room.frames_at = asyncio.get_running_loop().time()
        high_water = deliveries[-1].high_water
        for audience, sockets in room.sockets.items():
            if not sockets:
                continue
            cap = self.settings.viewer_chat_cap if audience is Audience.VIEWER else None
            frame = build_merged_frame(deliveries, audience, cap)
            if frame is None:
                continue
            shared = SharedFrame(frame)
            for conn in list(sockets):
                conn.offer(shared, high_water)
            self.counters["frames_offered"] += len(sockets)

    async def _catch_up(self, room: LocalRoom) -> None:
        """Fill a gap (or an epoch change) from history, then apply held deliveries."""
        await self._fill_gap(room, (room.held or [])[0].epoch)

    async def _fill_gap(self, room: LocalRoom, epoch: str) -> None:
        """Replay the room's history after its high water (a snapshot for every socket if
        the history no longer has it), then apply the deliveries held meanwhile."""
        try:
            replay = await self.broker.replay(
                room.name, room.epoch, room.high_water, self.settings.replay_limit
            )
        except BrokerError:
            replay = None
        if replay is not None and replay.events is not None:
            self._replay_to_room(room, replay.events)
        else:
            self.counters["resyncs"] += 1
            await self._resync(room, epoch)
        self._apply_held(room)

    def _apply_held(self, room: LocalRoom) -> None:
        """Stop holding the room's deliveries; apply those of its current epoch."""
        held, room.held = room.held or [], None
        for delivery in held:
            if delivery.epoch == room.epoch:
                self._fan_out(room, delivery)

    def _replay_to_room(self, room: LocalRoom, events: list[tuple[int, Any]]) -> None:

        if not events:
            return
        high_water = events[-1][0]
        batch = Batch(
            node="replay", sent_at_ms=int(time.time() * 1000), events=[event for _, event in events]
        )
        self._fan_out(room, Delivery(room.name, room.epoch, high_water, batch))

    async def _resync(self, room: LocalRoom, epoch: str) -> None:
        """The room's history moved on without us: send every socket a snapshot."""
        try:
            snapshot = await self.broker.snapshot(room.name)
        except BrokerError:
            return
        room.epoch, room.high_water = snapshot.epoch, snapshot.high_water
        for conn in room.connections():
            state = {
                key: value for mask, key, value in snapshot.state if mask & conn.session.audience
            }
            conn.push(
                {
                    "t": "snapshot",
                    "epoch": snapshot.epoch,
                    "seq": snapshot.high_water,
                    "st": state,
                    "history_lost": True,
                }
            )

    # periodic work -----------------------------------------------------------

    async def _tick_once(self) -> None:
        """Publish each room's outbox as one batch; on failure keep events for the next tick."""
        rooms = [
            room
            for room in self.rooms.values()
            if not room.outbox.is_empty() or room.degraded_since is not None
        ]
        if rooms:
            await asyncio.gather(*(self.publish_room(room) for room in rooms))

    async def publish_room(self, room: LocalRoom) -> None:
        """Publish the room's outbox now, in order with every other publish of this node.

        A failed publish puts the events back for the next tick; it never raises.
        """
        async with room.publish_lock:
            batch = room.outbox.take(self.settings.node, int(time.time() * 1000))
            if batch is None:
                if room.degraded_since is not None and self.broker.is_healthy:
                    self._bus_back(room)  # the bus is back and the room has nothing to say
                return
            try:
                await self.broker.publish(room.name, batch)
            except BrokerError:
                self.counters["publish_failures"] += 1
                self._serve_locally(room, batch)
            else:
                self.counters["batches_published"] += 1
                if room.degraded_since is not None:
                    self._bus_back(room)

    def _bus_back(self, room: LocalRoom) -> None:
        """Tell this node's staff the bus works again, the way they were told it did not:
        locally (this node's reader may not be subscribed again yet, and what is
        published meanwhile does not come back to it)."""
        room.degraded_since = None
        healthy = Batch(
            self.settings.node,
            int(time.time() * 1000),
            state=[(int(Audience.CONTROL), "bus", {"healthy": True})],
        )
        self._fan_out(room, Delivery(room.name, room.epoch, room.high_water, healthy))

    def _serve_locally(self, room: LocalRoom, batch: Batch) -> None:
        """The bus is down: this node's sockets still get its chat and state now; events
        (which need their room-wide numbers) and direct items wait for the bus."""
        now_ms = int(time.time() * 1000)
        if room.degraded_since is None:
            room.degraded_since = now_ms
        bus = (int(Audience.CONTROL), "bus", {"healthy": False, "since_ms": room.degraded_since})
        room.outbox.restore(replace(batch, chat=[], chat_dropped=0))
        local = Batch(
            self.settings.node,
            now_ms,
            chat=batch.chat,
            chat_dropped=batch.chat_dropped,
            state=[*batch.state, bus],
        )
        self._fan_out(room, Delivery(room.name, room.epoch, room.high_water, local))

    async def _housekeep(self) -> None:
        now = time.time()
        self._close_expired(now)
        self._freeze_if_grown()
        for name, room in list(self.rooms.items()):
            if room.is_empty() and room.empty_since is not None:
                if time.monotonic() - room.empty_since > self.settings.room_linger_s:
                    if room.frames_handle is not None:
                        room.frames_handle.cancel()
                    del self.rooms[name]
                    self._room_locks.pop(name, None)
                    await self.broker.unsubscribe(name)
                continue
            await self._report_presence(room)
            if room.handler is not None:
                try:
                    await room.handler.on_tick(now)
                except Exception:
                    self.counters["room_tick_failures"] += 1
                    log.exception("room handler tick failed in %s", room.name)

    def _freeze_if_grown(self) -> None:
        """``gc.freeze()`` when the node holds 10% more sockets than at the last freeze."""
        if not self.settings.freeze_gc:
            return
        sockets = sum(len(group) for group in self.by_token.values())
        if sockets >= max(100, int(self._frozen_at_sockets * 1.1)):
            gc.freeze()
            self._frozen_at_sockets = sockets
            self.counters["gc_freezes"] += 1

    def _close_expired(self, now: float) -> None:
        for group in list(self.by_token.values()):
            for conn in list(group):
                if conn.session.claims.is_expired(now):
                    conn.close_soon(CLOSE_TOKEN_EXPIRED)

    async def _report_presence(self, room: LocalRoom) -> None:
        counts = room.counts(lambda session: session.claims.role.value)
        nodes = await self.broker.report_presence(
            room.name, self.settings.node, counts, ttl_s=3 * self.settings.presence_interval_s
        )
        by_role: Counter[str] = Counter()
        for node_counts in nodes.values():
            by_role.update(node_counts)
        online = by_role.get(Role.VIEWER.value, 0)
        room.online = online
        room.peak = max(room.peak, online)
        presence = {
            "online": online,
            "peak": room.peak,
            "by_role": dict(by_role),
            "nodes": {node: sum(c.values()) for node, c in nodes.items()},
        }
        if presence != room.presence:  # publish changes only
            room.presence = presence
            room.set_state(Audience.ALL, "online", {"now": online})
            room.set_state(Audience.CONTROL, "presence", presence)

    def stats(self) -> dict[str, Any]:
        sockets = sum(len(room.connections()) for room in self.rooms.values())
        return {
            "node": self.settings.node,
            "rooms": len(self.rooms),
            "sockets": sockets,
            "broker": self.broker.describe(),
            "counters": {**self.counters, "writer_tasks": Connection.writer_tasks},
        }

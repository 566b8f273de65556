"""The hub's websocket endpoint, a raw ASGI app: handshake, then the receive loop.

Thin by design: decode -> validate -> authorize -> rate-limit -> hand to the
room's handler -> answer. Every refusal becomes an error frame or a close code
and a counter; nothing a client sends can raise past this module.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from .batching import Batch, Delivery, OutboxFullError, build_frame
from .codec import Codec, codec_for
from .connection import Connection, Session
from .errors import AuthError, BrokerError, ProtocolError
from .hub import Hub
from .messages import MESSAGE_SPECS, ClientMessage, parse_message
from .permissions import AUDIENCE_BY_ROLE, is_allowed
from .protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_GOING_AWAY,
    CLOSE_RATE_LIMITED,
    CLOSE_REASONS,
    CLOSE_TOKEN_INVALID,
    CLOSE_TOKEN_REVOKED,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNSUPPORTED_PROTOCOL,
    CLOSE_WRONG_ROOM,
    ERROR_FORBIDDEN,
    ERROR_INTERNAL,
    ERROR_RATE_LIMITED,
    ERROR_UNAVAILABLE,
    FRAME_ACK,
    FRAME_ERROR,
    FRAME_PONG,
    FRAME_WELCOME,
    PROTOCOL_VERSION,
)
from .ratelimit import RateLimiter
from .rooms import LocalRoom
from .tokens import Claims

__all__ = ["HubEndpoint"]

log = logging.getLogger("livecon.hub")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class HubEndpoint:
    """ASGI app for ``/ws``. Query: ``token`` (required), ``epoch`` and ``seq`` to resume,
    ``room`` (optional: the room the client means; a token for another room is refused)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        settings = hub.settings
        self.limiters = {
            role: RateLimiter(rate, settings.burst) for role, rate in settings.rate_per_s.items()
        }
        self._ids = itertools.count(1)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or (await receive())["type"] != "websocket.connect":
            return
        offered: list[str] = list(scope.get("subprotocols") or [])
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        address = (scope.get("client") or ("unknown", 0))[0]
        codec = codec_for(offered)
        refusal = self._quick_refusal(codec, query)
        if refusal is None and not self.hub.reserve_address(address):
            refusal = CLOSE_TOO_MANY_CONNECTIONS
        if refusal is not None:
            await self._refuse(refusal, offered, codec, send)
            return
        try:
            claims = await self._check_token(query["token"])
            if not isinstance(claims, int) and query.get("room", claims.room) != claims.room:
                claims = CLOSE_WRONG_ROOM
            if isinstance(claims, int):
                await self._refuse(claims, offered, codec, send)
                return
            assert codec is not None
            accept: dict[str, Any] = {"type": "websocket.accept"}
            if offered:
                accept["subprotocol"] = codec.subprotocol
            await send(accept)
            session = Session(
                claims, AUDIENCE_BY_ROLE[claims.role], codec, address, next(self._ids)
            )
            await self._serve(session, query, receive, send)
        finally:
            self.hub.release_address(address)

    async def _refuse(self, code: int, offered: list[str], codec: Codec | None, send: Send) -> None:
        """Complete the handshake, then close with ``code`` so every client can read it."""
        self.hub.counters[f"refused_{code}"] += 1
        refused: dict[str, Any] = {"type": "websocket.accept"}
        if offered and codec is not None:
            refused["subprotocol"] = codec.subprotocol  # browsers fail the handshake otherwise
        await send(refused)
        await send({"type": "websocket.close", "code": code, "reason": CLOSE_REASONS.get(code, "")})

    def _quick_refusal(self, codec: Codec | None, query: dict[str, str]) -> int | None:
        """The close code for what can be refused without a lookup, or ``None``."""
        if not self.hub.accepting:
            return CLOSE_GOING_AWAY
        if codec is None:
            return CLOSE_UNSUPPORTED_PROTOCOL
        if "token" not in query:
            return CLOSE_BAD_REQUEST
        return None

    async def _check_token(self, token: str) -> int | Claims:
        """The token's claims, or the close code that refuses it."""
        try:
            claims = self.hub.signer.verify(token, time.time())
            if await self.hub.broker.is_revoked(claims.token_id):
                return CLOSE_TOKEN_REVOKED
        except AuthError as exc:
            return exc.close_code
        except BrokerError:
            return CLOSE_TRY_AGAIN_LATER
        except Exception:
            log.exception("token check failed")
            return CLOSE_TOKEN_INVALID
        return claims

    async def _serve(
        self, session: Session, query: dict[str, str], receive: Receive, send: Send
    ) -> None:
        hub = self.hub
        conn = Connection(session, send, hub.settings.backlog)
        try:
            room = await hub.join(conn)
        except BrokerError:
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
            return
        joined_at: float | None = None
        try:
            try:
                frames = await self._welcome(session, room, query)
            except BrokerError:
                await send(
                    {
                        "type": "websocket.close",
                        "code": CLOSE_TRY_AGAIN_LATER,
                        "reason": CLOSE_REASONS[CLOSE_TRY_AGAIN_LATER],
                    }
                )
                return
            conn.push_first(frames)
            conn.release(_covered_seq(frames))
            conn.start()
            hub.counters["connections"] += 1
            joined_at = time.time()
            await self._notify(room, "on_join", session, joined_at)
            errors: deque[float] = deque()
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                if not await self._on_frame(conn, room, message, errors):
                    conn.close_soon(CLOSE_RATE_LIMITED)
        finally:
            hub.leave(conn)
            await conn.stop()
            if joined_at is not None:
                now = time.time()
                await self._notify(room, "on_leave", session, now, now - joined_at)

    async def _notify(self, room: LocalRoom, hook: str, *args: Any) -> None:
        """Tell the room's handler a socket joined or left; its failure is logged, not raised."""
        if room.handler is None:
            return
        try:
            await getattr(room.handler, hook)(*args)
        except Exception:
            self.hub.counters[f"{hook}_failures"] += 1
            log.exception("room handler %s failed in %s", hook, room.name)

    async def _welcome(
        self, session: Session, room: LocalRoom, query: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The welcome frame, then the events this client missed, if it asked to resume."""
        broker = self.hub.broker
        snapshot = await broker.snapshot(room.name)
        audience = session.audience
        claims = session.claims
        welcome: dict[str, Any] = {
            "t": FRAME_WELCOME,
            "v": PROTOCOL_VERSION,
            "room": room.name,
            "role": claims.role.value,
            "user": claims.user,
            "node": self.hub.settings.node,
            "codec": session.codec.name,
            "epoch": snapshot.epoch,
            "seq": snapshot.high_water,
            "resumed": False,
            "history_lost": False,
            "st": {key: value for mask, key, value in snapshot.state if mask & audience},
            "limits": {
                "max_frame_bytes": self.hub.settings.max_frame_bytes,
                "rate_per_s": self.hub.settings.rate_per_s[claims.role],
                "burst": self.hub.settings.burst,
            },
        }
        frames = [welcome]
        epoch, seq = query.get("epoch"), query.get("seq", "")
        if epoch is None or not seq.isdigit():
            return frames
        replay = await broker.replay(room.name, epoch, int(seq), self.hub.settings.replay_limit)
        if replay.events is None:
            welcome["history_lost"] = True
            self.hub.counters["resume_snapshot"] += 1
            return frames
        welcome["resumed"] = True
        self.hub.counters["resume_replay"] += 1
        if replay.events:
            batch = Batch("replay", int(time.time() * 1000), [event for _, event in replay.events])
            missed = build_frame(
                Delivery(room.name, epoch, replay.events[-1][0], batch), audience, None
            )
            if missed is not None:
                frames.append(missed)
        return frames

    async def _on_frame(
        self, conn: Connection, room: LocalRoom, message: dict[str, Any], errors: deque[float]
    ) -> bool:
        """Handle one client frame; return False when the client has used up its error budget."""
        session = conn.session
        now = time.monotonic()
        ref = None
        try:
            # every frame costs a token, a malformed one too; the refusal names the request
            # when the frame can be read
            allowed = self.limiters[session.claims.role].allow(
                f"{room.name}:{session.claims.user}", now
            )
            decoded = session.codec.decode(
                message.get("text"), message.get("bytes"), self.hub.settings.max_frame_bytes
            )
            parsed = parse_message(decoded)
            ref = parsed.ref
            if not allowed:
                raise ProtocolError(ERROR_RATE_LIMITED, "too many messages; slow down", ref)
            conn.push(await self._dispatch(session, room, parsed))
            return True
        except ProtocolError as exc:
            code, text, ref = exc.code, exc.message, exc.ref if exc.ref is not None else ref
        except OutboxFullError:
            code, text = ERROR_UNAVAILABLE, "the room is saturated; try again"
        except Exception:
            log.exception("handler failed on %s", session.claims.room)
            code, text = ERROR_INTERNAL, "internal error"
        self.hub.counters[f"error_{code}"] += 1
        log.debug("refused frame from %s (%s): %s", session.claims.user, session.claims.role, code)
        error: dict[str, Any] = {"t": FRAME_ERROR, "code": code, "message": text}
        if ref is not None:
            error["id"] = ref
        conn.push(error)
        errors.append(now)
        while errors and errors[0] < now - 60:
            errors.popleft()
        return len(errors) <= self.hub.settings.max_errors_per_minute

    async def _dispatch(
        self, session: Session, room: LocalRoom, message: ClientMessage
    ) -> dict[str, Any]:
        action = MESSAGE_SPECS[message.type].action
        if action is not None and not is_allowed(session.claims.role, action):
            raise ProtocolError(
                ERROR_FORBIDDEN,
                f"role {session.claims.role.value} may not send {message.type!r}",
                message.ref,
            )
        if message.type == "ping":
            reply: dict[str, Any] = {"t": FRAME_PONG, "ts": int(time.time() * 1000)}
        else:
            assert room.handler is not None
            reply = {"t": FRAME_ACK, **await room.handler.handle(session, message)}
        if message.ref is not None:
            reply["id"] = message.ref
        return reply


def _covered_seq(frames: list[dict[str, Any]]) -> int:
    """The highest sequence number the welcome frames already account for."""
    covered = int(frames[0]["seq"])
    for frame in frames[1:]:
        for event in frame.get("ev", ()):
            covered = max(covered, int(event["seq"]))
    return covered

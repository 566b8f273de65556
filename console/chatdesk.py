"""A room's comments on one node: the pipeline and what staff do with comments.

Every comment, typed in a widget or ingested from another platform, goes
through :class:`~console.moderation.Moderator`:

- published comments go to every audience on the chat lane (short repeats fold
  into one counted item per tick); hidden, held and muted ones go to controllers
  only, marked with why;
- a question gets the current product's closest FAQ answers, sent to staff as a
  ``question`` event; a compliance hit (极限词, medical claim) raises a
  ``compliance`` event for controllers and, at most every 30 s, a discreet cue
  on the prompter;
- during an interaction prompt (扣1抢福利) matching comments are counted.

Staff actions (hide, delete, approve, mute, unmute, pin, unpin, reply, slow
mode) go to the audit log.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import sqlite3
from collections import deque
from dataclasses import asdict, replace
from typing import Any, Final

from redis.exceptions import RedisError

from realtime import Audience, RoomContext, Session

from .audit import AuditEntry, AuditLog
from .fandesk import FanDesk
from .lotterydesk import LotteryDesk
from .metrics_store import MetricsStore
from .moderation import Author, Moderator, Policy, Treatment
from .moderation_store import ModerationStore
from .questions import suggest
from .show import Show

__all__ = ["DEFAULT_BANNED", "ChatDesk", "policy_from_dict"]

log = logging.getLogger("livecon.comments")

STORE_ERRORS: Final = (RedisError, OSError, sqlite3.Error)
"""A shared store that fails must not stop comments: the node goes on with what it knows."""
COMPLIANCE_CUE_EVERY_S: Final = 30.0
MUTES_PER_MINUTE_ALERT: Final = 10
"""This many mutes within a minute (on one node) is abnormal and raises an alert."""
MAX_AUTHORS: Final = 100_000
DEFAULT_BANNED: Final[dict[str, Treatment]] = {
    "加微信": Treatment.HOLD,
    "加v": Treatment.HOLD,
    "vx": Treatment.HOLD,
    "私聊": Treatment.HOLD,
    "代购": Treatment.HOLD,
    "http://": Treatment.HOLD,
    "https://": Treatment.HOLD,
    "傻逼": Treatment.HIDE,
    "垃圾主播": Treatment.HIDE,
    "骗子": Treatment.HOLD,
    "fuck": Treatment.HIDE,
}


def policy_from_dict(data: dict[str, Any] | None) -> Policy:
    """A policy from its stored form; unknown keys and bad values raise ``ValueError``."""
    if not data:
        return Policy(banned=dict(DEFAULT_BANNED))
    allowed = {"banned", "patterns", "slow_mode_s", "max_chars", "per_minute", "mute_s"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown policy field {sorted(unknown)[0]!r}")
    given = data.get("banned")
    source = DEFAULT_BANNED if given is None else dict(given)
    banned = {str(word): Treatment(action) for word, action in source.items()}
    patterns = tuple(
        (str(source), Treatment(action)) for source, action in data.get("patterns", [])
    )
    return Policy(
        banned=banned,
        patterns=patterns,
        slow_mode_s=float(data.get("slow_mode_s", 0.0)),
        max_chars=int(data.get("max_chars", 200)),
        per_minute=int(data.get("per_minute", 20)),
        mute_s=float(data.get("mute_s", 600.0)),
    )


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    data = asdict(policy)
    data["banned"] = {word: action.value for word, action in policy.banned.items()}
    data["patterns"] = [[source, action.value] for source, action in policy.patterns]
    return data


class ChatDesk:
    """Runs one room's comment pipeline on this node; see the module docstring."""

    def __init__(
        self,
        room: RoomContext,
        store: ModerationStore,
        audit: AuditLog,
        metrics: MetricsStore,
        node: str,
        fans: FanDesk | None = None,
    ) -> None:
        self.room = room
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self.node = node
        self.moderator = Moderator(policy_from_dict(None))
        self._policy_data: dict[str, Any] | None = None
        self._loaded = False
        self._authors: dict[str, Author] = {}
        self._ids = itertools.count(1)
        self._instance = secrets.token_hex(3)
        self._compliance_cue_at = 0.0
        self._mutes: deque[float] = deque()
        self.lottery = LotteryDesk(room, store, audit, self.new_id, fans)

    def new_id(self, prefix: str) -> str:
        """Unique in the room across nodes and restarts: node, instance, counter."""
        return f"{prefix}-{self.node}-{self._instance}-{next(self._ids)}"

    async def refresh(self) -> None:
        """Pick up a policy changed on any node."""
        data = await self.store.policy(self.room.name)
        self._loaded = True
        if data != self._policy_data:
            self._policy_data = data
            self.moderator = Moderator(policy_from_dict(data))

    def _author(self, user: str) -> Author:
        author = self._authors.get(user)
        if author is None:
            if len(self._authors) >= MAX_AUTHORS:
                self._authors.pop(next(iter(self._authors)))
            author = self._authors[user] = Author()
        return author

    async def comment(
        self,
        user: str,
        name: str,
        role: str,
        text: str,
        now: float,
        show: Show | None,
        product: str | None,
        source: str = "",
    ) -> dict[str, Any]:
        """Run one comment through the pipeline; return what the author is told."""
        author = self._author(user)
        try:
            if not self._loaded:
                await self.refresh()
            shared = await self.store.muted_until(self.room.name, user)
            author.muted_until = max(author.muted_until, shared)
        except STORE_ERRORS:
            log.warning("moderation store unavailable; judging %s with this node's view", user)
        names = tuple(p.name for p in show.products.values()) if show else ()
        verdict = self.moderator.judge(text, author, now, names)
        if verdict.refused is not None:
            return {"refused": verdict.refused}
        item: dict[str, Any] = {
            "id": self.new_id("c"),
            "user": user,
            "name": name,
            "role": role,
            "text": text,
            "ts": int(now * 1000),
        }
        if source:
            item["source"] = source
        if verdict.question:
            item["question"] = True
        if verdict.reaches_viewers:
            self.room.emit_chat(Audience.ALL, item, verdict.fold)
        else:
            marked = {
                **item,
                "moderation": verdict.treatment.value,
                "reasons": list(verdict.reasons),
            }
            self.room.emit_chat(Audience.CONTROL, marked)
            if verdict.treatment is Treatment.MUTE:
                await self._mute(user, author.muted_until, "engine", "system", now, "auto")
        if verdict.question and verdict.reaches_viewers:
            self._suggest(item, show, product)
        if verdict.reaches_viewers:
            with contextlib.suppress(*STORE_ERRORS):
                await self.lottery.enter(user, name, text, now)
        if verdict.compliance:
            self._compliance(item, verdict.compliance, now)
        return {"comment": item["id"], "published": verdict.reaches_viewers}

    def _suggest(self, item: dict[str, Any], show: Show | None, product: str | None) -> None:
        faq = show.products[product].faq if show and product in show.products else ()
        answers = [
            {"q": entry.question, "a": entry.answer, "score": score}
            for entry, score in suggest(item["text"], faq)
        ]
        self.room.emit_event(
            Audience.CONTROL,
            {
                "type": "question",
                "comment": item["id"],
                "text": item["text"],
                "user": item["user"],
                "name": item["name"],
                "product": product,
                "suggestions": answers,
            },
        )

    def _compliance(self, item: dict[str, Any], hits: tuple[Any, ...], now: float) -> None:
        words = sorted({hit.word for hit in hits})
        self.room.emit_event(
            Audience.CONTROL,
            {
                "type": "compliance",
                "comment": item["id"],
                "text": item["text"],
                "words": words,
            },
        )
        if now - self._compliance_cue_at >= COMPLIANCE_CUE_EVERY_S:
            self._compliance_cue_at = now
            self.room.emit_event(
                Audience.HOST,
                {
                    "type": "cue",
                    "cue": self.new_id("cue"),
                    "key": "compliance",
                    "auto": True,
                    "level": "compliance",
                    "from": "livecon",
                    "text": f"注意用语，避免：{'、'.join(words)} / avoid: {', '.join(words)}",
                },
            )

    # staff ---------------------------------------------------------------------

    async def act(self, session: Session, body: dict[str, Any], now: float) -> dict[str, Any]:
        """hide | delete | approve | mute | unmute, by a moderator."""
        action = body["action"]
        actor, role = session.claims.user, session.claims.role.value
        comment, user = body.get("comment"), body.get("user")
        if action in ("hide", "delete", "approve") and not comment:
            raise ValueError(f"{action} needs 'comment'")
        if action in ("mute", "unmute") and not user:
            raise ValueError(f"{action} needs 'user'")
        if action in ("hide", "delete"):
            kind = {"hide": "comment_hidden", "delete": "comment_deleted"}[action]
            self.room.emit_event(Audience.ALL, {"type": kind, "comment": comment})
        elif action == "approve":
            if not body.get("text"):
                raise ValueError("approve needs the comment's 'text'")
            self.room.emit_chat(
                Audience.ALL,
                {
                    "id": comment,
                    "user": user or "",
                    "name": body.get("name") or user or "",
                    "role": "viewer",
                    "text": body["text"],
                    "ts": int(now * 1000),
                    "approved": True,
                },
            )
        elif action == "mute":
            until = now + 60 * int(body.get("minutes") or 10)
            await self._mute(str(user), until, actor, role, now, "manual")
            return {"action": action, "user": user, "until_ms": int(until * 1000)}
        else:
            await self._mute(str(user), 0.0, actor, role, now, "unmute")
            return {"action": action, "user": user}
        await self._audit(now, actor, role, f"comment.{action}", {"comment": comment, "user": user})
        return {"action": action, "comment": comment, "user": user}

    async def _mute(
        self, user: str, until: float, actor: str, role: str, now: float, why: str
    ) -> None:
        await self.store.mute(self.room.name, user, until)
        self._author(user).muted_until = until
        if until:
            self._mutes.append(now)
            while self._mutes and self._mutes[0] < now - 60:
                self._mutes.popleft()
            if len(self._mutes) == MUTES_PER_MINUTE_ALERT:
                self.room.emit_event(
                    Audience.CONTROL,
                    {
                        "type": "alert",
                        "key": "many_mutes",
                        "count": len(self._mutes),
                        "text": f"一分钟内禁言 {len(self._mutes)} 人 / many mutes in a minute",
                    },
                )
                await self.audit.append(
                    AuditEntry(
                        now,
                        self.room.name,
                        actor,
                        role,
                        "alert.many_mutes",
                        None,
                        {"count": len(self._mutes)},
                        alert=True,
                    )
                )
        self.room.emit_event(
            Audience.CONTROL,
            {"type": "muted" if until else "unmuted", "user": user, "until_ms": int(until * 1000)},
        )
        if why != "auto" or until:
            await self._audit(
                now,
                actor,
                role,
                "user.mute" if until else "user.unmute",
                {"user": user, "until": until, "why": why},
            )

    async def pin(self, session: Session, body: dict[str, Any], now: float) -> dict[str, Any]:
        item = {
            "comment": body["comment"],
            "text": body["text"],
            "name": body.get("name", ""),
            "at_ms": int(now * 1000),
        }
        pinned = await self.store.pin(self.room.name, item)
        self.room.set_state(Audience.STAFF, "pinned", {"items": pinned, "at_ms": int(now * 1000)})
        await self._audit(now, session.claims.user, session.claims.role.value, "comment.pin", item)
        await self.room.flush()
        return {"pinned": len(pinned)}

    async def unpin(self, session: Session, body: dict[str, Any], now: float) -> dict[str, Any]:
        pinned = await self.store.unpin(self.room.name, body["comment"])
        self.room.set_state(Audience.STAFF, "pinned", {"items": pinned, "at_ms": int(now * 1000)})
        await self._audit(
            now,
            session.claims.user,
            session.claims.role.value,
            "comment.unpin",
            {"comment": body["comment"]},
        )
        await self.room.flush()
        return {"pinned": len(pinned)}

    async def reply(self, session: Session, body: dict[str, Any], now: float) -> dict[str, Any]:
        """An answer from the shop: on the chat lane for everyone, pinned for viewers if asked."""
        claims = session.claims
        item = {
            "id": self.new_id("r"),
            "user": claims.user,
            "name": claims.name or claims.user,
            "role": claims.role.value,
            "text": body["text"],
            "ts": int(now * 1000),
            "reply": True,
            "reply_to": body.get("comment"),
            "question": body.get("question"),
        }
        self.room.emit_chat(Audience.ALL, item)
        if body.get("pin"):
            self.room.set_state(
                Audience.ALL,
                "pinned_reply",
                {
                    "text": body["text"],
                    "question": body.get("question") or "",
                    "by": item["name"],
                    "at_ms": int(now * 1000),
                },
            )
        await self._audit(
            now,
            claims.user,
            claims.role.value,
            "comment.reply",
            {"comment": body.get("comment"), "text": body["text"], "pinned": bool(body.get("pin"))},
        )
        await self.room.flush()
        return {"reply": item["id"]}

    async def slow_mode(self, session: Session, seconds: int, now: float) -> dict[str, Any]:
        policy = replace(self.moderator.policy, slow_mode_s=float(seconds))
        data = policy_to_dict(policy)
        await self.store.set_policy(self.room.name, data)
        self._policy_data, self.moderator = data, Moderator(policy)
        self.room.set_state(Audience.ALL, "slow_mode", {"seconds": seconds})
        await self._audit(
            now,
            session.claims.user,
            session.claims.role.value,
            "room.slow_mode",
            {"seconds": seconds},
        )
        return {"slow_mode_s": seconds}

    async def _audit(self, now: float, actor: str, role: str, action: str, after: Any) -> None:
        await self.audit.append(AuditEntry(now, self.room.name, actor, role, action, None, after))

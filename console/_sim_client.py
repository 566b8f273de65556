"""What a simulated viewer's client does when the connection or a buy fails, and the order
audit at the end of a run. Pure.

The rules are the viewer widget's (``static/js/livecon.js``, ``static/js/widget.js``):

- **Reconnect.** After a close it did not ask for, a client reconnects with its ``epoch``
  and ``seq`` after 0.25 s plus a random share of 0.5 s × 2^attempt, capped at 15 s; a
  welcome resets the attempts. A refusal at the handshake (:data:`FATAL_CLOSE_CODES`:
  missing, bad, expired or revoked token, room gone) is final.
- **Presses.** A buy or waitlist press keeps its idempotency key until it gets a final
  answer, so resending it can never buy twice. An answer in :data:`RETRY_ANSWERS` (an
  ``outcome``, or an error ``code``) sends it again after :data:`RETRY_AFTER_S`, at most
  :data:`MAX_TRIES` times in all (the widget retries ``pending`` by itself and shows a
  retry button for the others, which the simulated viewer presses). A press whose
  socket was lost is sent again after the next welcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "FATAL_CLOSE_CODES",
    "MAX_TRIES",
    "RETRY_AFTER_S",
    "RETRY_ANSWERS",
    "OrderAudit",
    "audit_orders",
    "is_retried",
    "reconnect_delay_s",
]

FATAL_CLOSE_CODES: Final = frozenset({4000, 4001, 4002, 4003, 4004})
RETRY_ANSWERS: Final = frozenset({"pending", "unavailable", "rate_limited"})
RETRY_AFTER_S: Final = 1.5
MAX_TRIES: Final = 5
RECONNECT_BASE_S: Final = 0.5
RECONNECT_CAP_S: Final = 15.0


def reconnect_delay_s(attempt: int, draw: float) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 first); ``draw`` is uniform in [0, 1)."""
    spread = min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2.0 ** min(attempt, 16))
    return 0.25 + draw * spread


def is_retried(answer: str) -> bool:
    """Whether a press answered ``answer`` (outcome or error code) is sent again."""
    return answer in RETRY_ANSWERS


@dataclass(frozen=True, slots=True)
class OrderAudit:
    """The run's orders in the room's log against the answers its viewers got."""

    logged: int
    """Orders of this run's viewers in the log."""
    acknowledged: int
    """Orders answered to them: ``accepted`` acks and waitlist orders sent directly."""
    missing: int
    """Acknowledged, but not in the log: a lost acknowledged order."""
    unacknowledged: int
    """In the log, but never answered: a press still in flight when the run ended."""
    duplicates: int
    """Order ids, or buy keys, found more than once in the log: a double order."""

    @property
    def is_clean(self) -> bool:
        return not self.missing and not self.duplicates


def _key_of(order: Mapping[str, Any]) -> str:
    """The buy key of a logged order (its request id is ``user:key``, or the bare key)."""
    return str(order.get("request_id", "")).rpartition(":")[2]


def audit_orders(
    orders: Iterable[Mapping[str, Any]], acknowledged: Set[str], users: str, keys: str = ""
) -> OrderAudit:
    """Audit the log ``orders`` (``GET /api/rooms/{room}/orders``) of the users whose ids
    start with ``users`` and, when ``keys`` is given, whose buy keys start with it."""
    ours = [
        order
        for order in orders
        if str(order.get("user", "")).startswith(users) and _key_of(order).startswith(keys)
    ]
    ids = {str(order.get("id")) for order in ours}
    requests = {str(order.get("request_id")) for order in ours}
    return OrderAudit(
        logged=len(ours),
        acknowledged=len(acknowledged),
        missing=len(acknowledged - ids),
        unacknowledged=len(ids - acknowledged),
        duplicates=len(ours) - min(len(ids), len(requests)),
    )

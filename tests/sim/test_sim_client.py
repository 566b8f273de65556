"""How simulated clients retry and reconnect, and the end-of-run order audit: pure."""

from __future__ import annotations

from console._sim_client import (
    MAX_TRIES,
    OrderAudit,
    audit_orders,
    is_retried,
    reconnect_delay_s,
)


def test_reconnects_back_off_like_the_widget_up_to_fifteen_seconds() -> None:
    assert reconnect_delay_s(0, 0.0) == 0.25
    assert reconnect_delay_s(0, 0.999) < 0.75
    assert reconnect_delay_s(3, 0.5) == 0.25 + 0.5 * 4.0
    assert reconnect_delay_s(10, 0.999) < 15.25
    assert reconnect_delay_s(10_000, 0.999) < 15.25


def test_only_pending_unavailable_and_rate_limited_presses_are_sent_again() -> None:
    assert all(map(is_retried, ("pending", "unavailable", "rate_limited")))
    assert not any(map(is_retried, ("accepted", "sold_out", "limit_reached", "internal")))
    assert MAX_TRIES == 5


def order(number: int, user: str = "sim7-00001", key: str = "") -> dict[str, object]:
    key = key or f"run1-{user}-{number:012x}"
    return {"id": f"nuts-3-x-{number}", "user": user, "request_id": f"{user}:{key}"}


def test_a_clean_log_matches_the_acknowledged_orders() -> None:
    log = [order(1), order(2), order(3, user="someone-else"), order(4, key="run0-older")]
    assert audit_orders(log, {"nuts-3-x-1", "nuts-3-x-2"}, "sim7-", "run1-") == OrderAudit(
        logged=2, acknowledged=2, missing=0, unacknowledged=0, duplicates=0
    )


def test_the_audit_finds_lost_doubled_and_unanswered_orders() -> None:
    log = [order(1), order(1), order(2, key="run1-same"), order(3, key="run1-same"), order(5)]
    found = audit_orders(log, {"nuts-3-x-1", "nuts-3-x-4"}, "sim7-")
    assert (found.missing, found.unacknowledged) == (1, 3)
    assert found.duplicates == 2
    assert not found.is_clean
    assert audit_orders([], set(), "sim7-").is_clean

"""The end of a rehearsal run: what the room holds, audited against what the crowd was told.

:func:`fetch_room` reads the room's report, reconciliation and order log with the
admin key; :func:`audit` checks the log against the orders acknowledged to the
simulated viewers (no acknowledged order missing, none twice); :func:`trouble_fields`
and :func:`run_record` put that, the crowd's reconnects and the stage's trouble into
the summary line and the saved JSON. A part the node does not answer is ``None``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import httpx

from ._sim_client import OrderAudit, audit_orders
from ._sim_crowd import Crowd
from .stage import Stage

__all__ = ["audit", "fetch_room", "run_record", "trouble_fields"]


async def _json(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    try:
        answer = await http.get(path, params=params)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


async def fetch_room(http: httpx.AsyncClient, room: str) -> dict[str, Any]:
    """``report``, ``reconcile`` and ``orders`` of ``room`` (admin key in ``http``'s headers)."""
    orders = await _json(http, f"/api/rooms/{room}/orders")
    return {
        "report": await _json(http, f"/api/rooms/{room}/report", format="json"),
        "reconcile": await _json(http, f"/api/rooms/{room}/reconcile"),
        "orders": orders.get("orders") if isinstance(orders, dict) else None,
    }


def audit(crowd: Crowd, orders: list[dict[str, Any]] | None) -> OrderAudit | None:
    """The order log against the crowd's acknowledged orders; ``None`` without a log."""
    if orders is None:
        return None
    config = crowd.audience.config
    acknowledged = crowd.stats.acknowledged
    return audit_orders(orders, acknowledged, f"{config.id_prefix}-", config.key_prefix)


def reconcile_word(room: dict[str, Any]) -> str:
    reconcile = room.get("reconcile")
    if not isinstance(reconcile, dict):
        return "unknown"
    return "ok" if reconcile.get("ok") else "MISMATCH"


def trouble_fields(crowd: Crowd, found: OrderAudit | None, stage: Stage | None) -> str:
    """``key=value`` fields for the summary: reconnects, sale pauses, stage trouble, audit."""
    stats = crowd.stats
    fields = {
        "reconnects": stats.reconnects,
        "resumed": stats.resumed,
        "history_lost": stats.history_lost,
        "retries": stats.retries,
        "unsent": sum(stats.unsent.values()),
        "sale_paused": stats.events["sale_paused"],
        "sale_resumed": stats.events["sale_resumed"],
    }
    if stage is not None:
        fields["node_restarts"] = stage.counts["node_restart"]
        fields["redis_outages"] = stage.counts["redis_outage"]
    if found is not None:
        fields["orders_logged"] = found.logged
        fields["unacknowledged"] = found.unacknowledged
        fields["missing"] = found.missing
        fields["duplicates"] = found.duplicates
    return " ".join(f"{key}={value}" for key, value in fields.items())


def run_record(
    room: str, fetched: dict[str, Any], crowd: Crowd, stage: Stage | None
) -> dict[str, Any]:
    """The saved JSON: the room's figures and orders, the audit, the crowd, the trouble."""
    found = audit(crowd, fetched.get("orders"))
    stats = crowd.stats
    return {
        "rehearsal": True,
        "room": room,
        **fetched,
        "audit": asdict(found) if found is not None else None,
        "crowd": {
            "frames": stats.frames,
            "sent": dict(stats.sent),
            "unsent": dict(stats.unsent),
            "outcomes": dict(stats.outcomes),
            "errors": dict(stats.errors),
            "closes": {str(code): count for code, count in stats.closed.items()},
            "connect_failures": stats.connect_failures,
            "reconnects": stats.reconnects,
            "resumed": stats.resumed,
            "history_lost": stats.history_lost,
            "retries": stats.retries,
        },
        "sale_events": list(stats.sale_events),
        "stage": _stage_record(stage),
    }


def _stage_record(stage: Stage | None) -> dict[str, Any] | None:
    """The processes the run owned and the trouble made with them."""
    if stage is None:
        return None
    return {
        "nodes": [{"name": node.name, "base": node.base} for node in stage.nodes],
        "redis": stage.redis.url if stage.redis is not None else None,
        "trouble": list(stage.log),
    }

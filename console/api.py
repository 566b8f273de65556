"""The HTTP API: tokens, scripts, audit, orders, reconciliation, report, health, metrics.

Every endpoint but ``/healthz`` and ``/metrics`` needs ``Authorization: Bearer
<admin key>``. Bad input is a 4xx with ``{"error": "..."}``; nothing a client
sends raises past a handler.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from realtime import AuthError, Claims, Hub, Role
from realtime.tokens import new_token_id, validate_room

from .audit import AuditEntry, AuditLog
from .chatdesk import policy_from_dict, policy_to_dict
from .commerce.stock import StockStore, room_orders
from .config import Settings
from .driver import load_script
from .metrics_store import MetricsStore
from .moderation import Moderator
from .moderation_store import ModerationStore
from .pages import render_screen
from .show import MAX_SCRIPT_BYTES, Issue
from .show.store import ShowStore

__all__ = ["CSP", "Api", "Services", "csv_response", "error_response", "screen"]

MAX_TOKEN_TTL_S = 7 * 24 * 3600


@dataclass
class Services:
    """What one node runs on, built once by :func:`console.app.create_app`."""

    settings: Settings
    hub: Hub
    shows: ShowStore
    audit: AuditLog
    stock: StockStore
    metrics: MetricsStore
    moderation: ModerationStore


def _number(value: Any, name: str) -> float:
    """``value`` as a float, or ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    return float(value)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Api:
    """HTTP endpoints; each checks the admin key and validates its body."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.hub = services.hub
        self.shows = services.shows
        self.audit = services.audit

    def _is_admin(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        given = header.removeprefix("Bearer ").strip()
        return bool(given) and hmac.compare_digest(given, self.settings.admin_key)

    async def _json(self, request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return None
        return body if isinstance(body, dict) else None

    async def mint_token(self, request: Request) -> Response:
        if not self._is_admin(request):
            return error_response(401, "admin key required (Authorization: Bearer <key>)")
        body = await self._json(request)
        if body is None:
            return error_response(400, "body must be a JSON object")
        try:
            role = Role(body.get("role", ""))
            ttl_s = _number(body.get("ttl_s", 3600), "ttl_s")
            if not 0 < ttl_s <= MAX_TOKEN_TTL_S:
                raise ValueError(f"ttl_s must be in (0, {MAX_TOKEN_TTL_S}]")
            claims = Claims(
                room=str(body.get("room", "")),
                role=role,
                user=str(body.get("user", "")),
                expires_at=time.time() + ttl_s,
                token_id=new_token_id(),
                name=str(body.get("name", ""))[:64],
            )
            token = self.hub.signer.mint(claims)
        except ValueError as exc:
            return error_response(400, str(exc))
        return JSONResponse(
            {"token": token, "token_id": claims.token_id, "expires_at": claims.expires_at}
        )

    async def revoke_token(self, request: Request) -> Response:
        if not self._is_admin(request):
            return error_response(401, "admin key required (Authorization: Bearer <key>)")
        body = await self._json(request)
        if body is None or not isinstance(body.get("token_id"), str):
            return error_response(400, 'body must be {"token_id": "..."}')
        try:
            expires_at = float(body.get("expires_at", time.time() + MAX_TOKEN_TTL_S))
        except (TypeError, ValueError):
            return error_response(400, "expires_at must be seconds since the epoch")
        await self.hub.broker.revoke(body["token_id"], expires_at)
        return JSONResponse({"revoked": body["token_id"]})

    async def put_script(self, request: Request) -> Response:
        if not self._is_admin(request):
            return error_response(401, "admin key required (Authorization: Bearer <key>)")
        room = request.path_params["room"]
        try:
            validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))
        raw = await request.body()
        if len(raw) > MAX_SCRIPT_BYTES:
            return error_response(413, f"script larger than {MAX_SCRIPT_BYTES} bytes")
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            return error_response(400, "script must be UTF-8 TOML")
        file = request.query_params.get("file", f"{room}.toml")[:128]
        stored, issues = await load_script(
            self.shows, self.audit, room, source, file, "admin", time.time()
        )
        body = {"loaded": stored, "issues": [_issue_dict(issue) for issue in issues]}
        if stored:
            return JSONResponse(body)
        running = any("is running" in issue.message for issue in issues)
        return JSONResponse(
            {"error": "script refused", **body}, status_code=409 if running else 400
        )

    async def get_audit(self, request: Request) -> Response:
        room = self._guarded_room(request)
        if isinstance(room, Response):
            return room
        try:
            after = min(2**62, max(0, int(request.query_params.get("after", "0"))))
            limit = min(10_000, max(1, int(request.query_params.get("limit", "1000"))))
        except ValueError:
            return error_response(400, "after and limit must be integers")
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            return error_response(400, "format must be json or csv")
        entries = await self.audit.entries(room, after, limit)
        if fmt == "csv":
            rows = [
                {
                    **entry.to_dict(),
                    "before": json.dumps(entry.before, ensure_ascii=False),
                    "after": json.dumps(entry.after, ensure_ascii=False),
                }
                for entry in entries
            ]
            return csv_response(f"{room}-audit.csv", AUDIT_COLUMNS, rows)
        return JSONResponse({"entries": [entry.to_dict() for entry in entries]})

    async def health(self, request: Request) -> Response:
        healthy = self.hub.broker.is_healthy and self.hub.accepting
        status = "ok" if healthy else "degraded"
        return JSONResponse(
            {"status": status, **self.hub.stats()}, status_code=200 if healthy else 503
        )

    async def metrics(self, request: Request) -> Response:
        stats = self.hub.stats()
        node = stats["node"]
        lines = [
            f'livecon_sockets{{node="{node}"}} {stats["sockets"]}',
            f'livecon_rooms{{node="{node}"}} {stats["rooms"]}',
            f'livecon_broker_healthy{{node="{node}"}} {int(stats["broker"]["healthy"])}',
        ]
        for name, value in sorted(stats["counters"].items()):
            lines.append(f'livecon_{name}_total{{node="{node}"}} {value}')
        return PlainTextResponse("\n".join(lines) + "\n")

    # moderation ------------------------------------------------------------------

    async def moderation(self, request: Request) -> Response:
        """GET the room's comment policy, or PUT a new one (nodes apply it within a second)."""
        room = self._guarded_room(request)
        if isinstance(room, Response):
            return room
        store = self.services.moderation
        if request.method == "GET":
            return JSONResponse(
                {"room": room, "policy": policy_to_dict(policy_from_dict(await store.policy(room)))}
            )
        body = await self._json(request)
        if body is None:
            return error_response(400, "body must be a JSON object")
        try:
            policy = policy_from_dict(body)
            Moderator(policy)  # patterns compile, words are usable
        except (ValueError, TypeError, re.error) as exc:
            return error_response(400, f"bad policy: {exc}")
        data = policy_to_dict(policy)
        await store.set_policy(room, data)
        await self.audit.append(
            AuditEntry(time.time(), room, "admin", "admin", "room.policy", None, data)
        )
        return JSONResponse({"room": room, "policy": data})

    # orders and reconciliation -------------------------------------------------

    def _guarded_room(self, request: Request) -> str | Response:
        """The path's room if the caller is an admin and the name is valid, else the refusal."""
        if not self._is_admin(request):
            return error_response(401, "admin key required (Authorization: Bearer <key>)")
        room = str(request.path_params["room"])
        try:
            return validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))

    def staff_room(self, request: Request) -> str | Response:
        """Admins by key (header or ``?key=``), or a controller/admin/support token of the room."""
        room = str(request.path_params["room"])
        try:
            validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))
        key = request.query_params.get("key", "")
        if self._is_admin(request) or (
            key and hmac.compare_digest(key, self.services.settings.admin_key)
        ):
            return room
        token = request.query_params.get("token", "")
        try:
            claims = self.services.hub.signer.verify(token, time.time())
        except AuthError:
            return error_response(401, "admin key or a staff token of this room required")
        if claims.room != room or claims.role not in (Role.CONTROLLER, Role.ADMIN, Role.SUPPORT):
            return error_response(403, "this token may not read this room's report")
        return room

    async def get_orders(self, request: Request) -> Response:
        room = self.staff_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            return error_response(400, "format must be json or csv")
        orders = await room_orders(self.services.stock, room)
        if fmt == "csv":
            return csv_response(
                f"{room}-orders.csv", ORDER_COLUMNS, [order.to_dict() for order in orders]
            )
        return JSONResponse(
            {
                "room": room,
                "count": len(orders),
                "units": sum(o.quantity for o in orders),
                "gmv": sum(o.amount for o in orders),
                "orders": [o.to_dict() for o in orders],
            }
        )

    async def reconcile(self, request: Request) -> Response:
        room = self._guarded_room(request)
        if isinstance(room, Response):
            return room
        results = []
        for sale in await self.services.stock.sales(room):
            found = await self.services.stock.reconcile(sale.id)
            if found is not None:
                results.append(found.to_dict())
        ok = all(result["ok"] for result in results)
        return JSONResponse({"room": room, "ok": ok, "sales": results})


AUDIT_COLUMNS = (
    "seq",
    "at",
    "room",
    "actor",
    "role",
    "action",
    "before",
    "after",
    "detail",
    "alert",
)
ORDER_COLUMNS = (
    "id",
    "sale",
    "room",
    "product",
    "user",
    "quantity",
    "price",
    "amount",
    "request_id",
    "at",
    "segment",
)


def csv_response(filename: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _issue_dict(issue: Issue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "severity": issue.severity.value,
        "message": issue.message,
    }


async def screen(request: Request) -> Response:
    """``/prompter/{room}``, ``/dashboard/{room}``, ``/widget/{room}``: the screens' shells."""
    room = str(request.path_params["room"])
    try:
        validate_room(room)
    except ValueError as exc:
        return error_response(400, str(exc))
    name = request.url.path.strip("/").split("/")[0]
    headers = {"Content-Security-Policy": WIDGET_CSP if name == "widget" else CSP}
    return HTMLResponse(render_screen(name, room), headers=headers)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)

WIDGET_CSP = CSP.replace("frame-ancestors 'self'", "frame-ancestors *")
"""The widget is embedded in shops' pages, so any page may frame it."""

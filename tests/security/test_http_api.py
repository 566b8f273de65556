"""The HTTP API under bad input: never a 5xx, and a JSON error body for every 4xx.

Table-driven over the route list of ``console.app.create_app`` (read in-process; the
requests go to a real ``livecon serve`` node). For each route and each method it
serves, requests are made with: no auth, a wrong bearer key, a Basic header, the admin
key; odd room names (``..``, an encoded ``../x``, unicode, 200 characters, a NUL, HTML);
odd query strings; and, for POST and PUT, bodies that are missing, empty, malformed
JSON, JSON of the wrong shape or types, non-finite numbers, deep nesting, invalid UTF-8,
unicode and 2 MiB.

Answers from the router itself (404 for a path no route matches, 405 for a method the
route does not serve) and from the static file mount are kept apart:
``test_unmatched_paths_and_methods_answer_json_errors`` checks those, and the static
mount is checked for path traversal instead.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from starlette.routing import Route

from console.app import create_app
from console.config import Settings
from console.ingest import ingest_key
from tests.integration._helpers import http
from tests.support import ADMIN_KEY, SECRET, Node, mint

from ._helpers import node_with

ROOM: Final = "api"
ROOMS: Final = (
    ROOM,
    "..",
    "..%2Fx",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    urllib.parse.quote("直播间"),
    "r" * 200,
    "a%00b",
    urllib.parse.quote("<script>alert(1)</script>"),
    "a%20b",
)
FORMATS: Final = ("json", "vtt", "csv", "xml", "%2E%2E")
QUERIES: Final = (
    "",
    "?after=abc&limit=-5&format=pdf",
    "?after=99999999999999999999999&limit=1e3",
    f"?key=wrong&token={'t' * 3000}",
    "?token=" + urllib.parse.quote("a.b"),
    "?format=csv&key=" + ADMIN_KEY,
)
BODIES: Final[dict[str, bytes | None]] = {
    "none": None,
    "empty": b"",
    "malformed": b'{"room": ',
    "array": b"[1, 2]",
    "null": b"null",
    "string": b'"text"',
    "wrong types": json.dumps(
        {
            "room": 1,
            "role": ["admin"],
            "user": {},
            "ttl_s": "soon",
            "token_id": 7,
            "expires_at": [],
            "platform": 3,
            "comments": {},
            "banned": [[1, 2, 3]],
            "patterns": "x",
            "max_chars": "many",
        }
    ).encode(),
    "non-finite": b'{"ttl_s": NaN, "expires_at": Infinity, "token_id": "t", "max_chars": 1e999,'
    b' "per_minute": -1e999, "slow_mode_s": NaN}',
    "deep": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "invalid utf-8": b'{"room": "\xff\xfe"}',
    "unicode": json.dumps(
        {
            "room": "直播间",
            "role": "viewer",
            "user": "用户",
            "name": "👩‍👩‍👧" * 40,
            "platform": "抖音",
        },
        ensure_ascii=False,
    ).encode(),
    "huge": b'{"room": "api", "role": "viewer", "user": "u", "name": "' + b"n" * (2 << 20) + b'"}',
    "huge script": b"# " + b"x" * (300 * 1024),
}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    label: str


def routes() -> list[Route]:
    """The app's HTTP routes, as ``create_app`` builds them (no server, no lifespan)."""
    with tempfile.TemporaryDirectory(prefix="livecon-routes-") as data:
        settings = Settings(data_dir=Path(data), secret=SECRET, admin_key=ADMIN_KEY)
        app = create_app(settings)
        return [route for route in app.routes if isinstance(route, Route)]


ROUTES: Final = routes()


def fill(path: str, room: str, fmt: str = "json") -> str:
    return path.replace("{room}", room).replace("{format:str}", fmt).replace("{format}", fmt)


def auth_variants(room: str) -> dict[str, dict[str, str]]:
    admin = {
        "Authorization": f"Bearer {ADMIN_KEY}",
        "X-Livecon-Ingest-Key": ingest_key(SECRET, room),
    }
    return {
        "no auth": {},
        "wrong bearer": {"Authorization": "Bearer not-the-key", "X-Livecon-Ingest-Key": "wrong"},
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "empty bearer": {"Authorization": "Bearer "},
        "admin": admin,
    }


def requests_for(route: Route) -> Iterator[Request]:
    methods = sorted((route.methods or {"GET"}) - {"HEAD"})
    formats = FORMATS if "{format" in route.path else ("json",)
    for method in methods:
        writes = method in ("POST", "PUT")
        sample = b'{"room": "api", "role": "viewer", "user": "u"}' if writes else None
        for name, headers in auth_variants(ROOM).items():
            yield Request(method, fill(route.path, ROOM), headers, sample, name)
        for room in ROOMS:
            for fmt in formats:
                headers = auth_variants(urllib.parse.unquote(room))["admin"]
                yield Request(method, fill(route.path, room, fmt), headers, sample, f"room {room}")
        for query in QUERIES:
            admin = auth_variants(ROOM)["admin"]
            yield Request(method, fill(route.path, ROOM) + query, admin, sample, f"query {query}")
            yield Request(method, fill(route.path, ROOM) + query, {}, sample, f"anon {query}")
        if writes:
            for label, body in BODIES.items():
                for who in ("admin", "no auth"):
                    headers = {**auth_variants(ROOM)[who], "Content-Type": "application/json"}
                    yield Request(method, fill(route.path, ROOM), headers, body, f"{who} {label}")


def is_router_refusal(status: int, content_type: str, raw: bytes) -> bool:
    """404/405 written by Starlette's router (no route matched), not by a handler."""
    return (
        status in (404, 405)
        and content_type.startswith("text/plain")
        and raw in (b"Not Found", b"Method Not Allowed")
    )


def problem_with(status: int, content_type: str, raw: bytes) -> str | None:
    if status >= 500:
        return f"{status} {raw[:200]!r}"
    if 400 <= status < 500 and not is_router_refusal(status, content_type, raw):
        if not content_type.startswith("application/json"):
            return f"{status} with {content_type!r}: {raw[:120]!r}"
        try:
            body = json.loads(raw)
        except ValueError:
            return f"{status} with a body that is not JSON: {raw[:120]!r}"
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return f"{status} without an 'error' string: {raw[:120]!r}"
    return None


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with node_with(tmp_path_factory.mktemp("api")) as started:
        yield started


@pytest.mark.integration
@pytest.mark.parametrize("route", ROUTES, ids=[route.path for route in ROUTES])
def test_no_5xx_and_json_errors(node: Node, route: Route) -> None:
    problems: list[str] = []
    count = 0
    for request in requests_for(route):
        count += 1
        try:
            status, content_type, raw = http(
                node, request.method, request.path, request.body, request.headers
            )
        except (urllib.error.URLError, ConnectionError) as exc:
            if len(request.body or b"") > (1 << 20):
                continue  # answered before the body was read, then cut off: allowed
            problems.append(f"{request.method} {request.path[:80]} [{request.label}]: {exc!r}")
            continue
        problem = problem_with(status, content_type, raw)
        if problem is not None:
            problems.append(f"{request.method} {request.path[:80]} [{request.label}]: {problem}")
    assert count > 20
    assert not problems, f"{len(problems)} of {count} answers are wrong:\n" + "\n".join(
        problems[:15]
    )
    assert node.health()["status"] == "ok"


@pytest.mark.integration
def test_unmatched_paths_and_methods_answer_json_errors(node: Node) -> None:
    """A path no route matches and a method a route does not serve are API errors too."""
    problems = []
    cases = [("GET", "/api/no-such-thing"), ("GET", "/api/rooms/../x/report")]
    cases += [
        ("DELETE", fill(route.path, ROOM))
        for route in ROUTES
        if "DELETE" not in (route.methods or ())
    ]
    for method, path in cases:
        status, content_type, raw = http(node, method, path, None, {})
        if status >= 500 or not content_type.startswith("application/json"):
            problems.append(f"{method} {path}: {status} {content_type!r} {raw[:60]!r}")
    assert not problems, f"{len(problems)} of {len(cases)}:\n" + "\n".join(problems[:10])


@pytest.mark.integration
@pytest.mark.parametrize(
    "path",
    [
        "/static/../console/config.py",
        "/static/..%2F..%2Fconsole%2Fconfig.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/js/..%2F..%2F..%2Ftests%2Fsupport.py",
        "/static//etc/passwd",
    ],
)
def test_the_static_mount_serves_nothing_outside_static(node: Node, path: str) -> None:
    status, _, raw = http(node, "GET", path)
    assert status in (400, 403, 404), (status, raw[:200])
    for secret in (b"LIVECON", b"root:", b"SECRET"):
        assert secret not in raw, raw[:200]


@pytest.mark.integration
def test_screens_answer_odd_room_names_without_5xx(node: Node) -> None:
    token = mint(ROOM, "viewer", "v")
    for room in ROOMS[1:]:
        for screen in ("widget", "dashboard", "prompter", "report"):
            status, content_type, raw = http(node, "GET", f"/{screen}/{room}?token={token}")
            assert status < 500, (screen, room, status)
            if status >= 400 and not is_router_refusal(status, content_type, raw):
                assert content_type.startswith("application/json"), (screen, room, raw[:80])

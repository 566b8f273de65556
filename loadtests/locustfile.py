"""Locust load test of one livecon room: viewers, buyers, a controller, a buy spike.

    LIVECON_ADMIN_KEY=... .venv/bin/locust -f loadtests/locustfile.py --headless \\
        -u 200 -r 50 -t 30s --host http://127.0.0.1:8000

Users (websocket clients from :mod:`loadtests.locust_ws`; tokens minted through
``POST /api/tokens`` with the admin key, which Locust reports as a request):

- ``ViewerUser`` (weight 20): reads every frame and reports its end-to-end
  latency (local clock minus the batch's server ``ts``) as request type ``WS``,
  name ``frame``; comments and likes now and then.
- ``BuyerUser`` (weight 3): presses buy on the open sale with a fresh key each
  time; reports buy -> ack latency as ``buy <outcome>`` (``accepted``,
  ``sold_out``, ``limit_reached``, ``not_open``); an error frame or no answer
  within 5 s is a failure.
- ``ControllerUser`` (exactly one): starts the show, jumps to the first product
  segment (its sale starts by itself), then ``next`` every ``LIVECON_STEP_S``
  and a cue now and then; reports each ack's latency.
- ``SpikeBuyerUser`` (only with ``LIVECON_SPIKE_AT_S`` set): connects and idles;
  at that many seconds after the test start every one of them presses buy once
  within one second. Pick it on the command line:
  ``... -u 501 -r 100 -t 60s SpikeBuyerUser ControllerUser``.

Environment: ``LIVECON_ADMIN_KEY`` (required), ``LIVECON_ROOM`` (default
``rehearsal-locust``), ``LIVECON_SCRIPT`` (loaded into the room at the start;
default ``scripts/snack-party.toml``), ``LIVECON_STEP_S`` (default 20).
Distributed mode works as usual (``--master`` / ``--worker``): the master loads
the script and releases the spike; each worker's users mint their own tokens.
Every client connects from this machine's address: raise the node's
``max_connections_per_address`` (``LIVECON_HUB_SETTINGS``) above the user count.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import gevent
import gevent.event
import requests
from locust import HttpUser, between, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

# Locust puts this file's directory on sys.path, not the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtests.locust_ws import WsClient, WsClosed

ADMIN_KEY: Final = os.environ.get("LIVECON_ADMIN_KEY", "")
ROOM: Final = os.environ.get("LIVECON_ROOM", "rehearsal-locust")
SCRIPT: Final = Path(
    os.environ.get("LIVECON_SCRIPT")
    or Path(__file__).resolve().parent.parent / "scripts" / "snack-party.toml"
)
STEP_S: Final = float(os.environ.get("LIVECON_STEP_S", "20"))
SPIKE_AT_S: Final = float(os.environ.get("LIVECON_SPIKE_AT_S", "0") or 0)
ACK_TIMEOUT_S: Final = 5.0
SPIKE_MESSAGE: Final = "livecon_spike"
COMMENTS: Final = ("1", "扣1", "666", "主播好", "多少钱？", "已下单", "冲冲冲", "包邮吗？")

RELEASE = gevent.event.Event()
"""Set when the spike's buyers may press buy."""


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def _ws_base(host: str) -> str:
    return "ws" + host.rstrip("/").removeprefix("http")


# set-up on the master (or the only process) --------------------------------------


def _end_running_show(host: str) -> None:
    token = requests.post(
        host + "/api/tokens",
        json={"room": ROOM, "role": "controller", "user": "locust-setup", "ttl_s": 60},
        headers=_headers(),
        timeout=10,
    ).json()["token"]
    client = WsClient(f"{_ws_base(host)}/ws?token={token}")
    try:
        client.recv_json(10)
        client.send_json({"t": "script", "command": "end", "id": 1})
        while client.recv_json(10).get("id") != 1:
            pass
    finally:
        client.close()


def _load_script(host: str) -> None:
    """Put the script into the room; end a show still running there from an earlier run."""
    body = SCRIPT.read_bytes()
    url = f"{host}/api/rooms/{ROOM}/script"
    answer = requests.put(url, data=body, headers=_headers(), timeout=10)
    if answer.status_code == 409:
        _end_running_show(host)
        answer = requests.put(url, data=body, headers=_headers(), timeout=10)
    answer.raise_for_status()


def _release_spike(environment: Environment) -> None:
    gevent.sleep(SPIKE_AT_S)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(SPIKE_MESSAGE)
    RELEASE.set()


def _on_spike(environment: Environment, msg: Any, **_: Any) -> None:
    RELEASE.set()


def _on_init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(SPIKE_MESSAGE, _on_spike)


def _on_test_start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    if not ADMIN_KEY:
        raise SystemExit("set LIVECON_ADMIN_KEY to the node's admin key")
    _load_script(str(environment.host).rstrip("/"))
    if SPIKE_AT_S:
        gevent.spawn(_release_spike, environment)


# locust's EventHook.add_listener is not annotated
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]


# users ------------------------------------------------------------------------------


class LiveconUser(HttpUser):
    """A socket in the room: mints its token, connects, reads frames in a greenlet."""

    abstract = True
    role = "viewer"

    def on_start(self) -> None:
        self.user_id = f"lc-{self.role[:4]}-{uuid.uuid4().hex[:12]}"
        self.state: dict[str, Any] = {}
        self.answers: dict[int, gevent.event.AsyncResult] = {}
        self.next_id = 0
        body = {"room": ROOM, "role": self.role, "user": self.user_id, "ttl_s": 3600}
        token = self.client.post("/api/tokens", json=body, headers=_headers()).json()["token"]
        started = time.perf_counter()
        self.ws = WsClient(f"{_ws_base(str(self.host))}/ws?token={token}")
        welcome = self.ws.recv_json(10)
        self._fire("connect", started, len(str(welcome)))
        self.state.update(welcome.get("st") or {})
        self.reader = gevent.spawn(self._read)

    def on_stop(self) -> None:
        self.ws.close()
        self.reader.kill(block=False)

    def _fire(
        self, name: str, started: float, length: int = 0, error: Exception | None = None
    ) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._report(name, elapsed_ms, length, error)

    def _report(
        self, name: str, ms: float, length: int = 0, error: Exception | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=length,
            exception=error,
            context={},
        )

    def _read(self) -> None:
        try:
            while True:
                message = self.ws.recv()
                self.on_frame(json.loads(message), len(message))
        except WsClosed:
            pass

    def on_frame(self, frame: dict[str, Any], size: int) -> None:
        kind = frame.get("t")
        if kind == "batch":
            self.state.update(frame.get("st") or {})
        elif kind in ("ack", "error") and isinstance(frame.get("id"), int):
            answer = self.answers.pop(frame["id"], None)
            if answer is not None:
                answer.set(frame)

    def request(self, name: str, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Send with a fresh id, wait for its ack or error, report the round trip."""
        self.next_id += 1
        answer = self.answers[self.next_id] = gevent.event.AsyncResult()
        started = time.perf_counter()
        try:
            self.ws.send_json({**frame, "id": self.next_id})
            reply: dict[str, Any] = answer.get(timeout=ACK_TIMEOUT_S)
        except (gevent.Timeout, WsClosed, OSError) as exc:
            self.answers.pop(self.next_id, None)
            self._fire(name, started, error=TimeoutError(f"no answer: {exc!r}"))
            return None
        if reply["t"] == "error":
            self._fire(f"{name} error", started, error=RuntimeError(reply.get("code")))
            return None
        outcome = reply.get("outcome")
        self._fire(f"{name} {outcome}" if outcome else name, started, len(str(reply)))
        return reply

    def wait_for(
        self, key: str, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """The state ``key`` once it is ``ready`` (what it is after ``timeout_s`` otherwise)."""
        deadline = time.monotonic() + timeout_s
        while not ready(self.state.get(key) or {}) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        value: dict[str, Any] = self.state.get(key) or {}
        return value

    def open_sale(self) -> str | None:
        """The id of an open sale (the newest), if any."""
        open_sales = [
            value
            for key, value in self.state.items()
            if key.startswith("sale:") and value.get("status") == "open"
        ]
        return (
            max(open_sales, key=lambda sale: sale["starts_at_ms"])["sale"] if open_sales else None
        )


class ViewerUser(LiveconUser):
    weight = 20
    wait_time = between(3, 8)

    def on_frame(self, frame: dict[str, Any], size: int) -> None:
        stamp = frame.get("ts")
        if frame.get("t") == "batch" and isinstance(stamp, int):
            self._report("frame", time.time() * 1000 - stamp, size)
        super().on_frame(frame, size)

    @task(1)
    def comment(self) -> None:
        self.request("comment", {"t": "comment", "text": random.choice(COMMENTS)})

    @task(2)
    def like(self) -> None:
        self.request("like", {"t": "like", "count": random.randint(1, 5)})


class BuyerUser(LiveconUser):
    weight = 3
    wait_time = between(0.5, 2)

    @task
    def buy(self) -> None:
        sale = self.open_sale()
        if sale is not None:
            self.request("buy", {"t": "buy", "sale": sale, "qty": 1, "key": uuid.uuid4().hex})


class ControllerUser(LiveconUser):
    fixed_count = 1
    role = "controller"
    wait_time = constant(STEP_S)

    def on_start(self) -> None:
        super().on_start()
        # A room's first socket, or one right after a script reload, may see no or stale state.
        timeline = self.wait_for("timeline", lambda value: value.get("phase", "ended") != "ended")
        if timeline.get("phase") == "not_started":
            self.request("script start", {"t": "script", "command": "start"})
        segments = timeline.get("segments") or []
        first = next((i for i, s in enumerate(segments) if s.get("kind") == "product"), None)
        if first is not None:
            self.request("script goto", {"t": "script", "command": "goto", "target": first})

    @task(3)
    def advance(self) -> None:
        if (self.state.get("timeline") or {}).get("phase") in ("live", "closing"):
            self.request("script next", {"t": "script", "command": "next"})

    @task(1)
    def cue(self) -> None:
        self.request("cue", {"t": "cue", "text": "库存不多了，提醒大家", "level": "info"})


class SpikeBuyerUser(LiveconUser):
    """Idle until the spike, then one buy within a second; then idle again."""

    abstract = not SPIKE_AT_S
    wait_time = constant(1)

    def on_start(self) -> None:
        super().on_start()
        self.pressed = False

    @task
    def wait_and_buy(self) -> None:
        if self.pressed or not RELEASE.wait(timeout=1):
            return
        self.pressed = True
        gevent.sleep(random.random())
        sale = self.open_sale()
        if sale is None:
            self._report("spike buy", 0.0, error=RuntimeError("no open sale at the spike"))
            return
        self.request("spike buy", {"t": "buy", "sale": sale, "qty": 1, "key": uuid.uuid4().hex})

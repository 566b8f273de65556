"""Shared pieces of the fault tests: processes, the sample show, buyers that survive faults.

- :func:`durable_redis`: a private ``redis-server`` with ``appendonly yes`` and
  ``appendfsync always``, stopped on exit;
- :func:`open_sale`: the sample show (``scripts/snack-party.toml``) loaded, started and
  moved to its first product segment, whose sale of ``nuts`` starts by itself;
- :class:`Buyer`: a viewer who buys under idempotency keys and, when its socket
  dies, reconnects to the next node with ``epoch`` and ``seq`` and sends the
  request in flight again under the same key;
- :func:`orders`, :func:`reconcile`: the HTTP API's order log and reconciliation;
- :class:`RssSampler`: the peak resident memory of a node, sampled with psutil.

Every wait is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.e2e_show._helpers import Screen, put_script
from tests.integration._helpers import ADMIN_HEADERS, RawSocket, http
from tests.support import ROOT, Client, Node, RedisProcess, mint, timeout

SNACK_SCRIPT: Final = ROOT / "scripts" / "snack-party.toml"
SALE_SEGMENT: Final = 3
"""The sample show's first product segment; entering it starts a sale of ``nuts``."""
PRODUCT: Final = "nuts"
SALE_STOCK: Final = 600
"""The units ``[segments.sale]`` releases for the ``nuts`` sale."""
LIMIT: Final = 3
"""``limit_per_buyer`` of ``nuts``."""

DURABLE_REDIS: Final = ["--appendonly", "yes", "--appendfsync", "always"]
"""Redis as docs/commerce.md asks for no lost acknowledged order across its restart."""

MANY_SOCKETS: Final = {
    "rate_per_s": {"viewer": 1000, "controller": 1000},
    "burst": 1000,
    "max_connections_per_address": 100_000,
}
"""Every test socket comes from 127.0.0.1, and a retrying buyer sends bursts."""


def hub_env(**settings: Any) -> dict[str, str]:
    """``LIVECON_HUB_SETTINGS`` of :data:`MANY_SOCKETS` with ``settings`` on top."""
    return {"LIVECON_HUB_SETTINGS": json.dumps({**MANY_SOCKETS, **settings})}


@contextlib.contextmanager
def durable_redis() -> Iterator[RedisProcess]:
    server = RedisProcess.start(DURABLE_REDIS)
    try:
        yield server
    finally:
        server.stop()


def start_node(
    data_dir: Path,
    name: str,
    redis_url: str = "",
    env: dict[str, str] | None = None,
    tick_ms: int = 50,
) -> Node:
    """``livecon serve`` keeping its data and log in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Node.start(redis_url, name=name, tick_ms=tick_ms, data_dir=data_dir, env=env)


@contextlib.contextmanager
def started(node: Node) -> Iterator[Node]:
    """Stop ``node`` on exit (a killed node is already gone)."""
    try:
        yield node
    finally:
        node.stop()


# the HTTP API --------------------------------------------------------------------


def admin_json(node: Node, method: str, path: str) -> dict[str, Any]:
    status, _, raw = http(node, method, path, None, ADMIN_HEADERS)
    assert status == 200, (status, raw[:300])
    answer: dict[str, Any] = json.loads(raw)
    return answer


def orders(node: Node, room: str) -> list[dict[str, Any]]:
    """``GET /api/rooms/{room}/orders``: every order of the room, in log order."""
    found: list[dict[str, Any]] = admin_json(node, "GET", f"/api/rooms/{room}/orders")["orders"]
    return found


def exported_order_ids(node: Node, room: str) -> list[str]:
    """The order ids of ``GET /api/rooms/{room}/orders?format=csv`` (the export), in order."""
    status, _, raw = http(node, "GET", f"/api/rooms/{room}/orders?format=csv", None, ADMIN_HEADERS)
    assert status == 200, raw[:300]
    return [row["id"] for row in csv.DictReader(io.StringIO(raw.decode("utf-8")))]


def reconcile(node: Node, room: str) -> dict[str, Any]:
    """``GET /api/rooms/{room}/reconcile``."""
    return admin_json(node, "GET", f"/api/rooms/{room}/reconcile")


async def load_snack_show(node: Node, room: str) -> None:
    status, answer = await put_script(node, room, SNACK_SCRIPT.read_text(encoding="utf-8"))
    assert status == 200, answer
    assert answer["loaded"] is True, answer


async def open_sale(controller: Screen) -> str:
    """Start the show and go to :data:`SALE_SEGMENT`; return the id of the sale it starts."""
    since = controller.mark()
    for command in ({"command": "start"}, {"command": "goto", "target": SALE_SEGMENT}):
        answer = await controller.request({"t": "script", **command})
        assert answer.get("t") == "ack", answer
    started_event = await controller.event_where(
        "sale_started", lambda event: event["product"] == PRODUCT, since, 10
    )
    sale: str = started_event["sale"]
    return sale


def check_orders_match_acks(logged: list[dict[str, Any]], buyers: Sequence[Buyer]) -> None:
    """The order log holds exactly the acknowledged orders: same ids, buyers, units; no
    id twice; nobody above the limit."""
    ids = [order["id"] for order in logged]
    duplicated = [order for order, count in Counter(ids).items() if count > 1]
    assert not duplicated, f"order ids logged twice: {duplicated[:5]}"
    acked = {ack.order: ack for buyer in buyers for ack in buyer.accepted()}
    only_logged = sorted(set(ids) - set(acked))
    only_acked = sorted(set(acked) - set(ids))
    assert not only_acked, (
        f"{len(only_acked)} acknowledged orders are not in the log: {only_acked[:5]}"
    )
    assert not only_logged, (
        f"{len(only_logged)} logged orders were never acknowledged: {only_logged[:5]}"
    )
    for order in logged:
        ack = acked[order["id"]]
        assert (order["user"], order["quantity"], order["request_id"]) == (
            ack.user,
            ack.quantity,
            f"{ack.user}:{ack.key}",  # keys are scoped to their buyer
        ), (order, ack)
    units: Counter[str] = Counter()
    for order in logged:
        units[order["user"]] += order["quantity"]
    above = {user: count for user, count in units.items() if count > LIMIT}
    assert not above, f"buyers above the limit of {LIMIT}: {above}"


def check_reconciled(answer: dict[str, Any], sold: int) -> None:
    """Reconciliation is ok and the figures add up: remaining + sold == released."""
    assert answer["ok"] is True, answer
    assert len(answer["sales"]) == 1, answer
    figures = answer["sales"][0]
    assert figures["remaining"] + figures["sold"] == figures["released"], figures
    assert figures["sold"] == figures["logged_units"] == sold, (figures, sold)
    assert figures["remaining"] >= 0, figures


# buyers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    """An accepted buy as the buyer heard it."""

    user: str
    key: str
    quantity: int
    order: str


@dataclass
class Buyer:
    """A viewer buying through one socket, failing over to the next node when it dies.

    It keeps ``(epoch, high)`` as docs/protocol.md section 10 says and resumes with
    them; ``welcomes`` keeps every welcome after the first. A request whose socket dies
    before its answer is sent again, under the same key, on the new socket.
    """

    user: str
    nodes: list[Node]
    room: str
    home: int = 0
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    quantities: dict[str, int] = field(default_factory=dict)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    epoch: str = ""
    high: int = 0
    client: Client | None = None
    _ids: int = 0

    @property
    def node(self) -> Node:
        return self.nodes[self.home % len(self.nodes)]

    async def connect(self) -> None:
        token = mint(self.room, "viewer", self.user)
        resume = {"epoch": self.epoch, "seq": self.high} if self.epoch else {}
        self.client = await Client.connect(self.node.ws_url(token, **resume))
        welcome = self.client.welcome
        if self.epoch:
            self.welcomes.append(welcome)
        if not welcome.get("resumed"):
            self.epoch, self.high = welcome["epoch"], int(welcome["seq"])

    async def reconnect(self, seconds: float = 15) -> None:
        """Connect to the next node that answers, within ``seconds``.

        A refusal with 1013 (try again later) or a dead node moves on to the next node
        after a short pause, as docs/protocol.md section 14 tells clients to.
        """
        deadline = time.monotonic() + timeout(seconds)
        while True:
            self.home += 1
            try:
                await self.connect()
                return
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                self.refusals.append(repr(exc))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.user} found no node to reconnect to: {self.refusals}")
            await asyncio.sleep(0.05)

    def see(self, frame: dict[str, Any]) -> None:
        if frame.get("t") == "snapshot":
            self.epoch, self.high = frame["epoch"], int(frame["seq"])
        elif frame.get("t") == "batch":
            seqs = [int(event["seq"]) for event in frame.get("ev", [])]
            self.high = max([self.high, int(frame["seq"]), *seqs])

    async def request(self, frame: dict[str, Any], seconds: float = 20) -> dict[str, Any]:
        """Send ``frame`` until it is answered; fail over to the next node when the socket dies."""
        deadline = time.monotonic() + timeout(seconds)
        self._ids += 1
        ref = f"{self.user}-{self._ids}"
        while time.monotonic() < deadline:
            assert self.client is not None
            try:
                await self.client.send({**frame, "id": ref})
                while True:
                    reply = await self.client.receive(max(0.1, deadline - time.monotonic()))
                    self.see(reply)
                    if reply.get("id") == ref and reply.get("t") in ("ack", "error"):
                        return reply
            except ConnectionClosed:
                if "key" in frame:
                    self.retried.append(str(frame["key"]))
                await self.reconnect()
        raise TimeoutError(f"{self.user}: no answer to {frame}")

    async def buy(self, sale: str, key: str, quantity: int = 1) -> dict[str, Any]:
        reply = await self.request({"t": "buy", "sale": sale, "qty": quantity, "key": key})
        self.answers[key] = reply
        self.quantities[key] = quantity
        return reply

    def accepted(self) -> list[Ack]:
        return [
            Ack(self.user, key, self.quantities[key], str(reply["order"]))
            for key, reply in self.answers.items()
            if reply.get("t") == "ack" and reply.get("outcome") == "accepted"
        ]

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), timeout(2))


@contextlib.asynccontextmanager
async def connected(buyers: Sequence[Buyer], at_once: int = 50) -> AsyncIterator[None]:
    """Connect every buyer (``at_once`` handshakes in flight); close them all on exit."""
    gate = asyncio.Semaphore(at_once)

    async def one(buyer: Buyer) -> None:
        async with gate:
            await buyer.connect()

    try:
        await asyncio.gather(*(one(buyer) for buyer in buyers))
        yield
    finally:
        await asyncio.gather(*(buyer.close() for buyer in buyers))


def accepted_units(buyers: Sequence[Buyer]) -> int:
    return sum(ack.quantity for buyer in buyers for ack in buyer.accepted())


# processes' memory -------------------------------------------------------------

MIB: Final = 1024 * 1024


class RssSampler:
    """Samples a process's resident set size every ``interval_s`` on a thread; ``peak``."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append(int(self.process.memory_info().rss))
            self._stop.wait(self.interval_s)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout(5))


# a client that stops reading ----------------------------------------------------


async def stalled_socket(node: Node, token: str, mss: int = 536) -> RawSocket:
    """A websocket that never reads, with a tiny receive buffer and segment size.

    A small MSS (as on many mobile links) keeps the node's kernel send buffer from
    autotuning to megabytes on loopback, so the node's own queue for the socket starts
    growing after a few hundred KB instead of after several MB.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", node.port)), timeout(5))
    request = (
        f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: bGl2ZWNvbi1zdGFsbGVkLQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:  # read the handshake answer only, nothing after it
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), timeout(5))
        assert chunk, "the node closed the connection during the handshake"
        head += chunk
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return RawSocket(sock, b"")

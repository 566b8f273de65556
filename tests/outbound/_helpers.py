"""Shared pieces of the outbound tests: a real webhook receiver and the snack show on a node.

- :class:`Receiver`: an HTTP server (``http.server`` on 127.0.0.1, a free port, its own
  thread) that records every request the webhook sender makes. It can be told to
  answer the next ``k`` requests with 500 or to hang past the sender's timeout,
  and it drops duplicates by the order id the way a shop's backend must
  (:meth:`Receiver.orders`).
- :func:`is_signed`: checks ``X-Livecon-Signature`` with :func:`console.commerce.webhook.sign`.
- :func:`run_snack_sale`: a controller runs ``scripts/snack-party.toml`` to the first
  product segment (index 3, "nuts", whose sale starts by itself) and viewers buy.

Every wait is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast

import httpx

from console.commerce.webhook import sign
from tests.support import ADMIN_KEY, ROOT, Client, Node, eventually, mint, timeout

ROOM: Final = "snack"
SNACK_SCRIPT: Final = ROOT / "scripts" / "snack-party.toml"
NUTS_SEGMENT: Final = 3
"""The first product segment of the snack show; its sale of "nuts" starts on entry."""
NUTS_PRICE_FEN: Final = 6990
ADMIN_HEADERS: Final = {"Authorization": f"Bearer {ADMIN_KEY}"}
WEBHOOK_SECRET: Final = "webhook-secret-for-tests"


# the receiver ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request as the receiver got it; ``status`` is what it answered."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    status: int
    at: float
    """``time.monotonic()`` on arrival."""

    @property
    def order_id(self) -> str:
        return self.headers.get("x-livecon-delivery", "")

    @property
    def payload(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def order(self) -> dict[str, Any]:
        order: dict[str, Any] = self.payload["order"]
        return order

    @property
    def is_accepted(self) -> bool:
        return 200 <= self.status < 300


class _Server(ThreadingHTTPServer):
    """Request threads are not daemons: :meth:`server_close` waits for every one."""

    daemon_threads = False

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender that gave up on a hung request closed its socket: nothing to report."""


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver = cast(_Server, self.server).receiver
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = receiver.answer(self.path, headers, body)
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads :attr:`Receiver.deliveries` instead."""


class Receiver:
    """A webhook endpoint that records every request; see the module docstring.

    Thread-safe: requests are handled on the server's threads while the test reads.
    """

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._failing = 0
        self._hanging = 0
        self._hang_s = 0.0
        self._released = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        port = int(self._server.server_address[1])
        return f"http://127.0.0.1:{port}/hooks/orders"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let hung requests finish, stop serving and wait for the server thread."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout(5))

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` requests with 500 (not processed)."""
        with self._lock:
            self._failing = count

    def hang_next(self, count: int, seconds: float) -> None:
        """Process the next ``count`` requests but answer them only after ``seconds``."""
        with self._lock:
            self._hanging, self._hang_s = count, seconds

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Record one request and say what to answer (called on a server thread)."""
        with self._lock:
            hang_s, status = 0.0, 200
            if self._hanging:
                self._hanging -= 1
                hang_s = self._hang_s
            elif self._failing:
                self._failing -= 1
                status = 500
            self.deliveries.append(Delivery(path, headers, body, status, time.monotonic()))
        if hang_s:
            self._released.wait(hang_s)
        return status

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def processed(self) -> list[Delivery]:
        """Requests the receiver processed (answered 2xx, perhaps too late), in arrival order."""
        return [delivery for delivery in self.snapshot() if delivery.is_accepted]

    def orders(self) -> dict[str, dict[str, Any]]:
        """The receiver's dedupe: each processed order once, by ``X-Livecon-Delivery``,
        in first-arrival order."""
        unique: dict[str, dict[str, Any]] = {}
        for delivery in self.processed():
            unique.setdefault(delivery.order_id, delivery.order)
        return unique


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    """A started :class:`Receiver`, stopped on exit."""
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def is_signed(delivery: Delivery, secret: bytes) -> bool:
    """Whether ``delivery`` carries the signature ``secret`` makes for its timestamp and body."""
    timestamp = int(delivery.headers["x-livecon-timestamp"])
    expected = sign(secret, timestamp, delivery.body)
    return hmac.compare_digest(delivery.headers["x-livecon-signature"], expected)


async def until_received(server: Receiver, order_ids: Sequence[str], seconds: float = 5) -> None:
    """Return once ``server`` has processed every one of ``order_ids``."""
    wanted = set(order_ids)

    async def arrived() -> bool:
        return wanted <= set(server.orders())

    try:
        await eventually(arrived, seconds, "webhook deliveries")
    except TimeoutError as exc:
        missing = sorted(wanted - set(server.orders()))
        raise AssertionError(f"never delivered: {missing}") from exc


# the snack show on a node ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purchase:
    """A viewer's accepted buy: the ack's order id and amount (fen)."""

    user: str
    quantity: int
    order: str
    amount: int


def snack_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Node environment that preloads the snack show into :data:`ROOM`."""
    return {"LIVECON_SCRIPTS": f"{ROOM}={SNACK_SCRIPT}", **(extra or {})}


async def script_command(controller: Client, command: str, **fields: int) -> dict[str, Any]:
    """A controller's ``script`` command; insist on its ack."""
    frame = {"t": "script", "command": command, "id": f"{command}-{time.monotonic_ns()}", **fields}
    answer = await controller.request(frame)
    assert answer.get("t") == "ack", answer
    return answer


async def open_sales(node: Node) -> list[dict[str, Any]]:
    """The room's sales as ``GET /api/rooms/{room}/reconcile`` lists them."""
    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        response = await http.get(f"/api/rooms/{ROOM}/reconcile", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    sales: list[dict[str, Any]] = response.json()["sales"]
    return sales


async def buy(node: Node, sale: str, user: str, quantity: int) -> Purchase:
    """One viewer's buy through its own socket; insist it was accepted."""
    viewer = await Client.connect(node.ws_url(mint(ROOM, "viewer", user, name=user)))
    try:
        frame = {"t": "buy", "sale": sale, "qty": quantity, "key": f"{user}-key-1", "id": 1}
        answer = await viewer.request(frame)
    finally:
        await viewer.close()
    assert answer.get("t") == "ack", answer
    assert answer.get("outcome") == "accepted", answer
    return Purchase(user, quantity, str(answer["order"]), int(answer["amount"]))


async def run_snack_sale(
    node: Node, buys: Sequence[tuple[str, int]], end: bool = False
) -> tuple[str, list[Purchase]]:
    """Start the snack show, step to the nuts segment, let ``buys`` (user, quantity) buy.

    With ``end`` the controller then ends the sale and the show. Returns the sale id
    and the accepted purchases in the order they were made.
    """
    controller = await Client.connect(node.ws_url(mint(ROOM, "controller", "boss", name="boss")))
    try:
        await script_command(controller, "start")
        for _ in range(NUTS_SEGMENT):
            await script_command(controller, "next")
        sales = await open_sales(node)
        assert [sale["sale"].split("-")[0] for sale in sales] == ["nuts"], sales
        sale = str(sales[0]["sale"])
        purchases = [await buy(node, sale, user, quantity) for user, quantity in buys]
        if end:
            frame = {"t": "sale", "command": "end", "sale": sale, "id": "end-sale"}
            answer = await controller.request(frame)
            assert answer.get("t") == "ack", answer
            await script_command(controller, "end")
    finally:
        await controller.close()
    return sale, purchases

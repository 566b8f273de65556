"""Buys through the hub: livecon nodes, a show with two products, buyer processes.

One :class:`HubBench` per mode (embedded, or N nodes sharing Redis). Every
phase runs on a fresh sale: ``bulk`` (a billion units, so every buy takes the
accepted path: Lua script, order event, direct frame, metrics) for the rate
and flat-out phases; ``hot`` (a small stock) for the sell-out phase, where
buyers outnumber units. After each phase a controller's dashboard is read:
its ``sale:<id>`` state must show exactly the units the acks accepted, and
never more than the stock (oversell).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

import psutil

from tests.support import ADMIN_KEY, Client, Node, mint

from ._runtime import run
from .buy_clients import BuyerPlan, BuyerPool, Phase
from .fanout_bench import machine_busy_seconds
from .pool import split

__all__ = ["HUB_SETTINGS", "HubBench", "bench_script"]

SALE_START_ATTEMPTS: Final = 25
PROFILE_ATTACH_S: Final = 0.3
"""py-spy's head start, so that it samples from the first buy on."""
HUB_SETTINGS: Final = {
    "rate_per_s": {"viewer": 1_000_000},
    "burst": 1_000_000,
    "max_connections_per_address": 1_000_000,
}
"""Every buyer socket comes from 127.0.0.1 and sends far above a person's rate."""

_SCRIPT: Final = """\
[show]
title = "Buy benchmark"
host = "Bench"
starts_at = 2026-12-01T20:00:00+08:00
currency = "CNY"

[[products]]
id = "bulk"
name = "Bulk item"
anchor_price = 2990
live_price = 1990
stock = 1000000000
limit_per_buyer = 1000000
selling_points = ["Never sells out"]

[[products]]
id = "hot"
name = "Hot item"
anchor_price = 2990
live_price = 1990
stock = {hot_stock}
limit_per_buyer = 1000000
selling_points = ["Sells out"]

[[segments]]
kind = "opening"
title = "Hello"
duration_s = 60
talking_points = ["Welcome"]

[[segments]]
kind = "product"
title = "Bulk"
duration_s = 300
product = "bulk"
talking_points = ["Buy now"]

[[segments]]
kind = "closing"
title = "Thanks"
duration_s = 60
step = "thanks"
"""


def bench_script(hot_stock: int) -> str:
    return _SCRIPT.format(hot_stock=hot_stock)


def _put_script(node: Node, room: str, text: str) -> None:
    request = urllib.request.Request(
        f"{node.base}/api/rooms/{room}/script",
        data=text.encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    if not answer.get("loaded"):
        raise RuntimeError(f"the bench script was refused: {answer}")


async def _controller(node: Node, room: str) -> Client:
    return await Client.connect(node.ws_url(mint(room, "controller", "bench-boss")))


async def _start_sale(node: Node, room: str, product: str) -> str:
    """Start a sale of ``product``, retrying while the node has not read the script yet.

    A node reads a newly loaded script on its next housekeeping pass (about once a
    second) and refuses a sale of its products until then.
    """
    client = await _controller(node, room)
    try:
        for attempt in range(1, SALE_START_ATTEMPTS + 1):
            frame = {"t": "sale", "command": "start", "product": product, "id": attempt}
            answer = await client.request(frame)
            if answer.get("t") == "ack" or "no product" not in str(answer.get("message")):
                break
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    if answer.get("t") != "ack":
        raise RuntimeError(f"could not start a sale of {product}: {answer}")
    return str(answer["sale"])


async def _dashboard_view(
    node: Node, room: str, sale: str, sold: int, seconds: float
) -> dict[str, Any]:
    """The dashboard's ``sale:<id>`` state once it shows ``sold`` units (or after ``seconds``)."""
    key = f"sale:{sale}"
    client = await _controller(node, room)
    view: dict[str, Any] = client.welcome.get("st", {}).get(key, {})
    deadline = time.monotonic() + seconds
    try:
        while view.get("sold") != sold and time.monotonic() < deadline:
            try:
                frame = await client.receive(max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            view = frame.get("st", {}).get(key, view)
    finally:
        await client.close()
    return view


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class HubBench:
    """``count`` nodes (Redis when ``redis_url``, else one embedded node) and buyer processes."""

    def __init__(
        self, label: str, redis_url: str, count: int, sockets: int, clients: int, hot_stock: int
    ) -> None:
        self.label = label
        self.room = f"buybench-{label}"
        self.redis_url = redis_url
        self.hot_stock = hot_stock
        self.data_dir = Path(tempfile.mkdtemp(prefix="livecon-buybench-"))
        self.nodes: list[Node] = []
        self.pool: BuyerPool | None = None
        self.connected: list[dict[str, Any]] = []
        self.sockets = 0
        try:
            self._start(redis_url, count, sockets, clients)
        except BaseException:
            self.close()
            raise
        self._phases = 0

    def _start(self, redis_url: str, count: int, sockets: int, clients: int) -> None:
        env = {"LIVECON_HUB_SETTINGS": json.dumps(HUB_SETTINGS)}
        for index in range(count):
            data_dir = self.data_dir / f"n{index}"
            data_dir.mkdir(parents=True)
            self.nodes.append(Node.start(redis_url, f"{self.label}-{index}", 100, data_dir, env))
        _put_script(self.nodes[0], self.room, bench_script(self.hot_stock))
        ports = tuple(node.port for node in self.nodes)
        plans = [
            BuyerPlan("127.0.0.1", ports, self.room, first, share)
            for first, share in split(sockets, clients)
        ]
        self.pool = BuyerPool(plans)
        self.connected = self.pool.wait_connected(120)
        self.sockets = sum(report["connected"] for report in self.connected)

    def node_pids(self) -> list[int]:
        return [node.process.pid for node in self.nodes]

    def run_phase(
        self,
        product: str,
        seconds: float,
        rate: float | None,
        redis_pid: int | None,
        profile: Path | None = None,
    ) -> dict[str, Any]:
        """One phase on a fresh sale of ``product``; raw tallies, CPU and the dashboard's view."""
        pool = self.pool
        assert pool is not None
        sale = run(_start_sale(self.nodes[0], self.room, product))
        self._phases += 1
        count = len(pool.pipes)
        rates: list[float | None] = (
            [float(share) for _, share in split(int(rate), count)]
            if rate is not None
            else [None] * count
        )
        tag = f"{self.label}-p{self._phases}"
        phases = [Phase(sale, tag, seconds, share) for share in rates]
        watched = {
            "node": self.node_pids(),
            "redis": [redis_pid] if redis_pid else [],
            "clients": pool.pids(),
        }
        watched["bench"] = [os.getpid()]
        before = {name: _cpu_seconds(pids) for name, pids in watched.items()}
        machine_before = machine_busy_seconds()
        spy = _start_profile(self.nodes[0].process.pid, seconds, profile) if profile else None
        began = time.monotonic()
        stats = pool.run_phase(phases)
        elapsed = time.monotonic() - began
        after = {name: _cpu_seconds(pids) for name, pids in watched.items()}
        used = {name: after[name] - before[name] for name in watched}
        others = machine_busy_seconds() - machine_before - sum(used.values())
        if spy is not None:
            spy.wait(seconds + 30)
        accepted = sum(item["accepted_units"] for item in stats)
        view = run(_dashboard_view(self.nodes[0], self.room, sale, accepted, 10))
        return {
            "sale": sale,
            "product": product,
            "seconds": seconds,
            "rate": rate,
            "stats": stats,
            "cpu_s": used,
            "others_cpu_cores": max(0.0, others) / elapsed,
            "elapsed_s": elapsed,
            "dashboard": view,
        }

    def problems(self) -> list[str]:
        """Error lines from the nodes' logs (first few)."""
        lines: list[str] = []
        for node in self.nodes:
            text = node.log_path.read_text(errors="replace").splitlines()
            lines += [line for line in text if "Error" in line or "Traceback" in line][:5]
        return lines

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        for node in self.nodes:
            node.stop()


def _start_profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the node for the phase (raw collapsed stacks in ``output``).

    Blocking mode (the node is paused for each of 100 samples/s): non-blocking
    reads of a running interpreter came back with truncated stacks.
    """
    spy = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    command = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        "100",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(PROFILE_ATTACH_S)
    return process

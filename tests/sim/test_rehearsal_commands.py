"""``livecon rehearse`` against a node it does not own, and the Locust file, run for real.

The demo's runs, and rehearsals on nodes of their own, are in ``test_stage_troubles.py``.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_KEY, ROOT, Client, Node, eventually, mint, timeout

pytestmark = pytest.mark.integration

LIVECON = [sys.executable, "-m", "console.cli"]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node.start(data_dir=tmp_path)
    yield started
    started.stop()


def run(args: list[str], seconds: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout(seconds),
        check=False,
    )


async def open_a_sale(node: Node, room: str) -> None:
    """Load the snack show into ``room`` and go to its first product segment (its sale opens)."""
    script = (ROOT / "scripts" / "snack-party.toml").read_bytes()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=node.base, headers=headers) as http:
        answer = await http.put(f"/api/rooms/{room}/script", content=script)
        assert answer.status_code == 200, answer.text
    controller = await Client.connect(node.ws_url(mint(room, "controller", "ctl")))
    timeline = await controller.receive_until(
        lambda frame: frame.get("st", {}).get("timeline", {}).get("phase") == "not_started"
    )
    segments = timeline["st"]["timeline"]["segments"]
    first = next(i for i, segment in enumerate(segments) if segment["kind"] == "product")
    assert (await controller.request({"t": "script", "command": "start", "id": 1}))["t"] == "ack"
    goto = {"t": "script", "command": "goto", "target": first, "id": 2}
    assert (await controller.request(goto))["t"] == "ack"
    await controller.close()

    async def sale_is_open() -> bool:
        viewer = await Client.connect(node.ws_url(mint(room, "viewer", "peek")))
        await viewer.close()
        return any(key.startswith("sale:") for key in viewer.welcome["st"])

    await eventually(sale_is_open, 5, "the first product's sale")


def test_rehearse_drives_viewers_against_a_node(node: Node) -> None:
    room = "rehearsal-test"
    asyncio.run(open_a_sale(node, room))
    args = ["rehearse", "--url", node.base, "--room", room, "--viewers", "8", "--duration", "5"]
    script = str(ROOT / "scripts" / "snack-party.toml")
    done = run(
        [*LIVECON, *args, "--trouble", "stampede@3", "--script", script],
        30,
        LIVECON_ADMIN_KEY=ADMIN_KEY,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    progress = re.findall(r"^\[\s+\d+s\] viewers\s+(\d+)", done.stdout, re.MULTILINE)
    assert len(progress) >= 3
    assert max(int(count) for count in progress) > 0
    summary = done.stdout.splitlines()[-1]
    assert summary.startswith("rehearsal done:")
    assert "connect_failures=0" in summary
    assert int(re.findall(r"orders=(\d+)", summary)[0]) > 0
    assert int(re.findall(r"frames=(\d+)", summary)[0]) > 0


def test_rehearse_refuses_a_real_room(node: Node) -> None:
    args = ["rehearse", "--url", node.base, "--room", "beauty-night", "--duration", "1"]
    done = run([*LIVECON, *args, "--admin-key", ADMIN_KEY], 20)
    assert done.returncode == 2
    assert "not a rehearsal room" in done.stderr


def test_locust_smoke_run_has_no_failures(node: Node, tmp_path: Path) -> None:
    locust = Path(sys.executable).parent / "locust"
    args = [str(locust), "-f", "loadtests/locustfile.py", "--headless", "-u", "5", "-r", "5"]
    args += ["-t", "5s", "--host", node.base, "--csv", str(tmp_path / "run"), "--only-summary"]
    done = run(
        args, 40, LIVECON_ADMIN_KEY=ADMIN_KEY, LIVECON_ROOM="rehearsal-locust", LIVECON_STEP_S="2"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "run_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert rows["Aggregated"]["Failure Count"] == "0"
    assert int(rows["connect"]["Request Count"]) == 5
    assert int(rows["frame"]["Request Count"]) > 0
    assert "script start" in rows

"""Stage trouble for real: a hub node restarts and Redis crashes in the middle of a show.

``livecon demo`` restarts its in-process embedded node, and with ``--redis`` crashes
its private redis-server for 2 s; ``livecon rehearse --spawn-nodes 2 --redis`` starts
two ``livecon serve`` nodes on a private redis-server, crashes Redis for 3 s and
restarts a node. Each runs in a subprocess with the show on the autopilot and is
judged on what it prints and on the record it saves: the room's orders, the
reconciliation, the sale events the viewers saw and the trouble's times. Asking for
stage trouble a run cannot make is refused before anything starts.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from tests.sim.test_rehearsal_commands import LIVECON, run
from tests.support import ADMIN_KEY, ROOT, free_port

SNACKS = str(ROOT / "scripts" / "snack-party.toml")


def summary_of(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split() if "=" in item and "[" not in item)


def orders_around(record: dict[str, Any], trouble: dict[str, Any]) -> tuple[int, int]:
    """Orders logged before the trouble began and after it was over."""
    times = [order["at"] for order in record["orders"]]
    return sum(at < trouble["down_at"] for at in times), sum(at > trouble["up_at"] for at in times)


def check_orders(record: dict[str, Any]) -> None:
    """Every acknowledged order is logged once, and the room reconciles."""
    orders = record["orders"]
    assert record["audit"]["missing"] == 0, record["audit"]
    assert record["audit"]["duplicates"] == 0, record["audit"]
    assert record["audit"]["acknowledged"] > 0
    assert len({order["id"] for order in orders}) == len(orders)
    assert len({order["request_id"] for order in orders}) == len(orders)
    assert record["reconcile"]["ok"] is True, record["reconcile"]


def is_closed(address: str) -> bool:
    """Whether nothing listens at ``[scheme://]host:port`` any more."""
    host, port = address.rpartition("//")[2].split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


@pytest.mark.integration
def test_a_headless_demo_rides_out_a_node_restart_and_ends_reconciled(tmp_path: Path) -> None:
    port = free_port()
    trouble = "drop@6,stampede@9:5,node_restart@15:1,stampede@20:6"
    args = ["demo", "--duration", "28", "--speed", "60", "--viewers", "40", "--port", str(port)]
    done = run([*LIVECON, *args, "--data-dir", str(tmp_path), "--trouble", trouble], 55)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"http://127.0.0.1:{port}/report/demo?key=" in done.stdout
    assert re.search(r"^\[\s+\d+s\] viewers", done.stdout, re.MULTILINE)
    assert ">> node demo restarting" in done.stdout
    assert re.search(r"reconnects \d+\s+\| demo ok", done.stdout)
    summary = summary_of(done.stdout.splitlines()[-1])
    assert (summary["rehearsal"], summary["audit"], summary["reconcile"]) == ("true", "ok", "ok")
    assert summary["node_restarts"] == "1"
    assert int(summary["peak"]) > 0

    record = json.loads((tmp_path / "demo-report.json").read_text())
    assert record["rehearsal"] is True
    assert record["report"]["totals"]["orders"] == int(summary["orders"]) == len(record["orders"])
    check_orders(record)
    restart = record["stage"]["trouble"][0]
    assert restart["trouble"] == "node_restart"
    before, after = orders_around(record, restart)
    assert before > 0, (before, restart)
    assert after > 0, (after, restart)
    crowd = record["crowd"]
    assert crowd["closes"].get("1001", 0) > 0, crowd
    assert crowd["reconnects"] > 0, crowd
    entered = [
        s["entered_at_ms"] / 1000 for s in record["report"]["segments"] if s["entered_at_ms"]
    ]
    assert any(at > restart["up_at"] for at in entered), "the show did not go on after the restart"


@pytest.mark.integration
def test_rehearse_on_owned_nodes_rides_out_a_redis_crash_and_a_node_restart(
    tmp_path: Path,
) -> None:
    saved = tmp_path / "record.json"
    trouble = "stampede@8:4,redis_outage@12:3,node_restart@19:1,stampede@22:4"
    args = ["rehearse", "--spawn-nodes", "2", "--redis", "--room", "rehearsal-trouble"]
    args += ["--script", SNACKS, "--autopilot", "60", "--viewers", "30", "--duration", "27"]
    done = run([*LIVECON, *args, "--trouble", trouble, "--save", str(saved)], 55)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = summary_of(done.stdout.splitlines()[-1])
    assert (summary["redis_outages"], summary["node_restarts"]) == ("1", "1"), summary
    assert (summary["missing"], summary["duplicates"], summary["reconcile"]) == ("0", "0", "ok")

    # The hub kept serving its own sockets while Redis was down, and said it was degraded.
    down = [line for line in done.stdout.splitlines() if line.endswith("redis down")]
    assert any(int(re.findall(r"recv\s+(\d+)/s", line)[0]) > 0 for line in down), down
    assert any("degraded" in line for line in down), down

    record = json.loads(saved.read_text())
    check_orders(record)
    outage, restart = record["stage"]["trouble"]
    assert (outage["trouble"], restart["trouble"], restart["node"]) == (
        "redis_outage",
        "node_restart",
        "n1",
    )
    events = [e for e in record["sale_events"] if e["at"] > outage["up_at"] - 1]
    paused = [e for e in events if e["type"] == "sale_paused"]
    resumed = [e for e in events if e["type"] == "sale_resumed"]
    assert paused, events
    assert all(e["reason"] == "reconciling" for e in paused), events
    assert {e["sale"] for e in resumed} == {e["sale"] for e in paused}, events
    assert orders_around(record, restart)[1] > 0, "no order after the node came back"
    crowd = record["crowd"]
    assert crowd["closes"].get("1001", 0) > 0, crowd
    assert crowd["resumed"] > 0, crowd
    assert all(is_closed(node["base"]) for node in record["stage"]["nodes"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["rehearse", "--url", "http://127.0.0.1:9", "--trouble", "node_restart@5"],
            "node_restart needs nodes this run owns: use --spawn-nodes",
        ),
        (
            ["rehearse", "--url", "http://127.0.0.1:9", "--trouble", "redis_outage@5"],
            "redis_outage needs a Redis this run owns: use --spawn-nodes",
        ),
        (
            ["rehearse", "--spawn-nodes", "1", "--script", SNACKS, "--trouble", "redis_outage@5"],
            "redis_outage needs a Redis this run owns: add --redis",
        ),
        (["rehearse", "--spawn-nodes", "2", "--script", SNACKS], "more than one node needs"),
        (["rehearse", "--spawn-nodes", "1"], "--spawn-nodes needs --script"),
        (["rehearse", "--url", "http://127.0.0.1:9", "--redis"], "--redis starts a private"),
        (["demo", "--trouble", "redis_outage@5"], "redis_outage needs a Redis this run owns"),
        (["demo", "--trouble", "earthquake@5"], "expected KIND@SECONDS"),
    ],
)
def test_stage_trouble_a_run_cannot_make_is_refused_before_it_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    room = ["--room", "rehearsal-x", "--admin-key", ADMIN_KEY] if argv[0] == "rehearse" else []
    with pytest.raises(SystemExit) as exited:
        main([*argv, *room])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.integration
def test_a_demo_on_its_own_redis_pauses_and_resumes_its_sales_after_a_crash(
    tmp_path: Path,
) -> None:
    args = ["demo", "--redis", "--duration", "20", "--speed", "60", "--viewers", "30"]
    args += ["--port", str(free_port()), "--data-dir", str(tmp_path)]
    done = run([*LIVECON, *args, "--trouble", "stampede@9:6,redis_outage@12:2"], 50)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = summary_of(done.stdout.splitlines()[-1])
    assert (summary["redis_outages"], summary["audit"], summary["reconcile"]) == ("1", "ok", "ok")
    record = json.loads((tmp_path / "demo-report.json").read_text())
    check_orders(record)
    outage = record["stage"]["trouble"][0]
    paused = [e for e in record["sale_events"] if e["type"] == "sale_paused"]
    assert paused, record["sale_events"]
    assert all(e["at"] > outage["up_at"] - 1 and e["reason"] == "reconciling" for e in paused)
    assert is_closed(record["stage"]["redis"].removesuffix("/0"))

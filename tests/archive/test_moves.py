"""Archives of a real show: export after a sale, import into fresh stores, same report.

A real node (``livecon serve``) runs part of the snack show with buys (one buyer
a known fan of the show's channel, so the fan section has both tiers); the
``livecon archive`` commands run as real processes against its stores.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import httpx

from console.archive import Archive, import_archive, load_archive, stores_for
from console.fandesk import channel_for
from console.report_api import build_room_report
from console.show import load_show
from tests.outbound._helpers import ADMIN_HEADERS, ROOM, SNACK_SCRIPT, run_snack_sale, snack_env
from tests.support import ROOT, Node, timeout

BUYS: Final = [("amy", 1), ("bob", 2), ("cai", 1)]
KNOWN_FAN: Final = "bob"
"""A fan of the snack show's channel before the show: returning; amy and cai are new."""
COMPARED: Final = ("totals", "segments", "products", "sales")


def livecon_archive(*args: str) -> subprocess.CompletedProcess[str]:
    """``livecon archive ...`` as a process; insist it succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "archive", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def other_db(redis_url: str, db: int) -> str:
    """The same private server, another (flushed) database."""
    import redis

    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def report_of(node: Node, room: str = ROOM, **query: str) -> dict[str, Any]:
    response = httpx.get(
        f"{node.base}/api/rooms/{room}/report",
        params=query,
        headers=ADMIN_HEADERS,
        timeout=timeout(10),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def commerce_of(report: dict[str, Any]) -> dict[str, Any]:
    """What survives any move (audience figures of embedded mode live in memory only)."""
    commerce = ("orders", "units", "gmv", "buyers", "aov")
    return {
        "totals": {name: report["totals"][name] for name in commerce},
        "products": [{k: row[k] for k in ("product", *commerce)} for row in report["products"]],
        "sales": report["sales"],
        "started_at_ms": report["started_at_ms"],
        "ended_at_ms": report["ended_at_ms"],
    }


async def sold_show(node: Node) -> None:
    await run_snack_sale(node, BUYS, end=True)


def know_fan(redis_url: str, data_dir: Path) -> None:
    """Make :data:`KNOWN_FAN` a fan of the snack show's channel in these stores."""
    show = load_show(SNACK_SCRIPT.read_text(encoding="utf-8"), SNACK_SCRIPT.name)[0]
    assert show is not None
    channel = channel_for(ROOM, show.channel)

    async def run() -> None:
        stores = stores_for(redis_url, data_dir)
        try:
            assert await stores.fans.import_fans(channel, [KNOWN_FAN], 0.0) == 1
        finally:
            await stores.close()

    asyncio.run(run())


def fans_of(report: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(tier, buyers, orders, GMV) per tier: what the buys above decide."""
    return [(t["tier"], t["buyers"], t["orders"], t["gmv"]) for t in report["fans"]["tiers"]]


SOLD_FANS: Final = [("new", 2, 2, 2 * 6990), ("returning", 1, 1, 2 * 6990), ("unknown", 0, 0, 0)]


async def imported_report(redis_url: str, data_dir: Path, archive: Archive) -> dict[str, Any]:
    """Import ``archive`` in this process and build the report as of its export."""
    stores = stores_for(redis_url, data_dir)
    await stores.open()
    try:
        await import_archive(stores, archive)
        return await build_room_report(stores, archive.room, archive.exported_at)
    finally:
        await stores.close()


def export_from(out: Path, redis_url: str = "", data_dir: Path | None = None) -> Archive:
    where = ["--redis", redis_url] if redis_url else ["--data-dir", str(data_dir)]
    done = livecon_archive("export", ROOM, "--out", str(out), *where)
    assert f"exported room {ROOM}: 1 sales, 3 orders, GMV 27960 fen" in done.stdout
    return load_archive(out)


def test_a_redis_show_reimports_to_the_same_report(redis_url: str, tmp_path: Path) -> None:
    know_fan(redis_url, tmp_path / "unused")
    node = Node.start(redis_url, env=snack_env())
    try:
        asyncio.run(sold_show(node))
        live = report_of(node)
    finally:
        node.stop()
    archive = export_from(tmp_path / "snack.jsonl", redis_url=redis_url)
    assert archive.report is not None
    assert archive.report["totals"]["gmv"] == 27960 == live["totals"]["gmv"]
    assert {k: archive.report[k] for k in COMPARED} == {k: live[k] for k in COMPARED}
    assert archive.counters
    assert archive.uniques["viewers"] >= 3
    assert fans_of(archive.report) == fans_of(live) == SOLD_FANS
    assert archive.fan_tiers["bob"].value == "returning"
    into_embedded = asyncio.run(imported_report("", tmp_path / "embedded", archive))
    assert json.dumps(into_embedded) == json.dumps(archive.report)
    target = other_db(redis_url, 1)
    into_redis = asyncio.run(imported_report(target, tmp_path / "unused", archive))
    assert json.dumps(into_redis) == json.dumps(archive.report)


def test_a_show_moves_from_embedded_to_redis_and_back(redis_url: str, tmp_path: Path) -> None:
    first = Path(tempfile.mkdtemp(prefix="livecon-archive-"))
    know_fan("", first)
    node = Node.start(data_dir=first, env=snack_env())
    try:
        asyncio.run(sold_show(node))
        embedded = report_of(node)
    finally:
        node.stop()
    archive = export_from(tmp_path / "a.jsonl", data_dir=first)
    assert archive.report is not None
    assert commerce_of(archive.report) == commerce_of(embedded)
    assert archive.report["fans"] == embedded["fans"]
    assert fans_of(embedded) == SOLD_FANS
    target = other_db(redis_url, 2)
    done = livecon_archive("import", str(tmp_path / "a.jsonl"), "--redis", target)
    assert f"imported room {ROOM}: 1 sales, 3 orders" in done.stdout
    node = Node.start(target)
    try:
        on_redis = report_of(node)
    finally:
        node.stop()
    assert commerce_of(on_redis) == commerce_of(embedded)
    assert on_redis["fans"] == embedded["fans"]
    back = export_from(tmp_path / "b.jsonl", redis_url=target)
    assert (back.fan_channel, back.fan_tiers) == (archive.fan_channel, archive.fan_tiers)
    second = tmp_path / "second"
    livecon_archive("import", str(tmp_path / "b.jsonl"), "--data-dir", str(second))
    node = Node.start(data_dir=second)
    try:
        again = report_of(node)
        assert commerce_of(again) == commerce_of(embedded)
        assert again["fans"] == embedded["fans"]
        reconciled = httpx.get(
            f"{node.base}/api/rooms/{ROOM}/reconcile", headers=ADMIN_HEADERS, timeout=timeout(5)
        ).json()
    finally:
        node.stop()
    assert reconciled["ok"]
    assert reconciled["sales"][0]["sold"] == 4
    assert back.orders == archive.orders
    assert back.audit[-1].action == archive.audit[-1].action


def test_a_file_that_is_not_an_archive_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("not an archive\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.cli",
            "archive",
            "import",
            str(path),
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )
    assert done.returncode == 1
    assert "line 1: not JSON" in done.stderr


def test_earlier_shows_sit_beside_this_one(redis_url: str, tmp_path: Path) -> None:
    node, path = Node.start(redis_url, env=snack_env()), tmp_path / "snack.jsonl"
    try:
        asyncio.run(sold_show(node))
        export_from(path, redis_url=redis_url)
        for room in ("snack-may", "demo-old"):
            livecon_archive("import", str(path), "--room", room, "--redis", redis_url)
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.cli",
                "archive",
                "import",
                str(path),
                "--redis",
                redis_url,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout(60),
            check=False,
        )
        assert refused.returncode == 1
        assert "already has a script" in refused.stderr
        table = report_of(node, compare="snack-may,demo-old,nobody")["comparison"]
        assert [row["room"] for row in table["shows"]] == ["snack-may", ROOM]
        assert [row["current"] for row in table["shows"]] == [False, True]
        may, now = table["shows"]
        assert may["gmv"] == now["gmv"] == 27960
        assert may["orders"] == 3
        assert may["product_gmv"]["nuts"] == 27960
        assert may["peak_online"] == now["peak_online"]
        assert may["conversion"] == now["conversion"]
        assert table["left_out"] == [
            {"room": "demo-old", "reason": "rehearsal (add rehearsals=1)"},
            {"room": "nobody", "reason": "no show in this room"},
        ]
        both = report_of(node, compare="snack-may,demo-old", rehearsals="1")["comparison"]
        assert [row["room"] for row in both["shows"]] == ["snack-may", "demo-old", ROOM]
        everything = report_of(node, compare="*")["comparison"]
        assert [row["room"] for row in everything["shows"]] == [ROOM]  # copies started as late
        assert "comparison" not in report_of(node)
        bad = httpx.get(
            f"{node.base}/api/rooms/{ROOM}/report",
            params={"compare": "no room!"},
            headers=ADMIN_HEADERS,
            timeout=timeout(5),
        )
        assert bad.status_code == 400
        page = httpx.get(
            f"{node.base}/report/{ROOM}",
            params={"key": "test-admin-key", "compare": "snack-may"},
            timeout=timeout(5),
        )
        assert page.status_code == 200
        assert "场次对比" in page.text
        assert "snack-may" in page.text
    finally:
        node.stop()

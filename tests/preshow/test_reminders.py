"""The reminders API on a real node: validation, per-address limit, CSV and ICS export, the
metric; and the ``reminder.due`` webhook delivered to a real receiver, signed, at least once."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.outbound._helpers import WEBHOOK_SECRET, Receiver, is_signed, receiver
from tests.preshow._helpers import write_script
from tests.support import ADMIN_KEY, Client, Node, eventually, mint, timeout

ROOM = "warm"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
URL = f"/api/rooms/{ROOM}/reminders"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    script = write_script(tmp_path)
    started = Node.start(data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"{ROOM}={script}"})
    try:
        yield started
    finally:
        started.stop()


async def test_reminders_are_validated_stored_and_exported(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        first = await http.post(URL, json={"viewer": "fan-1", "name": '小王, "Wang"'})
        assert first.status_code == 201, first.text
        assert first.json()["added"] is True, first.text
        again = await http.post(URL, json={"viewer": "fan-1", "name": "小王"})
        assert again.status_code == 200
        assert again.json()["added"] is False
        anonymous = await http.post(URL, json={})
        assert anonymous.status_code == 201
        assert anonymous.json()["viewer"].startswith("v-")
        bad = {
            "not json": b"{",
            "contact without consent": b'{"contact": "a@example.com"}',
            "viewer id": b'{"viewer": "no spaces allowed"}',
            "unknown field": b'{"phone": "1"}',
            "long name": b'{"name": "' + b"x" * 65 + b'"}',
        }
        for what, body in bad.items():
            answer = await http.post(URL, content=body)
            assert answer.status_code == 400, (what, answer.text)
            assert answer.json()["error"], what
        missing = await http.post("/api/rooms/nowhere/reminders", json={})
        assert missing.status_code == 404
        limited = [await http.post(URL, content=b"{") for _ in range(3)]
        assert limited[-1].status_code == 429, [r.status_code for r in limited]

        assert (await http.get(URL)).status_code == 401
        listed = (await http.get(URL, headers=HEADERS)).json()
        assert listed["count"] == 2
        exported = await http.get(URL, params={"format": "csv"}, headers=HEADERS)
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert rows[0]["viewer"] == "fan-1"
        assert rows[0]["name"] == "小王"
        ics = await http.get(URL, params={"format": "ics"}, headers=HEADERS)
        assert ics.headers["content-type"].startswith("text/calendar")
        lines = ics.text.split("\r\n")
        assert lines[0] == "BEGIN:VCALENDAR"
        assert lines[-2] == "END:VCALENDAR"
        assert lines.count("BEGIN:VEVENT") == 2
        assert "TRIGGER:-PT10M" in lines
        assert all(len(line.encode()) <= 75 for line in lines)
        assert any(line.startswith("UID:warm-fan-1-") for line in lines)
        unfolded = ics.text.replace("\r\n ", "")
        assert "SUMMARY:初禾预热夜 Warm-up <night>" in unfolded
        assert (await http.get(URL, params={"format": "xml"}, headers=HEADERS)).status_code == 400

    dashboard = await Client.connect(node.ws_url(mint(ROOM, "controller", "boss")))
    try:
        frame = await dashboard.receive_until(
            lambda f: (f.get("st") or {}).get("metrics", {}).get("reminders") == 2, 10
        )
        assert frame["st"]["metrics"]["reminders"] == 2
    finally:
        await dashboard.close()


def _due_node(tmp_path: Path, script: Path, server: Receiver) -> Node:
    env = {
        "LIVECON_SCRIPTS": f"{ROOM}={script}",
        "LIVECON_WEBHOOK_URL": server.url,
        "LIVECON_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LIVECON_REMINDER_LEAD_S": "300",
    }
    return Node.start(data_dir=tmp_path, env=env)


async def test_due_reminders_reach_the_webhook_signed_at_least_once(tmp_path: Path) -> None:
    with receiver() as server:
        server.fail_next(2)  # the first attempts fail: the delivery must be retried
        script = write_script(tmp_path, starts_in_s=120)
        node = _due_node(tmp_path, script, server)
        try:
            async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
                for viewer in ("fan-1", "fan-2"):
                    answer = await http.post(
                        URL, json={"viewer": viewer, "contact": f"{viewer}@x.test", "consent": True}
                    )
                    assert answer.status_code == 201, answer.text

            async def delivered() -> bool:
                return any(
                    d.headers.get("x-livecon-event") == "reminder.due" for d in server.processed()
                )

            await eventually(delivered, 20, "the reminder.due webhook")

            async def remembered() -> bool:
                # a stop between the 2xx and this record would send it again (at least once)
                with sqlite3.connect(tmp_path / "livecon.db") as db:
                    rows = db.execute("SELECT delivery FROM reminder_sent").fetchall()
                return len(rows) == 1

            await eventually(remembered, 5, "the delivery to be recorded")
        finally:
            node.stop()
        due = [d for d in server.snapshot() if d.headers.get("x-livecon-event") == "reminder.due"]
        accepted = [d for d in due if d.is_accepted]
        assert len(due) >= 3, [d.status for d in due]
        assert len(accepted) == 1, [d.status for d in due]
        delivery = accepted[0]
        assert is_signed(delivery, WEBHOOK_SECRET.encode())
        assert not is_signed(delivery, b"another secret")
        payload = delivery.payload
        assert payload["event"] == "reminder.due"
        assert payload["room"] == ROOM
        assert [r["viewer"] for r in payload["reminders"]] == ["fan-1", "fan-2"]
        assert payload["reminders"][0]["contact"] == "fan-1@x.test"
        assert delivery.headers["x-livecon-delivery"].startswith(f"reminder-{ROOM}-")

        # a restarted node remembers the delivery and does not send it again
        node = _due_node(tmp_path, script, server)
        try:
            count = len(server.snapshot())
            async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
                assert (await http.get("/healthz")).status_code == 200
            # a negative check: watch for a window of several one-second dispatcher passes
            await asyncio.sleep(timeout(2.5))
            assert len(server.snapshot()) == count
        finally:
            node.stop()

"""Lotteries on a real node: entering by keyword, the commit-reveal draw, buyers only,
one lottery at a time, and the audit log that lets anyone re-run the draw."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from console.lottery import draw, entrants_digest
from tests.support import Node

from ._helpers import SNACK, Screen, advance_to, audit_actions, running_node, screen

pytestmark = pytest.mark.integration

KEYWORD = "抽我"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("lottery")) as started:
        yield started


@contextlib.asynccontextmanager
async def viewers(node: Node, room: str, count: int) -> AsyncIterator[list[Screen]]:
    """Viewers ``v1``..``vN`` named ``观众1``..``观众N``."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                screen(node, room, "viewer", f"v{number}", name=f"观众{number}")
            )
            for number in range(1, count + 1)
        ]


async def open_lottery(controller: Screen, **fields: Any) -> dict[str, Any]:
    """Open a lottery; return the ``lottery_opened`` event the controller received."""
    since = controller.mark()
    answer = await controller.acked({"t": "lottery", "command": "open", **fields})
    assert answer["status"] == "open", answer
    return await controller.event_where(
        "lottery_opened", lambda event: event["lottery"] == answer["lottery"], since=since
    )


async def entries_followed(controller: Screen, lottery: str) -> None:
    """Return once the node's once-a-second refresh has picked up ``lottery``.

    ``open`` publishes the lottery's state itself; every later ``lottery`` state comes
    from the refresh, which reads the open lottery before it publishes.
    """
    since = controller.mark()
    await controller.state_where(
        "lottery", lambda view: view["lottery"] == lottery, since=since, seconds=5
    )


def audited(entries: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [entry for entry in entries if entry["action"] == action]
    assert len(found) == 1, (action, [entry["action"] for entry in entries])
    return found[0]


async def test_a_keyword_lottery_is_drawn_fairly_among_those_who_commented(node: Node) -> None:
    room = "lucky"
    async with (
        screen(node, room, "controller", "c") as controller,
        screen(node, room, "host", "h") as host,
        viewers(node, room, 7) as people,
    ):
        opened = await open_lottery(
            controller, prize="体验装礼盒", keyword=KEYWORD, winners=3, window_s=120
        )
        assert "seed" not in opened
        assert opened["entrants"] == 0
        seen_by_viewer = await people[0].event_where("lottery_opened")
        assert seen_by_viewer["seed_sha256"] == opened["seed_sha256"]
        await entries_followed(controller, opened["lottery"])

        for viewer in people[:5]:
            assert (await viewer.comment(f"{KEYWORD}！"))["published"] is True
        await people[0].comment(f"{KEYWORD} {KEYWORD}")
        await people[1].comment("抽 我 抽我")
        await people[5].comment("好看")
        assert (await people[6].comment(f"{KEYWORD} 加微信"))["published"] is False
        await controller.state_where("lottery", lambda view: view["entrants"] == 5)

        since = [screen_.mark() for screen_ in (controller, host, people[6])]
        answer = await controller.acked({"t": "lottery", "command": "draw"})
        assert answer["entrants"] == 5
        assert len(answer["winners"]) == 3

        drawn = [
            await reader.event_where("lottery_drawn", since=mark)
            for reader, mark in zip((controller, host, people[6]), since, strict=True)
        ]
        assert all(event["winners"] == answer["winners"] for event in drawn)
        seed = drawn[0]["seed"]
        assert hashlib.sha256(str(seed).encode()).hexdigest() == opened["seed_sha256"]
        assert drawn[0]["status"] == "drawn"

        winners = await controller.event_where("lottery_winners", since=since[0])
        users = [winner["user"] for winner in winners["winners"]]
        assert len(set(users)) == 3, "nobody wins twice"
        assert set(users) <= {"v1", "v2", "v3", "v4", "v5"}
        assert [winner["name"] for winner in winners["winners"]] == answer["winners"]
        assert all(
            name == f"观众{user[1:]}" for name, user in zip(answer["winners"], users, strict=True)
        )
        assert not people[6].events("lottery_winners"), "user ids stay with the controllers"

    entries = await audit_actions(node, room)
    opening = audited(entries, "lottery.open")["after"]
    assert opening["seed"] is None
    assert opening["seed_sha256"] == opened["seed_sha256"]
    record = audited(entries, "lottery.draw")["after"]
    assert record["seed"] == seed
    assert record["entrants"] == ["v1", "v2", "v3", "v4", "v5"]
    assert record["entrants_sha256"] == entrants_digest(record["entrants"])
    assert record["winners"] == users
    assert draw(record["entrants"], 3, record["seed"]) == users


async def test_a_keyword_comment_right_after_the_opening_enters(node: Node) -> None:
    """A viewer who sees the lottery open and answers at once is entered."""
    room = "quick"
    async with (
        screen(node, room, "controller", "c") as controller,
        viewers(node, room, 1) as (viewer,),
    ):
        opened = await open_lottery(controller, keyword=KEYWORD, winners=1)
        await viewer.event_where("lottery_opened")
        assert (await viewer.comment(KEYWORD))["published"] is True
        await entries_followed(controller, opened["lottery"])
        answer = await controller.acked({"t": "lottery", "command": "draw"})
        assert (answer["entrants"], answer["winners"]) == (1, ["观众1"])


async def test_only_one_lottery_is_open_at_a_time(node: Node) -> None:
    room = "one-at-a-time"
    async with screen(node, room, "controller", "c") as controller:
        nothing = await controller.request({"t": "lottery", "command": "draw"})
        assert (nothing["t"], nothing["code"]) == ("error", "rejected"), nothing
        opened = await open_lottery(controller, keyword=KEYWORD)
        second = await controller.request({"t": "lottery", "command": "open", "keyword": "再来"})
        assert (second["t"], second["code"]) == ("error", "rejected"), second
        assert "still open" in second["message"]
        no_keyword = await controller.request({"t": "lottery", "command": "cancel"})
        assert no_keyword["t"] == "ack"
        assert (no_keyword["lottery"], no_keyword["status"]) == (opened["lottery"], "cancelled")
        await controller.state_where("lottery", lambda view: view["status"] == "cancelled")
        missing = await controller.request({"t": "lottery", "command": "open"})
        assert (missing["t"], missing["code"]) == ("error", "rejected"), missing
        assert "keyword" in missing["message"]
        await open_lottery(controller, keyword="再来")
    actions = [entry["action"] for entry in await audit_actions(node, room)]
    assert actions == ["lottery.open", "lottery.cancel", "lottery.open"]


async def test_a_buyers_lottery_draws_only_among_buyers(node: Node) -> None:
    async with (
        screen(node, SNACK, "controller", "c") as controller,
        viewers(node, SNACK, 3) as (buyer1, buyer2, onlooker),
    ):
        since = buyer1.mark()
        segment = await advance_to(controller, "product")
        assert segment["product"] == "nuts"
        started = await buyer1.event_where("sale_started", since=since)
        for number, buyer in enumerate((buyer1, buyer2), start=1):
            answer = await buyer.acked(
                {"t": "buy", "sale": started["sale"], "qty": 1, "key": f"lottery-buy-{number}"}
            )
            assert answer["outcome"] == "accepted", answer
        await onlooker.comment("我只看看")

        await open_lottery(controller, eligibility="buyers", winners=3, prize="零食大礼包")
        answer = await controller.acked({"t": "lottery", "command": "draw"})
        assert answer["entrants"] == 2
        assert sorted(answer["winners"]) == ["v1", "v2"]
        winners = await controller.event_where("lottery_winners")
        assert sorted(winner["user"] for winner in winners["winners"]) == ["v1", "v2"]
    record = audited(await audit_actions(node, SNACK), "lottery.draw")["after"]
    assert record["entrants"] == ["v1", "v2"]
    assert draw(record["entrants"], 3, record["seed"]) == record["winners"]

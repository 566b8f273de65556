"""The comment pipeline on a real node with real websocket clients.

Absence is shown by order: one node's batches reach a socket in order, so once a later
marker comment has arrived, an earlier comment that did not arrive never will.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from console.chatdesk import DEFAULT_BANNED
from tests.integration._helpers import ADMIN_HEADERS
from tests.support import Node

from ._helpers import (
    BEAUTY,
    SNACK,
    Screen,
    advance_to,
    audit_actions,
    call,
    housekeeping_passes,
    put_policy,
    running_node,
    screen,
    screens,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("moderation")) as started:
        yield started


async def marker(sender: Screen, *readers: Screen, text: str = "marker") -> None:
    """A clean comment from ``sender``; returns once every reader has it."""
    since = [reader.mark() for reader in readers]
    await sender.comment(text)
    for reader, mark in zip(readers, since, strict=True):
        await reader.chat_item(text, since=mark)


def ids_of(items: list[dict[str, Any]]) -> set[str]:
    return {str(item["id"]) for item in items}


# what reaches whom ----------------------------------------------------------------------


async def test_a_clean_comment_reaches_viewers_host_and_controllers(node: Node) -> None:
    people = [("viewer", "v1"), ("viewer", "v2"), ("host", "h"), ("controller", "c")]
    async with screens(node, "clean", *people) as (v1, v2, host, controller):
        answer = await v1.comment("这个颜色好看")
        assert answer["published"] is True
        for reader in (v1, v2, host, controller):
            item = await reader.chat_item("这个颜色好看")
            assert item["id"] == answer["comment"]
            assert (item["user"], item["role"]) == ("v1", "viewer")
            assert "moderation" not in item


async def test_a_banned_word_is_held_for_controllers_only(node: Node) -> None:
    people = [("viewer", "v1"), ("viewer", "v2"), ("host", "h"), ("controller", "c")]
    async with screens(node, "held", *people) as (v1, v2, host, controller):
        assert DEFAULT_BANNED["加微信"].value == "hold"
        held = []
        for text in ("加微信领红包", "加 微 信 私你", "ＶＸ 多少"):
            answer = await v1.comment(text)
            assert answer["published"] is False, text
            item = await controller.chat_item(text)
            assert item["id"] == answer["comment"]
            assert item["moderation"] == "hold"
            assert item["reasons"], item
            assert all(reason.startswith("banned word") for reason in item["reasons"])
            held.append(item)
        await marker(v1, v2, host, controller)
        for reader in (v1, v2, host):
            assert not ids_of(reader.chat()) & ids_of(held), reader.name

        since = [reader.mark() for reader in (v2, host)]
        await controller.acked(
            {
                "t": "moderate",
                "action": "approve",
                "comment": held[0]["id"],
                "user": "v1",
                "text": held[0]["text"],
            }
        )
        for reader, mark in zip((v2, host), since, strict=True):
            approved = await reader.chat_item(held[0]["text"], since=mark)
            assert approved["approved"] is True
            assert approved["id"] == held[0]["id"]


async def test_a_muted_user_reaches_controllers_only_until_unmuted(node: Node) -> None:
    people = [("viewer", "troll"), ("viewer", "v2"), ("host", "h"), ("controller", "c")]
    async with screens(node, "muting", *people) as (troll, v2, host, controller):
        answer = await controller.acked(
            {"t": "moderate", "action": "mute", "user": "troll", "minutes": 5}
        )
        assert answer["user"] == "troll"
        muted = await controller.event_where("muted", lambda event: event["user"] == "troll")
        assert muted["until_ms"] == answer["until_ms"]

        hidden = []
        for text in ("我又来了", "1"):
            sent = await troll.comment(text)
            assert sent["published"] is False
            item = await controller.chat_item(text, moderation="hide")
            assert item["id"] == sent["comment"]
            assert "author muted" in item["reasons"]
            hidden.append(item)
        await marker(v2, troll, host, controller)
        for reader in (troll, v2, host):
            assert not ids_of(reader.chat()) & ids_of(hidden), reader.name

        await controller.acked({"t": "moderate", "action": "unmute", "user": "troll"})
        await controller.event_where("unmuted", lambda event: event["user"] == "troll")
        back = await troll.comment("我改好了")
        assert back["published"] is True
        for reader in (v2, host, controller):
            item = await reader.chat_item("我改好了")
            assert "moderation" not in item


async def test_hide_and_delete_reach_every_screen(node: Node) -> None:
    people = [("viewer", "v1"), ("viewer", "v2"), ("host", "h"), ("controller", "c")]
    async with screens(node, "hiding", *people) as everyone:
        v1, _, _, controller = everyone
        first = (await v1.comment("第一条"))["comment"]
        second = (await v1.comment("第二条"))["comment"]
        since = [reader.mark() for reader in everyone]
        await controller.acked({"t": "moderate", "action": "hide", "comment": first})
        await controller.acked({"t": "moderate", "action": "delete", "comment": second})
        for reader, mark in zip(everyone, since, strict=True):
            await reader.event_where("comment_deleted", lambda event: event["comment"] == second)
            # the hide was published before the delete, by the same node
            kinds = [event["type"] for event in reader.events(since=mark)]
            assert "comment_hidden" in kinds, (reader.name, kinds)


async def test_support_pins_for_staff_and_replies_to_everyone(node: Node) -> None:
    people = [("viewer", "v1"), ("host", "h"), ("controller", "c"), ("support", "kefu")]
    async with screens(node, "support", *people) as (v1, host, controller, support):
        question = await v1.comment("什么时候发货？")
        pinned = await support.acked(
            {"t": "pin", "comment": question["comment"], "text": "什么时候发货？", "name": "v1"}
        )
        assert pinned["pinned"] == 1
        for reader in (host, controller):
            view = await reader.state_where("pinned", lambda view: bool(view["items"]))
            assert [item["comment"] for item in view["items"]] == [question["comment"]]

        await support.acked(
            {
                "t": "reply",
                "text": "今晚下单 48 小时内发货",
                "comment": question["comment"],
                "question": "什么时候发货？",
                "pin": True,
            }
        )
        for reader in (v1, host, controller):
            reply = await reader.chat_item("今晚下单 48 小时内发货")
            assert reply["reply"] is True
            assert (reply["user"], reply["role"]) == ("kefu", "support")
            assert reply["reply_to"] == question["comment"]
        banner = await v1.state_where("pinned_reply", lambda view: True)
        assert banner["text"] == "今晚下单 48 小时内发货"
        assert banner["question"] == "什么时候发货？"
        assert "pinned" not in {key for frame in v1.frames for key in frame.get("st", {})}

        await support.acked({"t": "unpin", "comment": question["comment"]})
        await host.state_where("pinned", lambda view: view["items"] == [])


STAFF_ONLY: list[dict[str, Any]] = [
    {"t": "moderate", "action": "mute", "user": "v2"},
    {"t": "moderate", "action": "hide", "comment": "c-1"},
    {"t": "pin", "comment": "c-1", "text": "hi"},
    {"t": "unpin", "comment": "c-1"},
    {"t": "reply", "text": "hi"},
    {"t": "lottery", "command": "open", "keyword": "1"},
    {"t": "slow_mode", "seconds": 30},
]


async def test_viewers_may_not_moderate_pin_reply_run_lotteries_or_slow_the_room(
    node: Node,
) -> None:
    async with screens(node, "forbidden", ("viewer", "v1"), ("host", "h")) as (viewer, host):
        for frame in STAFF_ONLY:
            answer = await viewer.request(frame)
            assert (answer["t"], answer["code"]) == ("error", "forbidden"), frame
        answer = await host.request(STAFF_ONLY[0])
        assert answer["code"] == "forbidden"
        assert not viewer.events("lottery_opened")


# limits ---------------------------------------------------------------------------------


async def test_slow_mode_refuses_a_second_comment_inside_the_window(node: Node) -> None:
    people = [("viewer", "v1"), ("viewer", "v2"), ("controller", "c")]
    async with screens(node, "slow", *people) as (v1, v2, controller):
        answer = await controller.acked({"t": "slow_mode", "seconds": 30})
        assert answer["slow_mode_s"] == 30
        for reader in (v1, controller):
            await reader.state_where("slow_mode", lambda view: view["seconds"] == 30)
        assert (await v1.comment("第一条"))["published"] is True
        refused = await v1.request({"t": "comment", "text": "第二条"})
        assert (refused["t"], refused["code"]) == ("error", "rate_limited"), refused
        assert "slow mode" in refused["message"]
        assert (await v2.comment("别人的第一条"))["published"] is True

        await controller.acked({"t": "slow_mode", "seconds": 0})
        assert (await v1.comment("第三条"))["published"] is True


async def test_over_long_and_too_frequent_comments_are_refused(node: Node) -> None:
    async with screen(node, "limits", "viewer", "chatty") as viewer:
        too_long = await viewer.request({"t": "comment", "text": "长" * 201})
        assert (too_long["t"], too_long["code"]) == ("error", "rejected"), too_long
        assert "longer than 200" in too_long["message"]
        for number in range(20):
            await viewer.comment(f"第{number}条")
        refused = await viewer.request({"t": "comment", "text": "第二十一条"})
        assert (refused["t"], refused["code"]) == ("error", "rate_limited"), refused
        assert "a minute" in refused["message"]


# questions and compliance ---------------------------------------------------------------


async def test_an_interaction_prompt_counts_comments_with_its_keyword(node: Node) -> None:
    people = [("viewer", "v1"), ("viewer", "v2"), ("viewer", "v3"), ("controller", "c")]
    async with screens(node, SNACK, *people) as (v1, v2, v3, controller):
        segment = await advance_to(controller, "interaction")
        prompt = await v1.state_where("prompt", lambda view: view["segment"] == segment["index"])
        assert (prompt["keyword"], prompt["count"]) == ("1", 0)
        for viewer, text in ((v1, "1"), (v2, "扣1"), (v3, "扣 １ ！"), (v1, "好看")):
            await viewer.comment(text)
        counted = await v2.state_where("prompt", lambda view: view["count"] >= 3)
        assert counted["count"] == 3
        await housekeeping_passes(node, SNACK, controller, viewers=3)
        assert controller.state["prompt"]["count"] == 3


async def test_a_question_about_the_product_on_air_suggests_its_faq(node: Node) -> None:
    people = [("viewer", "v1"), ("host", "h"), ("controller", "c")]
    async with screens(node, BEAUTY, *people) as (viewer, host, controller):
        segment = await advance_to(controller, "product")
        assert segment["product"] == "serum"
        since = controller.mark()
        answer = await viewer.comment("敏感肌能用吗")
        event = await controller.event_where("question", since=since)
        assert event["comment"] == answer["comment"]
        assert (event["user"], event["product"]) == ("v1", "serum")
        best = event["suggestions"][0]
        assert best["q"] == "敏感肌能用吗？"
        assert best["a"].startswith("配方不含酒精")
        assert best["score"] == 1.0
        item = await viewer.chat_item("敏感肌能用吗")
        assert item["question"] is True

        since = controller.mark()
        await viewer.comment("孕妇能用吗？")
        pregnant = await controller.event_where("question", since=since)
        assert pregnant["suggestions"][0]["q"] == "孕期能用吗？"
        await marker(viewer, controller, host)
        assert not host.events("question"), "questions go to the controllers"


async def test_an_extreme_word_alerts_controllers_and_cues_the_host(node: Node) -> None:
    people = [("viewer", "v1"), ("host", "h"), ("controller", "c")]
    async with screens(node, "compliance", *people) as (viewer, host, controller):
        answer = await viewer.comment("这是全网最低价吗")
        alert = await controller.event_where("compliance")
        assert alert["comment"] == answer["comment"]
        assert alert["words"] == ["全网最低"]
        cue = await host.event_where("cue", lambda event: event.get("key") == "compliance")
        assert "全网最低" in cue["text"]
        assert cue["auto"] is True
        since = controller.mark()
        await viewer.comment("史上最好用")
        again = await controller.event_where("compliance", since=since)
        assert again["words"] == ["史上", "最"]
        await marker(viewer, viewer, host)
        cues = [event for event in host.events("cue") if event.get("key") == "compliance"]
        assert len(cues) == 1, "the host is cued at most every 30 s"
        assert not viewer.events("compliance")
        assert not viewer.events("cue")


# the audit log and the policy API -------------------------------------------------------


async def staff_actions(controller: Screen, support: Screen, viewer: Screen) -> str:
    """Every staff action once, by a controller and a support agent; return a comment id."""
    comment = str((await viewer.comment("这个能用多久"))["comment"])
    await support.acked({"t": "pin", "comment": comment, "text": "这个能用多久"})
    await support.acked({"t": "unpin", "comment": comment})
    await support.acked({"t": "reply", "text": "六到八周", "comment": comment})
    await support.acked({"t": "moderate", "action": "hide", "comment": comment})
    await controller.acked({"t": "moderate", "action": "delete", "comment": comment})
    await controller.acked(
        {"t": "moderate", "action": "approve", "comment": comment, "text": "这个能用多久"}
    )
    await controller.acked({"t": "moderate", "action": "mute", "user": "v1", "minutes": 1})
    await controller.acked({"t": "moderate", "action": "unmute", "user": "v1"})
    await controller.acked({"t": "slow_mode", "seconds": 5})
    return comment


EXPECTED_AUDIT = {
    "comment.pin": "kefu",
    "comment.unpin": "kefu",
    "comment.reply": "kefu",
    "comment.hide": "kefu",
    "comment.delete": "c",
    "comment.approve": "c",
    "user.mute": "c",
    "user.unmute": "c",
    "room.slow_mode": "c",
}


async def test_every_staff_action_is_in_the_audit_log(node: Node) -> None:
    people = [("controller", "c"), ("support", "kefu"), ("viewer", "v1")]
    async with screens(node, "audited", *people) as (controller, support, viewer):
        comment = await staff_actions(controller, support, viewer)
    entries = await audit_actions(node, "audited")
    by_action = {entry["action"]: entry for entry in entries}
    for action, actor in EXPECTED_AUDIT.items():
        assert action in by_action, (action, [entry["action"] for entry in entries])
        entry = by_action[action]
        assert entry["actor"] == actor, entry
        assert entry["role"] == ("support" if actor == "kefu" else "controller")
        assert entry["room"] == "audited"
    assert by_action["comment.hide"]["after"]["comment"] == comment
    assert by_action["user.mute"]["after"]["user"] == "v1"
    assert by_action["room.slow_mode"]["after"] == {"seconds": 5}
    times = [entry["at"] for entry in entries]
    assert times == sorted(times)


async def test_each_staff_action_is_audited_once(node: Node) -> None:
    """One action, one entry: an unmute must not also log a ``comment.unmute``."""
    people = [("controller", "c"), ("support", "kefu"), ("viewer", "v1")]
    async with screens(node, "audited-once", *people) as (controller, support, viewer):
        await staff_actions(controller, support, viewer)
    actions = [entry["action"] for entry in await audit_actions(node, "audited-once")]
    staff = [action for action in actions if action != "room.policy"]
    assert sorted(staff) == sorted(EXPECTED_AUDIT), staff


async def test_the_policy_api_refuses_bad_policies(node: Node) -> None:
    path = "/api/rooms/policy-bad/moderation"
    for bad in (
        {"patterns": [["(unclosed", "hold"]]},
        {"banned": {"团购群": "explode"}},
        {"slow_mode": 5},
        {"per_minute": "many"},
    ):
        status, answer = await put_policy(node, "policy-bad", bad)
        assert status == 400, (bad, answer)
        assert answer["error"].startswith("bad policy"), answer
    status, answer = await call(node, "PUT", path, {"per_minute": 5})
    assert status == 401, answer
    status, answer = await call(node, "GET", path, headers=ADMIN_HEADERS)
    assert status == 200
    assert answer["policy"]["banned"]["加微信"] == "hold", "a refused PUT changes nothing"


async def test_a_new_policy_takes_effect(node: Node) -> None:
    room = "policy"
    status, current = await call(node, "GET", f"/api/rooms/{room}/moderation", None, ADMIN_HEADERS)
    assert status == 200
    policy = current["policy"]
    policy["banned"]["团购群"] = "hold"
    policy["patterns"] = [[r"\d{5,}", "hide"]]
    people = [("viewer", "v1"), ("viewer", "v2"), ("controller", "c")]
    async with screens(node, room, *people) as (v1, v2, controller):
        status, answer = await put_policy(node, room, policy)
        assert status == 200, answer
        assert answer["policy"]["banned"]["团购群"] == "hold"
        await housekeeping_passes(node, room, controller, viewers=2)

        group = await v1.comment("进团购群更便宜")
        assert group["published"] is False
        item = await controller.chat_item("进团购群更便宜")
        assert (item["moderation"], item["reasons"]) == ("hold", ["banned word '团购群'"])
        number = await v1.comment("我的号 123456")
        assert number["published"] is False
        assert (await controller.chat_item("我的号 123456"))["moderation"] == "hide"
        assert (await v1.comment("加微信"))["published"] is False
        await marker(v1, v2, controller)
        assert not ids_of(v2.chat()) & {group["comment"], number["comment"]}
    entries = await audit_actions(node, room)
    assert [entry["action"] for entry in entries] == ["room.policy"]

"""Comments from other platforms over HTTP: the per-room key, the same pipeline as the
widget's, duplicates dropped, bad items refused by index, bad batches refused whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._helpers import ADMIN_HEADERS
from tests.support import Node

from ._helpers import call, running_node, screen, screens

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("ingest")) as started:
        yield started


async def ingest_key(node: Node, room: str) -> str:
    status, answer = await call(node, "GET", f"/api/rooms/{room}/ingest-key", None, ADMIN_HEADERS)
    assert status == 200, answer
    assert answer["room"] == room
    key: str = answer["key"]
    return key


async def post(node: Node, room: str, body: Any, key: str | None) -> tuple[int, dict[str, Any]]:
    headers = {} if key is None else {"X-Livecon-Ingest-Key": key}
    return await call(node, "POST", f"/api/rooms/{room}/ingest", body, headers)


BATCH = {
    "platform": "douyin",
    "comments": [
        {"id": "dy-1", "user": "u1", "name": "小美", "text": "主播好美"},
        {"id": 2, "user": "u2", "text": "扣1"},
        {"id": "dy-3", "user": "u3", "name": "阿三", "text": "加微信有优惠"},
    ],
}


async def test_the_ingest_key_is_for_admins_and_per_room(node: Node) -> None:
    status, answer = await call(node, "GET", "/api/rooms/ingest-a/ingest-key")
    assert status == 401, answer
    first, second = await ingest_key(node, "ingest-a"), await ingest_key(node, "ingest-b")
    assert first != second
    assert first == await ingest_key(node, "ingest-a")


async def test_ingested_comments_go_through_the_pipeline_once(node: Node) -> None:
    room = "ingest"
    key = await ingest_key(node, room)
    async with screens(node, room, ("controller", "c"), ("viewer", "v1")) as (controller, viewer):
        status, answer = await post(node, room, BATCH, key)
        assert status == 200, answer
        assert answer == {"accepted": 3, "duplicates": 0, "refused": []}

        first = await controller.chat_item("主播好美")
        assert (first["user"], first["name"], first["source"]) == ("douyin:u1", "小美", "douyin")
        second = await controller.chat_item("扣1")
        assert (second["user"], second["name"]) == ("douyin:u2", "u2")
        held = await controller.chat_item("加微信有优惠")
        assert (held["source"], held["moderation"]) == ("douyin", "hold")
        await viewer.chat_item("主播好美", source="douyin")

        status, again = await post(node, room, BATCH, key)
        assert status == 200, again
        assert again == {"accepted": 0, "duplicates": 3, "refused": []}
        elsewhere = {**BATCH, "platform": "kuaishou", "comments": BATCH["comments"][:1]}
        status, other = await post(node, room, elsewhere, key)
        assert other == {"accepted": 1, "duplicates": 0, "refused": []}
        await controller.chat_item("主播好美", source="kuaishou")

        await viewer.comment("marker")
        await controller.chat_item("marker")
        for text in ("扣1", "加微信有优惠"):
            count = sum(item.get("count", 1) for item in controller.chat_with(text))
            assert count == 1, text
        assert [item["source"] for item in controller.chat_with("主播好美")] == [
            "douyin",
            "kuaishou",
        ]
        assert not viewer.chat_with("加微信有优惠")


async def test_a_wrong_or_missing_key_is_refused(node: Node) -> None:
    room = "ingest-keys"
    other_room_key = await ingest_key(node, "ingest-elsewhere")
    for key in (None, "", "0" * 32, other_room_key):
        status, answer = await post(node, room, BATCH, key)
        assert status == 401, (key, answer)
        assert "X-Livecon-Ingest-Key" in answer["error"]
    status, answer = await call(
        node, "POST", f"/api/rooms/{room}/ingest", BATCH, {"Authorization": "Bearer test-admin-key"}
    )
    assert status == 401, "the admin key is not an ingest key"


async def test_bad_items_are_refused_by_index_and_good_ones_taken(node: Node) -> None:
    room = "ingest-items"
    key = await ingest_key(node, room)
    comments: list[Any] = [
        {"id": "ok-1", "user": "u1", "text": "第一条好的"},
        "not an object",
        {"id": "bad-2", "text": "没有用户"},
        {"id": "bad-3", "user": "u3", "text": "长" * 501},
        {"id": "bad-4", "user": "u4", "text": "\x00\x01\u200b\x7f"},
        {"id": "bad-5", "user": "u5", "text": "长" * 201},
        {"id": True, "user": "u6", "text": "布尔的编号"},
        {"user": "u7", "text": "没有编号"},
        {"id": "bad-8", "user": "u" * 65, "text": "用户名太长"},
        {"id": "bad-9", "user": "u9", "text": 42},
        {"id": "ok-10", "user": "u10", "text": "最后一条好的"},
    ]
    async with screen(node, room, "controller", "c") as controller:
        status, answer = await post(node, room, {"platform": "wx_video", "comments": comments}, key)
        assert status == 200, answer
        assert (answer["accepted"], answer["duplicates"]) == (2, 0)
        refused = {entry["index"]: entry["error"] for entry in answer["refused"]}
        assert sorted(refused) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
        assert "object" in refused[1]
        assert "user" in refused[2]
        assert "longer than 500" in refused[3]
        assert "empty" in refused[4]
        assert "longer than 200" in refused[5]
        assert "id" in refused[6]
        assert "id" in refused[7]
        await controller.chat_item("第一条好的", source="wx_video")
        await controller.chat_item("最后一条好的", source="wx_video")


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "Dou Yin", "comments": BATCH["comments"]},
        {"platform": "", "comments": BATCH["comments"]},
        {"platform": "p" * 21, "comments": BATCH["comments"]},
        {"comments": BATCH["comments"]},
        {"platform": "douyin", "comments": []},
        {"platform": "douyin", "comments": {"id": 1}},
        {"platform": "douyin"},
        {
            "platform": "douyin",
            "comments": [{"id": n, "user": "u", "text": "1"} for n in range(501)],
        },
        ["not", "an", "object"],
    ],
    ids=[
        "spaces",
        "empty-platform",
        "long-platform",
        "no-platform",
        "empty",
        "not-a-list",
        "no-comments",
        "501-items",
        "not-an-object",
    ],
)
async def test_a_malformed_batch_is_refused_whole(node: Node, body: Any) -> None:
    room = "ingest-batches"
    status, answer = await post(node, room, body, await ingest_key(node, room))
    assert status == 400, answer
    assert answer["error"]


async def test_five_hundred_items_are_taken(node: Node) -> None:
    room = "ingest-500"
    comments = [{"id": n, "user": f"u{n}", "text": "1"} for n in range(500)]
    status, answer = await post(
        node, room, {"platform": "douyin", "comments": comments}, await ingest_key(node, room)
    )
    assert status == 200, answer
    assert answer == {"accepted": 500, "duplicates": 0, "refused": []}


async def test_a_refused_comment_is_not_remembered_as_seen(node: Node) -> None:
    """A comment refused for going too fast can be sent again; it is not a duplicate."""
    room = "ingest-retry"
    key = await ingest_key(node, room)
    comments = [{"id": f"fast-{n}", "user": "chatty", "text": f"第{n}条"} for n in range(21)]
    status, answer = await post(node, room, {"platform": "douyin", "comments": comments}, key)
    assert status == 200, answer
    assert answer["accepted"] == 20
    assert [entry["index"] for entry in answer["refused"]] == [20]
    assert "a minute" in answer["refused"][0]["error"]

    retry = {"platform": "douyin", "comments": comments[20:]}
    status, again = await post(node, room, retry, key)
    assert status == 200, again
    assert again["duplicates"] == 0, again
    assert [entry["index"] for entry in again["refused"]] == [0], again

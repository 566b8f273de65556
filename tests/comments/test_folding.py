"""Flood folding in the outbox: repeats of a short text within one tick become one
counted chat item per audience mask. Pure."""

from __future__ import annotations

from typing import Any

from console.moderation import fold_key
from realtime.batching import Batch, Delivery, Outbox, build_frame
from realtime.permissions import Audience

ALL = int(Audience.ALL)
CONTROL = int(Audience.CONTROL)
VIEWER = int(Audience.VIEWER)


def comment(number: int, text: str = "1") -> dict[str, Any]:
    return {"id": f"c-{number}", "user": f"u{number}", "name": f"u{number}", "text": text}


def flood(outbox: Outbox, count: int, text: str = "1", mask: int = ALL, first: int = 0) -> None:
    for number in range(first, first + count):
        outbox.add_chat(mask, comment(number, text), fold_key(text))


def taken(outbox: Outbox) -> Batch:
    batch = outbox.take("node-a", 1_000)
    assert batch is not None
    return batch


def test_five_thousand_ones_in_one_tick_become_one_item_counting_them() -> None:
    outbox = Outbox()
    flood(outbox, 5_000)
    batch = taken(outbox)
    assert len(batch.chat) == 1
    mask, item = batch.chat[0]
    assert mask == ALL
    assert item["count"] == 5_000
    assert item["id"] == "c-0", "the first comment stands for the fold"
    assert batch.chat_dropped == 0


def test_spelling_variants_of_one_short_text_fold_together() -> None:
    outbox = Outbox()
    for number, text in enumerate(["扣1", "扣 1", "扣１", "扣1!"]):
        outbox.add_chat(ALL, comment(number, text), fold_key(text))
    assert [item["count"] for _, item in taken(outbox).chat] == [4]


def test_folds_are_kept_per_mask() -> None:
    outbox = Outbox()
    flood(outbox, 3, mask=ALL)
    flood(outbox, 2, mask=CONTROL, first=10)
    chat = taken(outbox).chat
    assert [(mask, item["count"]) for mask, item in chat] == [(ALL, 3), (CONTROL, 2)]


def test_different_texts_do_not_fold() -> None:
    outbox = Outbox()
    for number in range(3):
        flood(outbox, 1, "1", first=number * 10)
        flood(outbox, 1, "2", first=number * 10 + 1)
        flood(outbox, 1, "666", first=number * 10 + 2)
    counts = {item["text"]: item["count"] for _, item in taken(outbox).chat}
    assert counts == {"1": 3, "2": 3, "666": 3}


def test_items_without_a_fold_key_never_fold() -> None:
    outbox = Outbox()
    text = "这个精华敏感肌能用吗"
    for number in range(3):
        outbox.add_chat(ALL, comment(number, text), fold_key(text))
    chat = taken(outbox).chat
    assert len(chat) == 3
    assert all("count" not in item for _, item in chat)


def test_a_hidden_item_does_not_fold_into_a_public_one() -> None:
    """The pipeline sends a held or hidden comment to controllers only, without a fold key."""
    outbox = Outbox()
    outbox.add_chat(ALL, comment(1), "1")
    hidden = {**comment(2), "moderation": "hide", "reasons": ["author muted"]}
    outbox.add_chat(CONTROL, hidden)
    outbox.add_chat(ALL, comment(3), "1")
    chat = taken(outbox).chat
    assert [(mask, item["id"], item.get("count")) for mask, item in chat] == [
        (ALL, "c-1", 2),
        (CONTROL, "c-2", None),
    ]


def test_a_controllers_only_repeat_with_a_fold_key_stays_apart_from_the_public_one() -> None:
    outbox = Outbox()
    outbox.add_chat(CONTROL, comment(1), "1")
    outbox.add_chat(ALL, comment(2), "1")
    outbox.add_chat(ALL, comment(3), "1")
    chat = taken(outbox).chat
    assert [(mask, item["count"]) for mask, item in chat] == [(CONTROL, 1), (ALL, 2)]


def test_take_starts_new_folds() -> None:
    outbox = Outbox()
    flood(outbox, 4)
    first = taken(outbox)
    flood(outbox, 2, first=100)
    second = taken(outbox)
    assert first.chat[0][1]["count"] == 4, "a taken batch is not changed by the next tick"
    assert [(item["id"], item["count"]) for _, item in second.chat] == [("c-100", 2)]


def test_the_queued_item_is_a_copy() -> None:
    outbox = Outbox()
    original = comment(1)
    outbox.add_chat(ALL, original, "1")
    outbox.add_chat(ALL, comment(2), "1")
    assert "count" not in original
    assert taken(outbox).chat[0][1]["count"] == 2


def test_folded_repeats_take_no_room_in_the_chat_bound() -> None:
    outbox = Outbox(max_chat=10)
    flood(outbox, 5_000)
    for number in range(9):
        outbox.add_chat(ALL, comment(number, f"第{number}条评论很长很长"), None)
    batch = taken(outbox)
    assert batch.chat_dropped == 0
    assert len(batch.chat) == 10
    assert batch.chat[0][1]["count"] == 5_000


def test_repeats_after_their_first_item_was_dropped_are_not_lost() -> None:
    """drop_oldest evicts the fold's first item; newer repeats must still be delivered
    (or at least counted as dropped), not added to an item no batch carries."""
    outbox = Outbox(max_chat=2)
    outbox.add_chat(ALL, comment(1), "1")
    outbox.add_chat(ALL, comment(2, "第二条长评论不折叠"), None)
    outbox.add_chat(ALL, comment(3, "第三条长评论不折叠"), None)
    flood(outbox, 100, first=10)
    batch = taken(outbox)
    delivered = sum(item.get("count", 1) for _, item in batch.chat if item["text"] == "1")
    assert delivered + batch.chat_dropped >= 100


def test_every_audience_receives_the_folded_count() -> None:
    outbox = Outbox()
    flood(outbox, 5_000)
    delivery = Delivery("room-1", "e1", 0, taken(outbox))
    for audience in Audience.VIEWER, Audience.HOST, Audience.CONTROL:
        frame = build_frame(delivery, int(audience), 50 if audience is Audience.VIEWER else None)
        assert frame is not None
        assert [item["count"] for item in frame["chat"]] == [5_000]
        assert "sampled" not in frame


def test_a_hidden_item_reaches_no_viewer_frame() -> None:
    outbox = Outbox()
    outbox.add_chat(CONTROL, {**comment(1, "加微信"), "moderation": "hold"})
    delivery = Delivery("room-1", "e1", 0, taken(outbox))
    assert build_frame(delivery, VIEWER, 50) is None
    assert build_frame(delivery, int(Audience.HOST), None) is None
    control = build_frame(delivery, CONTROL, None)
    assert control is not None
    assert control["chat"][0]["moderation"] == "hold"

"""Tick batching: the outbox lanes, the bus format and the per-audience frame."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from realtime.batching import (
    Batch,
    Delivery,
    Outbox,
    OutboxFullError,
    build_frame,
    unpack_event,
)
from realtime.permissions import Audience

VIEWER = int(Audience.VIEWER)
HOST = int(Audience.HOST)
CONTROL = int(Audience.CONTROL)
STAFF = int(Audience.STAFF)
ALL = int(Audience.ALL)


def chat(number: int) -> dict[str, Any]:
    return {"id": f"c-{number}", "text": f"评论 {number}"}


def delivery(batch: Batch, high_water: int = 10) -> Delivery:
    return Delivery(room="room-1", epoch="e1", high_water=high_water, batch=batch)


def taken(outbox: Outbox, now_ms: int = 1_000) -> Batch:
    batch = outbox.take("node-a", now_ms)
    assert batch is not None
    return batch


def test_new_outbox_is_empty_and_takes_nothing() -> None:
    outbox = Outbox()
    assert outbox.is_empty()
    assert outbox.take("node-a", 0) is None


def test_take_returns_every_lane_in_order_and_empties_the_outbox() -> None:
    outbox = Outbox()
    outbox.add_event(ALL, {"type": "sale", "n": 1})
    outbox.add_event(STAFF, {"type": "cue", "n": 2})
    outbox.add_chat(ALL, chat(1))
    outbox.set_state(VIEWER, "stock:sku-1", 12)
    assert not outbox.is_empty()
    assert taken(outbox, 1234) == Batch(
        node="node-a",
        sent_at_ms=1234,
        events=[(ALL, {"type": "sale", "n": 1}), (STAFF, {"type": "cue", "n": 2})],
        chat=[(ALL, chat(1))],
        chat_dropped=0,
        state=[(VIEWER, "stock:sku-1", 12)],
    )
    assert outbox.is_empty()
    assert outbox.take("node-a", 2000) is None


def test_state_is_conflated_to_the_latest_value_per_key() -> None:
    outbox = Outbox()
    outbox.set_state(ALL, "stock:sku-1", 10)
    outbox.set_state(ALL, "price:sku-1", 9900)
    outbox.set_state(ALL, "stock:sku-1", 9)
    outbox.set_state(STAFF, "stock:sku-1", 8)
    assert taken(outbox).state == [(STAFF, "stock:sku-1", 8), (ALL, "price:sku-1", 9900)]


def test_chat_overflow_drops_the_oldest_and_counts_it() -> None:
    outbox = Outbox(max_chat=3)
    for number in range(5):
        outbox.add_chat(ALL, chat(number))
    batch = taken(outbox)
    assert [body for _, body in batch.chat] == [chat(2), chat(3), chat(4)]
    assert batch.chat_dropped == 2


def test_dropped_chat_alone_still_makes_a_batch() -> None:
    outbox = Outbox(max_chat=1)
    outbox.add_chat(ALL, chat(1))
    outbox.add_chat(ALL, chat(2))
    assert taken(outbox).chat_dropped == 1
    assert outbox.is_empty()


def test_event_overflow_refuses_the_newest() -> None:
    outbox = Outbox(max_events=2)
    outbox.add_event(ALL, {"n": 1})
    outbox.add_event(ALL, {"n": 2})
    with pytest.raises(OutboxFullError, match="more than 2 events in one tick"):
        outbox.add_event(ALL, {"n": 3})
    assert [body for _, body in taken(outbox).events] == [{"n": 1}, {"n": 2}]


def test_take_makes_room_for_new_events() -> None:
    outbox = Outbox(max_events=1)
    outbox.add_event(ALL, {"n": 1})
    taken(outbox)
    outbox.add_event(ALL, {"n": 2})
    assert taken(outbox).events == [(ALL, {"n": 2})]


def test_restore_puts_events_back_in_front_of_newer_ones() -> None:
    outbox = Outbox()
    outbox.add_event(ALL, {"n": 1})
    outbox.add_event(ALL, {"n": 2})
    failed = taken(outbox)
    outbox.add_event(ALL, {"n": 3})
    outbox.restore(failed)
    assert [body["n"] for _, body in taken(outbox).events] == [1, 2, 3]


def test_restore_keeps_state_set_since_the_failed_publish() -> None:
    outbox = Outbox()
    outbox.set_state(ALL, "stock:sku-1", 10)
    outbox.set_state(ALL, "price:sku-1", 9900)
    failed = taken(outbox)
    outbox.set_state(VIEWER, "stock:sku-1", 7)
    outbox.restore(failed)
    assert {key: (mask, value) for mask, key, value in taken(outbox).state} == {
        "stock:sku-1": (VIEWER, 7),
        "price:sku-1": (ALL, 9900),
    }


def test_restore_counts_chat_as_dropped() -> None:
    outbox = Outbox(max_chat=2)
    for number in range(3):
        outbox.add_chat(ALL, chat(number))
    failed = taken(outbox)
    outbox.add_chat(ALL, chat(9))
    outbox.restore(failed)
    batch = taken(outbox)
    assert batch.chat == [(ALL, chat(9))]
    assert batch.chat_dropped == 3


def test_restore_of_chat_alone_leaves_a_batch_to_report_the_drop() -> None:
    outbox = Outbox()
    outbox.add_chat(ALL, chat(1))
    outbox.restore(taken(outbox))
    assert not outbox.is_empty()
    assert taken(outbox).chat_dropped == 1


def test_batch_pack_unpack_round_trip() -> None:
    batch = Batch(
        node="node-a",
        sent_at_ms=1_700_000_000_123,
        events=[(ALL, {"type": "sale", "sku": "杯子", "price": 9900})],
        chat=[(VIEWER, chat(1)), (STAFF, chat(2))],
        chat_dropped=4,
        state=[(ALL, "stock:sku-1", 3), (CONTROL, "orders", {"paid": 2, "open": [1, 2]})],
    )
    assert Batch.unpack(batch.pack()) == batch


def test_direct_items_and_their_skips_round_trip() -> None:
    batch = Batch(
        node="n",
        sent_at_ms=0,
        direct=[("u1", {"kind": "order"}, "n/7"), ("u2", {"kind": "fan"}), ("u1", {"k": 1})],
    )
    assert Batch.unpack(batch.pack()) == batch


def test_a_node_of_the_previous_version_reads_direct_items_with_skips() -> None:
    """Rolling upgrades: skips travel after the direct pairs, which an older node reads
    (``node, sent_at_ms, events, chat, dropped, state, *rest``; direct from ``rest[0]``)
    and whose extra list it ignores."""
    batch = Batch("n", 0, direct=[("u1", {"kind": "order"}, "n/7"), ("u2", {"kind": "fan"})])
    *_, rest = _previous_unpack(batch.pack())
    assert rest == [("u1", {"kind": "order"}), ("u2", {"kind": "fan"})]


def _previous_unpack(data: bytes) -> tuple[str, list[tuple[str, dict[str, object]]]]:
    """The direct items as the previous version's ``Batch.unpack`` read them."""
    node, _sent, _events, _chat, _dropped, _state, *rest = msgpack.unpackb(data, raw=False)
    return node, [(user, body) for user, body in (rest[0] if rest else [])]


def test_empty_batch_round_trips() -> None:
    batch = Batch(node="n", sent_at_ms=0)
    assert Batch.unpack(batch.pack()) == batch


def test_pack_events_packs_each_event_alone() -> None:
    events = [(ALL, {"n": 1}), (STAFF, {"n": 2})]
    packed = Batch("n", 0, events=events).pack_events()
    assert [unpack_event(data) for data in packed] == events


@pytest.mark.parametrize(("high_water", "events", "first"), [(10, 3, 8), (1, 1, 1), (5, 0, 6)])
def test_first_seq_numbers_the_events_up_to_the_high_water(
    high_water: int, events: int, first: int
) -> None:
    batch = Batch("n", 0, events=[(ALL, {"n": n}) for n in range(events)])
    assert delivery(batch, high_water).first_seq == first


MIXED = Batch(
    node="node-a",
    sent_at_ms=5_000,
    events=[
        (ALL, {"type": "sale", "sku": "a"}),
        (STAFF, {"type": "cue", "cue": "q1"}),
        (VIEWER, {"type": "lottery"}),
        (CONTROL, {"type": "audit"}),
    ],
    chat=[(ALL, chat(1)), (CONTROL, chat(2)), (VIEWER, chat(3))],
    state=[(ALL, "stock", 3), (STAFF, "script", "step-4"), (CONTROL, "orders", 17)],
)


def test_viewer_frame_has_only_what_is_meant_for_viewers() -> None:
    assert build_frame(delivery(MIXED, 20), VIEWER, None) == {
        "t": "batch",
        "seq": 20,
        "ts": 5_000,
        "ev": [{"type": "sale", "sku": "a", "seq": 17}, {"type": "lottery", "seq": 19}],
        "chat": [chat(1), chat(3)],
        "st": {"stock": 3},
    }


def test_host_frame_has_only_what_is_meant_for_the_host() -> None:
    assert build_frame(delivery(MIXED, 20), HOST, None) == {
        "t": "batch",
        "seq": 20,
        "ts": 5_000,
        "ev": [{"type": "sale", "sku": "a", "seq": 17}, {"type": "cue", "cue": "q1", "seq": 18}],
        "chat": [chat(1)],
        "st": {"stock": 3, "script": "step-4"},
    }


def test_control_frame_has_only_what_is_meant_for_the_control_room() -> None:
    frame = build_frame(delivery(MIXED, 20), CONTROL, None)
    assert frame is not None
    assert [event["seq"] for event in frame["ev"]] == [17, 18, 20]
    assert frame["chat"] == [chat(1), chat(2)]
    assert frame["st"] == {"stock": 3, "script": "step-4", "orders": 17}


def test_frame_does_not_change_the_batch() -> None:
    batch = Batch("n", 0, events=[(ALL, {"type": "sale"})])
    build_frame(delivery(batch), ALL, None)
    assert batch.events == [(ALL, {"type": "sale"})]


def test_frame_carries_the_high_water_even_when_its_events_are_filtered_out() -> None:
    batch = Batch("n", 7, events=[(STAFF, {"type": "cue"})], state=[(VIEWER, "stock", 1)])
    assert build_frame(delivery(batch, 42), VIEWER, None) == {
        "t": "batch",
        "seq": 42,
        "ts": 7,
        "st": {"stock": 1},
    }


def test_frame_with_nothing_for_the_audience_is_none() -> None:
    batch = Batch("n", 0, events=[(STAFF, {"type": "cue"})], chat=[(CONTROL, chat(1))])
    assert build_frame(delivery(batch), VIEWER, None) is None


def test_empty_delivery_builds_no_frame() -> None:
    assert build_frame(delivery(Batch("n", 0)), ALL, None) is None


def test_chat_cap_keeps_the_newest_and_marks_the_frame_sampled() -> None:
    batch = Batch("n", 0, chat=[(ALL, chat(number)) for number in range(5)])
    frame = build_frame(delivery(batch), VIEWER, 2)
    assert frame is not None
    assert frame["chat"] == [chat(3), chat(4)]
    assert (frame["sampled"], frame["chat_total"]) == (True, 5)


def test_chat_total_includes_chat_dropped_before_the_tick() -> None:
    batch = Batch("n", 0, chat=[(ALL, chat(number)) for number in range(5)], chat_dropped=10)
    frame = build_frame(delivery(batch), VIEWER, 2)
    assert frame is not None
    assert frame["chat"] == [chat(3), chat(4)]
    assert (frame["sampled"], frame["chat_total"]) == (True, 15)


def test_dropped_chat_marks_an_uncapped_frame_sampled() -> None:
    batch = Batch("n", 0, chat=[(ALL, chat(1))], chat_dropped=3)
    frame = build_frame(delivery(batch), CONTROL, None)
    assert frame is not None
    assert frame["chat"] == [chat(1)]
    assert (frame["sampled"], frame["chat_total"]) == (True, 4)


@pytest.mark.parametrize("cap", [3, 4, None])
def test_chat_within_the_cap_is_not_sampled(cap: int | None) -> None:
    batch = Batch("n", 0, chat=[(ALL, chat(number)) for number in range(3)])
    frame = build_frame(delivery(batch), VIEWER, cap)
    assert frame is not None
    assert len(frame["chat"]) == 3
    assert "sampled" not in frame
    assert "chat_total" not in frame


@pytest.mark.parametrize("cap", [0, 1, 2])
def test_chat_cap_is_never_exceeded(cap: int) -> None:
    batch = Batch("n", 0, chat=[(ALL, chat(number)) for number in range(3)])
    frame = build_frame(delivery(batch), VIEWER, cap)
    delivered = [] if frame is None else frame.get("chat", [])
    assert delivered == [chat(number) for number in range(3 - cap, 3)]

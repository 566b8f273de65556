"""Slow-consumer stages and frames encoded once for many sockets."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from realtime.codec import JsonCodec, MsgpackCodec
from realtime.outbound import VARIANT_FOR_STAGE, BacklogLimits, SharedFrame, Stage, Variant

LIMITS = BacklogLimits(conflate_at=100, drop_chat_at=200, close_at=300)

FULL: dict[str, Any] = {
    "t": "batch",
    "seq": 9,
    "ts": 1_000,
    "ev": [{"type": "sale", "seq": 9}],
    "chat": [{"text": "好"}],
    "sampled": True,
    "chat_total": 7,
    "st": {"stock": 3},
}


def decoded(message: dict[str, Any] | None) -> Any:
    assert message is not None
    if "text" in message:
        return json.loads(message["text"])
    return msgpack.unpackb(message["bytes"], raw=False)


@pytest.mark.parametrize(
    ("queued_bytes", "stage"),
    [
        (0, Stage.HEALTHY),
        (99, Stage.HEALTHY),
        (100, Stage.CONFLATING),
        (199, Stage.CONFLATING),
        (200, Stage.DROPPING_CHAT),
        (299, Stage.DROPPING_CHAT),
        (300, Stage.HOPELESS),
        (10**9, Stage.HOPELESS),
    ],
)
def test_stage_changes_exactly_at_each_threshold(queued_bytes: int, stage: Stage) -> None:
    assert LIMITS.stage(queued_bytes) is stage


def test_default_limits_are_64_128_and_256_kib() -> None:
    limits = BacklogLimits()
    assert limits.stage(64 * 1024 - 1) is Stage.HEALTHY
    assert limits.stage(64 * 1024) is Stage.CONFLATING
    assert limits.stage(128 * 1024) is Stage.DROPPING_CHAT
    assert limits.stage(256 * 1024) is Stage.HOPELESS


def test_recovered_at_is_half_the_conflation_threshold() -> None:
    assert LIMITS.recovered_at == 50
    assert BacklogLimits(conflate_at=101).recovered_at == 50


def test_every_stage_but_hopeless_has_a_variant() -> None:
    assert VARIANT_FOR_STAGE == {
        Stage.HEALTHY: Variant.FULL,
        Stage.CONFLATING: Variant.NO_STATE,
        Stage.DROPPING_CHAT: Variant.EVENTS_ONLY,
    }


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()])
@pytest.mark.parametrize("variant", list(Variant))
def test_message_is_encoded_once_per_codec_and_variant(
    codec: JsonCodec | MsgpackCodec, variant: Variant
) -> None:
    shared = SharedFrame(FULL)
    first = shared.message(codec, variant)
    assert first is not None
    assert shared.message(codec, variant) is first


def test_each_codec_and_variant_gets_its_own_message() -> None:
    shared = SharedFrame(FULL)
    messages = [
        shared.message(codec, variant)
        for codec in (JsonCodec(), MsgpackCodec())
        for variant in Variant
    ]
    assert len({id(message) for message in messages}) == 6


def test_cache_is_keyed_by_codec_name_so_codec_instances_share_it() -> None:
    shared = SharedFrame(FULL)
    assert shared.message(JsonCodec(), Variant.FULL) is shared.message(JsonCodec(), Variant.FULL)


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()])
def test_full_variant_is_the_whole_frame(codec: JsonCodec | MsgpackCodec) -> None:
    assert decoded(SharedFrame(FULL).message(codec, Variant.FULL)) == FULL


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()])
def test_no_state_variant_drops_only_state(codec: JsonCodec | MsgpackCodec) -> None:
    expected = {key: value for key, value in FULL.items() if key != "st"}
    assert decoded(SharedFrame(FULL).message(codec, Variant.NO_STATE)) == expected


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()])
def test_events_only_variant_drops_state_and_chat(codec: JsonCodec | MsgpackCodec) -> None:
    assert decoded(SharedFrame(FULL).message(codec, Variant.EVENTS_ONLY)) == {
        "t": "batch",
        "seq": 9,
        "ts": 1_000,
        "ev": [{"type": "sale", "seq": 9}],
    }


def test_encoding_a_variant_leaves_the_frame_whole() -> None:
    shared = SharedFrame(dict(FULL))
    shared.message(JsonCodec(), Variant.EVENTS_ONLY)
    assert shared.frame == FULL


def test_no_state_of_a_state_only_frame_is_none() -> None:
    shared = SharedFrame({"t": "batch", "seq": 1, "ts": 0, "st": {"stock": 3}})
    assert shared.message(JsonCodec(), Variant.NO_STATE) is None
    assert shared.message(JsonCodec(), Variant.EVENTS_ONLY) is None
    assert shared.message(JsonCodec(), Variant.FULL) is not None


def test_no_state_keeps_chat_without_events() -> None:
    frame = {"t": "batch", "seq": 1, "ts": 0, "chat": [{"text": "好"}], "st": {"a": 1}}
    shared = SharedFrame(frame)
    assert decoded(shared.message(JsonCodec(), Variant.NO_STATE)) == {
        "t": "batch",
        "seq": 1,
        "ts": 0,
        "chat": [{"text": "好"}],
    }
    assert shared.message(JsonCodec(), Variant.EVENTS_ONLY) is None


def test_state_and_chat_count_of_the_frame() -> None:
    shared = SharedFrame(FULL)
    assert shared.state == {"stock": 3}
    assert shared.chat_count == 1


def test_frame_without_state_or_chat_has_empty_ones() -> None:
    shared = SharedFrame({"t": "batch", "seq": 1, "ts": 0, "ev": []})
    assert shared.state == {}
    assert shared.chat_count == 0

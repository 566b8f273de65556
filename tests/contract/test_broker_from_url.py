"""``broker_from_url``: the URL's scheme picks the backend."""

from __future__ import annotations

import pytest

from realtime.brokers import broker_from_url
from realtime.brokers.memory import MemoryBroker
from realtime.brokers.redis import RedisBroker
from tests.contract._nodes import Recorder, cue_events, make_batch


async def test_memory_url_names_a_bus_shared_by_its_brokers() -> None:
    publisher = broker_from_url("memory://studio", history_size=16)
    same_bus = broker_from_url("memory://studio", history_size=16)
    other_bus = broker_from_url("memory://backstage", history_size=16)
    assert isinstance(publisher, MemoryBroker)
    assert publisher.history_size == 16
    recorders = [Recorder(), Recorder(), Recorder()]
    brokers = [publisher, same_bus, other_bus]
    for broker, recorder in zip(brokers, recorders, strict=True):
        await broker.connect(recorder)
        await broker.subscribe("show1")
    try:
        await publisher.publish("show1", make_batch("n1", cue_events("a", 2)))
        assert [recorder.high_waters("show1") for recorder in recorders] == [[2], [2], []]
        assert (await other_bus.snapshot("show1")).high_water == 0
    finally:
        for broker in brokers:
            await broker.disconnect()


async def test_memory_url_without_a_name_is_the_default_bus() -> None:
    unnamed = broker_from_url("memory://")
    default = broker_from_url("memory://default")
    await unnamed.connect(Recorder())
    await default.connect(Recorder())
    try:
        await unnamed.publish("show1", make_batch("n1", cue_events("a", 3)))
        assert (await default.snapshot("show1")).high_water == 3
    finally:
        await unnamed.disconnect()
        await default.disconnect()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis://localhost/2"])
async def test_redis_url_makes_a_redis_broker(url: str) -> None:
    broker = broker_from_url(url, history_size=64)
    try:
        assert isinstance(broker, RedisBroker)
        assert broker.history_size == 64
        assert broker.url == url
    finally:
        await broker.disconnect()


@pytest.mark.parametrize("url", ["kafka://localhost:9092", "http://localhost/", "nats://bus"])
def test_unknown_scheme_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="unknown broker URL scheme"):
        broker_from_url(url)

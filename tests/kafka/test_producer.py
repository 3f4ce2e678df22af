"""The one producer: back-pressure instead of blocking, typed delivery reports, and the blocking helpers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tikstream.errors import BackPressure
from tikstream.kafka.producer import (
    TOO_LARGE,
    Delivery,
    ProduceError,
    TrackedProducer,
    produce_and_wait,
    produce_waiting,
)

TINY_QUEUE = {"queue.buffering.max.messages": 1}


def test_a_full_local_queue_raises_back_pressure_at_once_and_queues_nothing(nowhere: dict[str, str]) -> None:
    got: list[Delivery] = []
    producer = TrackedProducer(nowhere, {**TINY_QUEUE, "message.timeout.ms": 300})
    producer.produce("t", b"k", b"first", on_delivery=got.append)
    started = time.monotonic()
    with pytest.raises(BackPressure):
        producer.produce("t", b"k", b"second", on_delivery=got.append)
    assert time.monotonic() - started < 0.5, "never blocks"
    assert producer.flush(10) == 0
    assert [d.value for d in got] == [b"first"], "the refused record was not queued: it is never reported"


def test_a_failed_delivery_is_reported_as_plain_values(nowhere: dict[str, str]) -> None:
    got: list[Delivery] = []
    producer = TrackedProducer(nowhere, {"message.timeout.ms": 200})
    producer.produce("t", b"key", b"value", partition=0, on_delivery=got.append)
    assert producer.flush(10) == 0
    (delivery,) = got
    assert type(delivery) is Delivery and delivery.error is not None and delivery.code == "_MSG_TIMED_OUT"
    assert (delivery.topic, delivery.key, delivery.value, delivery.offset) == ("t", b"key", b"value", None)
    assert not delivery.too_large


def test_a_record_larger_than_allowed_is_refused_with_its_code(nowhere: dict[str, str]) -> None:
    producer = TrackedProducer(nowhere, {"message.max.bytes": 1000})
    with pytest.raises(ProduceError) as refused:
        producer.produce("t", b"k", b"x" * 5000)
    assert refused.value.code == TOO_LARGE


def test_produce_waiting_waits_for_room_then_gives_up_with_back_pressure(nowhere: dict[str, str]) -> None:
    producer = TrackedProducer(nowhere, TINY_QUEUE)
    produce_waiting(producer, "t", b"k", b"1", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BackPressure):
        produce_waiting(producer, "t", b"k", b"2", timeout=0.3)
    assert 0.25 < time.monotonic() - started < 2.0


def test_produce_and_wait_reports_none_for_records_not_acknowledged_in_time(nowhere: dict[str, str]) -> None:
    producer = TrackedProducer(nowhere)
    assert produce_and_wait(producer, "t", [(b"a", b"1", None), (b"b", b"2", 0)], 0.3) == [None, None]
    assert produce_and_wait(producer, "t", [], 0.3) == []


# -- against the broker ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_deliveries_carry_partition_offset_key_value_and_timestamp(kafka_config: dict[str, str],
                                                                   new_topic: Callable[..., str]) -> None:
    topic = new_topic(2)
    producer = TrackedProducer(kafka_config, {"enable.idempotence": True, "linger.ms": 5})
    assert producer.partitions(topic, 10) == 2
    got: list[Delivery] = []
    for i in range(3):
        producer.produce(topic, b"k%d" % i, b"v%d" % i, partition=1, headers=[("h", b"x")],
                         timestamp_ms=1_700_000_000_000 + i, on_delivery=got.append)
    producer.produce(topic, None, None, partition=0, on_delivery=got.append)
    assert producer.flush(30) == 0
    assert [d for d in got if d.partition == 1] == [  # one partition reports in produce order
        Delivery(None, None, topic, 1, i, b"k%d" % i, b"v%d" % i, 1_700_000_000_000 + i) for i in range(3)]
    (empty,) = [d for d in got if d.partition == 0]
    assert empty.error is None and (empty.offset, empty.key, empty.value) == (0, None, None) and empty.timestamp_ms


@pytest.mark.integration
def test_back_pressure_clears_once_the_broker_takes_the_queue(kafka_config: dict[str, str],
                                                               new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    producer = TrackedProducer(kafka_config, {"queue.buffering.max.messages": 2, "linger.ms": 200})
    producer.produce(topic, b"k", b"1")
    producer.produce(topic, b"k", b"2")
    with pytest.raises(BackPressure):
        producer.produce(topic, b"k", b"3")
    assert producer.flush(30) == 0
    producer.produce(topic, b"k", b"3")
    assert producer.close(30) == 0


@pytest.mark.integration
def test_produce_and_wait_stores_everything_in_order_through_a_tiny_queue(kafka_config: dict[str, str],
                                                                          new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    producer = TrackedProducer(kafka_config, {**TINY_QUEUE, "enable.idempotence": True})
    deliveries = produce_and_wait(producer, topic, [(b"k", b"%d" % i, 0) for i in range(20)], 30)
    assert all(d is not None and d.error is None for d in deliveries)
    assert [(d.offset, d.value) for d in deliveries if d is not None] == [(i, b"%d" % i) for i in range(20)]

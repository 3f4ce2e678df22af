"""The membership recorder: what it writes, what it owes, back-pressure, failures; and the poll loop's hook."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fakes import FakeConsumer, FakeDeadLetters  # tests/ is on sys.path (tests/conftest.py)

from tikstream.errors import BackPressure
from tikstream.kafka.producer import Delivery, OnDelivery
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.records import Trigger, decode
from tikstream.sinks.audience.members_topic import audience_partition, member_key, split_key
from tikstream.sinks.audience.membership import MembershipRecorder
from tikstream.sinks.manager import SinkManager
from tikstream.testing import NullSink

TP0, TP1 = ("triggers", 0), ("triggers", 1)


@dataclass
class Msg:
    """One write the fake producer took."""

    partition_: int
    key_: bytes
    value_: bytes | None
    ts: int


@dataclass
class FakeProducer:
    """Queues per partition; ``deliver`` reports a partition's oldest messages in produce order, as librdkafka
    does; ``capacity`` bounds what is outstanding (``produce`` then refuses, like a BufferError)."""

    partitions: int = 6
    capacity: int = 1000
    queues: dict[int, deque[tuple[Msg, OnDelivery]]] = field(default_factory=dict)
    log: list[Msg] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)

    def start(self) -> None:
        return None

    def partition_of(self, audience: str) -> int:
        return audience_partition(audience, self.partitions)

    def outstanding(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def produce(self, partition: int, key: bytes, value: bytes | None, timestamp_ms: int,
                on_delivery: OnDelivery) -> bool:
        if self.outstanding() >= self.capacity:
            return False
        msg = Msg(partition, key, value, timestamp_ms)
        self.queues.setdefault(partition, deque()).append((msg, on_delivery))
        self.log.append(msg)
        return True

    def again(self, delivery: Delivery, on_delivery: OnDelivery) -> bool:
        assert delivery.partition is not None and delivery.key is not None and delivery.timestamp_ms is not None
        return self.produce(delivery.partition, delivery.key, delivery.value, delivery.timestamp_ms, on_delivery)

    def deliver(self, partition: int, n: int = 1) -> None:
        queue = self.queues.get(partition, deque())
        for _ in range(min(n, len(queue))):
            msg, callback = queue.popleft()
            error = self.fail_next.pop(0) if self.fail_next else None
            callback(Delivery(error, None if error is None else "TOPIC_AUTHORIZATION_FAILED", "members",
                              msg.partition_, None if error else 0, msg.key_, msg.value_, msg.ts))

    def deliver_all(self) -> None:
        for p in list(self.queues):
            self.deliver(p, len(self.queues[p]))

    def poll(self) -> None:
        return None

    def flush(self, timeout: float) -> int:
        self.deliver_all()
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def trig(user: str, event: str = "enter", audience: str = "vip", ts: float = 1_800_000_000.0) -> Trigger:
    doc: dict[str, Any] = {"audience": audience, "event": event, "user_id": user, "ts": ts}
    if event == "enter":
        doc["user"] = {"email": f"{user}@example.com"}
    return decode(orjson.dumps(doc), None)


def test_enter_stores_the_raw_trigger_and_exit_a_tombstone_keyed_by_audience_and_user() -> None:
    producer = FakeProducer()
    rec = MembershipRecorder(producer)
    enter = trig("u-1")
    rec.record(enter, TP0, 5, 1_790_000_000_123)
    rec.record(trig("u-1", "exit"), TP0, 6, None)
    first, second = producer.log
    assert first.key_ == member_key("vip", "u-1") == b"vip\x00u-1" and split_key(first.key_) == ("vip", "u-1")
    assert first.value_ == enter.raw and first.ts == 1_790_000_000_123  # the trigger's Kafka timestamp
    assert second.value_ is None and second.ts == 1_800_000_000_000  # no Kafka timestamp: the trigger time
    assert first.partition_ == second.partition_ == audience_partition("vip", 6)


def test_an_offset_is_owed_until_its_write_is_acknowledged_whatever_the_delivery_order() -> None:
    producer = FakeProducer()
    rec = MembershipRecorder(producer)
    audiences = ["vip", "churn", "cart", "new", "old"]
    assert len({audience_partition(a, 6) for a in audiences}) > 1
    for offset, audience in enumerate(audiences):
        rec.record(trig("u", audience=audience), TP0, 10 + offset, None)
    rec.record(trig("w"), TP1, 3, None)
    assert rec.pending() == {TP0: 10, TP1: 3}
    later = audience_partition("old", 6)
    producer.deliver(later, 10)  # a later offset's partition answers first: nothing below it is released
    assert rec.pending()[TP0] == 10
    producer.deliver(audience_partition("vip", 6), 10)
    assert rec.pending().get(TP0, 99) > 10
    producer.deliver_all()
    assert rec.pending() == {}


def test_a_full_producer_queue_is_back_pressure_and_nothing_is_owed_for_the_record() -> None:
    producer = FakeProducer(capacity=2)
    rec = MembershipRecorder(producer)
    rec.record(trig("a"), TP0, 1, None)
    rec.record(trig("b"), TP0, 2, None)
    with pytest.raises(BackPressure):
        rec.record(trig("c"), TP0, 3, None)
    assert len(producer.log) == 2 and rec.pending() == {TP0: 1}
    producer.deliver_all()
    rec.record(trig("c"), TP0, 3, None)
    assert rec.pending() == {TP0: 3}


def test_a_failed_write_stays_owed_and_is_produced_again_after_the_retry_delay() -> None:
    producer, clock = FakeProducer(), Clock()
    rec = MembershipRecorder(producer, clock=clock, retry_seconds=5.0)
    rec.record(trig("a"), TP0, 1, 1_790_000_000_000)
    rec.record(trig("b"), TP0, 2, None)
    producer.fail_next = ["Broker: Topic authorization failed"]
    producer.deliver_all()
    assert rec.pending() == {TP0: 1} and rec.failed == 1 and "authorization" in str(rec.last_error)
    rec.poll()
    assert len(producer.log) == 2  # not before the delay
    clock.now += 5
    rec.poll()
    assert len(producer.log) == 3 and producer.log[2].key_ == b"vip\x00a" and producer.log[2].ts == 1_790_000_000_000
    producer.deliver_all()
    assert rec.pending() == {}


def test_drop_forgets_a_partition_and_late_acknowledgements_are_harmless() -> None:
    producer = FakeProducer()
    rec = MembershipRecorder(producer)
    rec.record(trig("a"), TP0, 1, None)
    rec.record(trig("b"), TP1, 7, None)
    rec.drop([TP0])
    assert rec.pending() == {TP1: 7}
    producer.deliver_all()
    assert rec.pending() == {}
    rec.record(trig("a"), TP0, 1, None)  # consumed again after a new assignment
    assert rec.pending() == {TP0: 1}


def test_flush_waits_for_acknowledgements() -> None:
    producer = FakeProducer()
    rec = MembershipRecorder(producer)
    rec.record(trig("a"), TP0, 1, None)
    assert rec.flush(1.0) is True and rec.pending() == {}
    assert rec.status() == {"recorded": 1, "failed": 0, "last_error": None}


# -- the poll loop's hook -----------------------------------------------------------------------------------


def loop(producer: FakeProducer) -> tuple[FakeConsumer, FakeDeadLetters, Processor]:
    consumer, dlq, metrics = FakeConsumer(), FakeDeadLetters(), Metrics()
    sinks = SinkManager(lambda v: NullSink(), lambda v, r: NullSink(), metrics)
    processor = Processor(consumer, dlq, sinks, metrics, commit_interval=0.0,
                          recorder=MembershipRecorder(producer))
    return consumer, dlq, processor


def value(user: str, event: str = "enter", audience: str = "anything") -> bytes:
    return orjson.dumps({"audience": audience, "event": event, "user_id": user, "ts": 1_800_000_000})


def test_every_decoded_trigger_is_recorded_even_without_a_job_and_commits_wait_for_acks() -> None:
    producer = FakeProducer()
    consumer, dlq, processor = loop(producer)
    consumer.add("triggers", 0, [value("a"), b"not json", value("b", "exit", "other")])
    processor.step()
    assert [m.key_ for m in producer.log] == [b"anything\x00a", b"other\x00b"]
    assert dlq.sent == [(TP0, 1, "invalid_json")]
    assert consumer.commits == []  # offset 0 is owed to the recorder
    producer.deliver_all()
    processor.step()
    assert consumer.commits[-1] == {TP0: 3}


def test_a_refusing_recorder_pauses_the_partition_and_the_records_are_offered_again_in_order() -> None:
    producer = FakeProducer(capacity=2)
    consumer, _, processor = loop(producer)
    consumer.add("triggers", 0, [value(f"u{i}") for i in range(5)])
    processor.step()
    assert TP0 in consumer.paused and len(producer.log) == 2
    for _ in range(3):
        producer.deliver_all()
        processor.step()
    assert [split_key(m.key_)[1] for m in producer.log] == [f"u{i}" for i in range(5)]
    producer.deliver_all()
    processor.step()
    assert TP0 not in consumer.paused and consumer.commits[-1] == {TP0: 5}


def test_revoke_flushes_the_recorder_before_committing() -> None:
    producer = FakeProducer()
    consumer, _, processor = loop(producer)
    consumer.add("triggers", 0, [value("a"), value("b")])
    processor.step()
    processor.on_revoke([TP0])
    assert consumer.commits[-1] == {TP0: 2}

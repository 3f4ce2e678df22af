"""Contract tests: the in-memory fakes used by the unit tests behave like the real thing on a real broker.

Each test runs twice, once against ``tests/fakes.py`` and once against ``tikstream.kafka`` on Kafka.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import produce
from fakes import FakeConsumer, FakeDeadLetters

from tikstream.kafka.consumer import TriggerConsumer
from tikstream.kafka.dlq import DeadLetterWriter
from tikstream.metrics import Metrics

Partition = tuple[str, int]


class RealConsumer:
    """TriggerConsumer on a fresh topic, subscribed and assigned before the test starts."""

    def __init__(self, kafka_config: dict[str, str], topic: str) -> None:
        self.topic = topic
        self.kafka_config = kafka_config
        self.c = TriggerConsumer(kafka_config, f"contract-{uuid.uuid4().hex}", "earliest")
        self.assigned: list[Partition] = []
        self.c.subscribe([topic], self.assigned.extend, lambda p: None, lambda p: None)

    def add(self, topic: str, partition: int, values: list[bytes]) -> None:
        produce(self.kafka_config, self.topic, [(b"k", v) for v in values], partition=partition)


def _drain(consumer: Any, want: int, timeout: float = 20.0, partition: int | None = None) -> list[Any]:
    """Consume until ``want`` records (of ``partition``, if given) came, or ``timeout``; returns all consumed."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while sum(partition is None or m.partition() == partition for m in out) < want and time.monotonic() < deadline:
        out.extend(m for m in consumer.consume(100, 0.2) if m.error() is None)
    return out


@pytest.fixture(params=["fake", "kafka"])
def consumer(request: pytest.FixtureRequest, kafka_config: dict[str, str],
             new_topic: Callable[..., str]) -> Iterator[tuple[Any, Callable[[int, list[bytes]], None], str]]:
    if request.param == "fake":
        fake = FakeConsumer()
        yield fake, lambda p, vs: fake.add("t", p, vs), "t"
        return
    topic = new_topic(2, "contract")
    real = RealConsumer(kafka_config, topic)
    yield real.c, lambda p, vs: real.add(topic, p, vs), topic
    real.c.close()


def test_records_of_a_partition_come_in_order_without_gaps(consumer: Any) -> None:
    c, add, topic = consumer
    add(0, [b"%d" % i for i in range(50)])
    got = _drain(c, 50)
    assert [m.offset() for m in got if m.partition() == 0] == list(range(50))
    assert all(m.topic() == topic for m in got)


def test_paused_partition_delivers_nothing_and_resume_continues_where_it_stopped(consumer: Any) -> None:
    c, add, topic = consumer
    add(0, [b"a%d" % i for i in range(10)])
    first = _drain(c, 1)
    assert first, "nothing consumed"
    c.pause([(topic, 0)])
    add(0, [b"b%d" % i for i in range(10)])
    add(1, [b"c%d" % i for i in range(5)])
    during = _drain(c, 5, timeout=10.0, partition=1)
    assert [m.value() for m in during if m.partition() == 1] == [b"c%d" % i for i in range(5)], \
        "the records added to partition 1 come from partition 1, in order, while partition 0 is paused"
    assert [m.offset() for m in during if m.partition() == 1] == list(range(5))
    delivered_p0 = [m.offset() for m in first + during if m.partition() == 0]
    assert all(m.value().startswith(b"a") for m in first + during if m.partition() == 0), \
        "the paused partition sent nothing new"
    c.resume([(topic, 0)])
    after = _drain(c, 20 - len(delivered_p0), partition=0)
    assert all(m.partition() == 0 for m in after), "only partition 0 had records left"
    p0 = delivered_p0 + [m.offset() for m in after if m.partition() == 0]
    assert sorted(p0) == list(range(20)) and len(p0) == 20, "no gap and no duplicate across pause and resume"


@pytest.fixture(params=["fake", "kafka"])
def dead_letters(request: pytest.FixtureRequest, kafka_config: dict[str, str], new_topic: Callable[..., str]) -> Any:
    if request.param == "fake":
        return FakeDeadLetters()
    return DeadLetterWriter(kafka_config, new_topic(1, "dlq"), Metrics())


def test_dead_letter_is_owed_until_acknowledged(dead_letters: Any) -> None:
    tp = ("src", 0)
    dead_letters.send(tp, 7, b"k", b"v", error_class="invalid_json", error="bad")
    dead_letters.send(tp, 9, b"k", b"v", error_class="invalid_json", error="bad")
    assert dead_letters.pending() == {tp: 7}, "owed right after send"
    deadline = time.monotonic() + 10
    while dead_letters.pending() and time.monotonic() < deadline:
        dead_letters.poll()
        time.sleep(0.05)
    assert dead_letters.pending() == {}, "released once acknowledged"


def test_dropped_partitions_are_no_longer_owed(dead_letters: Any) -> None:
    dead_letters.send(("src", 1), 3, None, b"v", error_class="x", error="y")
    dead_letters.drop([("src", 1)])
    assert dead_letters.pending() == {}
    assert dead_letters.flush(10)

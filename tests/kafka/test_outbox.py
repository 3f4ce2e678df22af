"""The outbox: a full producer queue keeps records in memory, in order, without blocking or losing one."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tikstream.errors import BackPressure
from tikstream.kafka.outbox import Outbox
from tikstream.kafka.producer import TOO_LARGE, Delivery, OnDelivery, ProduceError, TrackedProducer


@dataclass
class FakeProducer:
    """A local queue of ``room`` records; ``poll``/``flush`` deliver what it holds; values over 10 bytes are
    refused like librdkafka refuses a record over ``message.max.bytes``."""

    room: int = 2
    queued: list[tuple[bytes | None, OnDelivery | None]] = field(default_factory=list)
    produced: list[bytes | None] = field(default_factory=list)

    def produce(self, topic: str, key: bytes | None, value: bytes | None, *, headers: object = None,
                on_delivery: OnDelivery | None = None, **_: object) -> None:
        if value is not None and len(value) > 10:
            raise ProduceError(f"{topic}: too large", TOO_LARGE)
        if len(self.queued) >= self.room:
            raise BackPressure("full")
        self.queued.append((value, on_delivery))
        self.produced.append(value)

    def poll(self, timeout: float = 0.0) -> int:
        queued, self.queued = self.queued, []
        for offset, (value, callback) in enumerate(queued):
            if callback is not None:
                callback(Delivery(None, None, "t", 0, offset, b"k", value, None))
        return len(queued)

    def flush(self, timeout: float) -> int:
        self.poll()
        return len(self.queued)


def outbox(room: int = 2) -> tuple[Outbox, FakeProducer]:
    producer = FakeProducer(room)
    return Outbox(producer), producer  # type: ignore[arg-type]  # the fake has the calls Outbox makes


def test_records_the_queue_cannot_take_wait_in_order_and_later_sends_wait_behind_them() -> None:
    box, producer = outbox(room=2)
    delivered: list[bytes | None] = []
    for i in range(5):
        box.send("t", b"k", b"%d" % i, on_delivery=lambda d: delivered.append(d.value))
    assert producer.produced == [b"0", b"1"], "no blocking: the rest wait"
    producer.poll()  # the queue drains without the outbox: what waits must still go first
    box.send("t", b"k", b"5", on_delivery=lambda d: delivered.append(d.value))
    assert producer.produced == [b"0", b"1"]
    box.poll()
    assert producer.produced == [b"0", b"1", b"2", b"3"]
    assert box.flush(1.0) == 0
    assert producer.produced == [b"%d" % i for i in range(6)] and delivered == producer.produced


def test_a_record_refused_outright_raises_at_send() -> None:
    box, _ = outbox()
    with pytest.raises(ProduceError):
        box.send("t", b"k", b"x" * 11)


def test_a_waiting_record_refused_later_is_reported_as_a_failed_delivery() -> None:
    box, producer = outbox(room=1)
    reports: list[Delivery] = []
    box.send("t", b"k", b"ok")
    box.send("t", b"k", b"waits")  # the queue is full: from now on records wait, unchecked
    box.send("t", b"k", b"x" * 11, on_delivery=reports.append)
    box.send("t", b"k", b"after")
    assert box.flush(1.0) == 0
    assert producer.produced == [b"ok", b"waits", b"after"]
    assert [(d.code, d.value, d.too_large) for d in reports] == [(TOO_LARGE, b"x" * 11, True)]


def test_flush_gives_up_after_the_timeout_and_counts_what_waits(nowhere: dict[str, str]) -> None:
    box = Outbox(TrackedProducer(nowhere, {"queue.buffering.max.messages": 1}))
    for i in range(3):
        box.send("t", b"k", b"%d" % i)
    assert box.flush(0.2) == 3  # one outstanding in the producer, two waiting here

"""The one producer: confluent-kafka's ``Producer`` behind a call that never blocks, and one blocking helper.

``TrackedProducer.produce`` queues a record in librdkafka's local queue and returns at once. When that queue is
full it raises ``BackPressure`` and nothing was queued: the caller decides what to do (the poll loop parks
the record, ``Outbox`` keeps it in memory, ``produce_waiting`` polls until there is room). A record librdkafka
refuses outright (larger than ``message.max.bytes``, an unknown partition) raises ``ProduceError``.

Delivery callbacks run inside ``poll``/``flush``, on the calling thread, and receive a ``Delivery``: plain
values, so no confluent-kafka type leaves this package. For one partition they come in produce order (the
idempotent producer keeps that order). Each caller keeps its own producer settings (idempotence, acks, linger,
``message.max.bytes``, timeouts); this module adds none.

``produce_waiting`` and ``produce_and_wait`` block: they are for callers that are not the poll loop and must
wait (the audience state store, config publishing, DLQ replay).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Final, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Producer

from tikstream.errors import BackPressure, TikstreamError

__all__ = ["TOO_LARGE", "Delivery", "OnDelivery", "ProduceError", "TrackedProducer", "produce_and_wait",
           "produce_waiting"]

TOO_LARGE: Final = "MSG_SIZE_TOO_LARGE"
"""``Delivery.code`` / ``ProduceError.code`` of a record larger than the topic or producer allows."""

Headers = Sequence[tuple[str, bytes | None]]


class Delivery(NamedTuple):
    """A delivery report. ``error`` is None once the broker acknowledged the record; else ``error`` is the
    error text and ``code`` librdkafka's error name (e.g. ``MSG_SIZE_TOO_LARGE``, ``_MSG_TIMED_OUT``), and
    ``partition``/``offset`` may be None."""

    error: str | None
    code: str | None
    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None

    @property
    def too_large(self) -> bool:
        return self.code == TOO_LARGE


OnDelivery = Callable[[Delivery], None]


class ProduceError(TikstreamError):
    """librdkafka refused a record at ``produce`` (not a full queue: that is ``BackPressure``)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


def _report(on_delivery: OnDelivery, err: KafkaError | None, msg: Any) -> None:
    ts_type, ts = msg.timestamp()
    on_delivery(Delivery(None if err is None else str(err), None if err is None else err.name(), msg.topic(),
                         msg.partition(), msg.offset(), msg.key(), msg.value(), ts if ts_type else None))


class TrackedProducer:
    """One confluent-kafka producer.

    ``produce`` and ``poll`` may be called from any thread (librdkafka is thread-safe); callbacks run on
    whichever thread polls or flushes.
    """

    __slots__ = ("_produce", "_producer")

    def __init__(self, kafka_config: Mapping[str, str], settings: Mapping[str, Any] | None = None) -> None:
        self._producer = Producer({**kafka_config, **(settings or {})})
        self._produce = self._producer.produce

    def produce(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
                headers: Headers | None = None, timestamp_ms: int | None = None,
                on_delivery: OnDelivery | None = None) -> None:
        """Queue one record (``partition`` None: the partitioner's choice; ``timestamp_ms`` None: now).
        Never blocks. Raises ``BackPressure`` (nothing queued) when the local queue is full, ``ProduceError``
        when librdkafka refuses the record."""
        report = None if on_delivery is None else partial(_report, on_delivery)
        try:
            if headers is None:
                self._produce(topic, value, key, -1 if partition is None else partition, report,
                              timestamp=timestamp_ms or 0)
            else:
                self._produce(topic, value, key, -1 if partition is None else partition, report,
                              timestamp=timestamp_ms or 0, headers=list(headers))
        except BufferError as exc:
            raise BackPressure(f"{topic}: the producer's local queue is full") from exc
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            raise ProduceError(f"{topic}: {exc}", err.name() if isinstance(err, KafkaError) else None) from exc

    def poll(self, timeout: float = 0.0) -> int:
        """Serve the delivery callbacks that are due (waiting up to ``timeout`` for one); returns how many ran."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float) -> int:
        """Serve callbacks until nothing is outstanding or ``timeout`` passed; returns how many are outstanding."""
        return int(self._producer.flush(max(0.0, timeout)))

    def partitions(self, topic: str, timeout: float) -> int:
        """The partition count of ``topic`` (0 when it does not exist). Raises ``ProduceError`` when the
        cluster does not answer."""
        try:
            found = self._producer.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException as exc:
            raise ProduceError(f"{topic}: cannot read metadata: {exc}", None) from exc
        return len(found.partitions) if found is not None and found.partitions else 0

    def close(self, timeout: float = 5.0) -> int:
        """Flush for up to ``timeout``; returns how many records were still outstanding."""
        return self.flush(timeout)


# -- blocking helpers (never on the poll loop) ----------------------------------------------------------------

def produce_waiting(producer: TrackedProducer, topic: str, key: bytes | None, value: bytes | None, *,
                    partition: int | None = None, headers: Headers | None = None,
                    on_delivery: OnDelivery | None = None, timeout: float | None = None) -> None:
    """``producer.produce``, polling while the local queue is full: blocks until the record is queued.
    Raises ``BackPressure`` if there is still no room after ``timeout`` seconds (None: waits as long as it takes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            producer.produce(topic, key, value, partition=partition, headers=headers, on_delivery=on_delivery)
            return
        except BackPressure:
            if deadline is not None and time.monotonic() >= deadline:
                raise
            producer.poll(0.05)


def produce_and_wait(producer: TrackedProducer, topic: str,
                     records: Iterable[tuple[bytes | None, bytes | None, int | None]],
                     timeout: float) -> list[Delivery | None]:
    """Produce ``(key, value, partition)`` records (polling while the queue is full) and wait up to ``timeout``
    seconds for their delivery reports. Returns one entry per record, in order: its ``Delivery`` (check
    ``error``), or None when none came in time. Safe to call from several threads at once."""
    items = list(records)
    if not items:
        return []
    results: list[Delivery | None] = [None] * len(items)
    lock, done = threading.Lock(), threading.Event()
    left = [len(items)]

    def delivered(index: int, delivery: Delivery) -> None:
        results[index] = delivery
        with lock:
            left[0] -= 1
            if not left[0]:
                done.set()

    deadline = time.monotonic() + timeout
    for index, (key, value, partition) in enumerate(items):
        try:
            produce_waiting(producer, topic, key, value, partition=partition,
                            on_delivery=partial(delivered, index), timeout=max(0.0, deadline - time.monotonic()))
        except BackPressure:
            break  # no room in time: the rest are reported as None
    while not done.is_set() and time.monotonic() < deadline:
        producer.poll(0.05)
    return list(results)

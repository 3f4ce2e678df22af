"""Dead letters: records tikstream cannot use, written unchanged to the DLQ topic with the reason in headers.

The writer owes a record's offset until the broker acknowledged the dead letter, so the poll loop never
commits past a record whose dead letter could still be lost. A failed delivery is produced again.
Headers (docs/architecture.md §2): ``error``, ``error_class``, ``job`` (if any), ``source_topic``, ``source_partition``,
``source_offset``. Error texts never carry secrets: callers pass TikTok codes and messages, never tokens.

A value the DLQ topic cannot hold (larger than its ``max.message.bytes``) is written without its value and
with the header ``value_omitted`` giving the original size, rather than retried for ever.

``send`` is called from the poll loop and never blocks it. When the producer's local queue is full, the letter
waits in memory, in order, in an ``Outbox`` and is produced by a later ``poll`` or ``flush``; its offset stays
owed meanwhile, so nothing is committed past it and nothing is lost but what a crash loses anyway (the
uncommitted records are consumed again and dead-lettered again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, NamedTuple

from tikstream.kafka.outbox import Outbox
from tikstream.kafka.producer import Delivery, ProduceError, TrackedProducer
from tikstream.metrics import Metrics
from tikstream.offsets import OwedOffsets
from tikstream.records import Partition

log = logging.getLogger(__name__)

MAX_ERROR_HEADER = 2000
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class _Letter(NamedTuple):
    partition: Partition
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    error_class: str

    def without_value(self) -> _Letter:
        assert self.value is not None
        note = f"{len(self.value)} bytes, too large for the DLQ topic".encode()
        return self._replace(value=None, headers=[*self.headers, ("value_omitted", note)])


class DeadLetterWriter:
    """Produces dead letters and tracks which source offsets are still owed until acknowledged.
    ``producer_settings`` are added to the writer's own librdkafka settings (tests use a tiny queue)."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, metrics: Metrics, *,
                 producer_settings: Mapping[str, Any] | None = None) -> None:
        self._outbox = Outbox(TrackedProducer(kafka_config, {
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.timeout.ms": 60_000,
            "message.max.bytes": MAX_MESSAGE_BYTES,
            **(producer_settings or {}),
        }))
        self._topic = topic
        self._metrics = metrics
        self._owed = OwedOffsets()

    def send(self, partition: Partition, offset: int, key: bytes | None, value: bytes | None, *,
             error_class: str, error: str, job: str | None = None) -> None:
        headers: list[tuple[str, bytes | None]] = [
            ("error", error[:MAX_ERROR_HEADER].encode()),
            ("error_class", error_class.encode()),
            ("source_topic", partition[0].encode()),
            ("source_partition", str(partition[1]).encode()),
            ("source_offset", str(offset).encode()),
        ]
        if job is not None:
            headers.append(("job", job.encode()))
        self._owed.add(partition, offset)
        self._produce(_Letter(partition, offset, key, value, headers, error_class))

    def _produce(self, letter: _Letter) -> None:
        try:
            self._outbox.send(self._topic, letter.key, letter.value, headers=letter.headers,
                              on_delivery=partial(self._delivered, letter))
        except ProduceError as exc:
            if letter.value is None:
                raise
            log.warning("dead letter too large for the DLQ topic", extra={"error": str(exc)})
            self._produce(letter.without_value())

    def _delivered(self, letter: _Letter, delivery: Delivery) -> None:
        if delivery.error is None:
            self._metrics.dlq_records_total.labels(letter.error_class).inc()
            self._owed.release(letter.partition, letter.offset)
        elif delivery.too_large and letter.value is not None:
            self._produce(letter.without_value())
        else:
            log.warning("dead letter not delivered, producing again", extra={"error": delivery.error})
            self._produce(letter)

    def poll(self) -> None:
        self._outbox.poll()

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: Iterable[Partition]) -> None:
        self._owed.drop(partitions)

    def flush(self, timeout: float) -> bool:
        self._outbox.flush(timeout)
        return not self._owed

    def close(self) -> None:
        self._outbox.close(5.0)

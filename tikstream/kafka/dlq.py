"""Dead letters: records tikstream cannot use, written unchanged to the DLQ topic with the reason in headers.

The writer owes a record's offset until the broker acknowledged the dead letter, so the poll loop never
commits past a record whose dead letter could still be lost. A failed delivery is produced again.
Headers (docs/architecture.md §2): ``error``, ``error_class``, ``job`` (if any), ``source_topic``, ``source_partition``,
``source_offset``. Error texts never carry secrets: callers pass TikTok codes and messages, never tokens.

A value the DLQ topic cannot hold (larger than its ``max.message.bytes``) is written without its value and
with the header ``value_omitted`` giving the original size, rather than retried for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from tikstream.metrics import Metrics
from tikstream.records import Partition

log = logging.getLogger(__name__)

MAX_ERROR_HEADER = 2000
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class DeadLetterWriter:
    """Produces dead letters and tracks which source offsets are still owed until acknowledged."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, metrics: Metrics) -> None:
        self._producer = Producer({
            **kafka_config,
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.timeout.ms": 60_000,
            "message.max.bytes": MAX_MESSAGE_BYTES,
        })
        self._topic = topic
        self._metrics = metrics
        self._owed: dict[Partition, dict[int, int]] = {}

    def send(self, partition: Partition, offset: int, key: bytes | None, value: bytes | None, *,
             error_class: str, error: str, job: str | None = None) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("error", error[:MAX_ERROR_HEADER].encode()),
            ("error_class", error_class.encode()),
            ("source_topic", partition[0].encode()),
            ("source_partition", str(partition[1]).encode()),
            ("source_offset", str(offset).encode()),
        ]
        if job is not None:
            headers.append(("job", job.encode()))
        counts = self._owed.setdefault(partition, {})
        counts[offset] = counts.get(offset, 0) + 1
        self._produce(partition, offset, key, value, headers, error_class)

    def _produce(self, partition: Partition, offset: int, key: bytes | None, value: bytes | None,
                 headers: list[tuple[str, str | bytes | None]], error_class: str) -> None:
        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE and value is not None:
                self._produce_without_value(partition, offset, key, value, headers, error_class)
            elif err is not None:
                log.warning("dead letter not delivered, producing again", extra={"error": str(err)})
                self._produce(partition, offset, key, value, headers, error_class)
            else:
                self._metrics.dlq_records_total.labels(error_class).inc()
                self._release(partition, offset)

        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, headers=headers, on_delivery=delivered)
                return
            except BufferError:
                self._producer.poll(0.1)
            except KafkaException as exc:
                if value is None:
                    raise
                log.warning("dead letter too large for the DLQ topic", extra={"error": str(exc)})
                self._produce_without_value(partition, offset, key, value, headers, error_class)
                return

    def _produce_without_value(self, partition: Partition, offset: int, key: bytes | None, value: bytes,
                               headers: list[tuple[str, str | bytes | None]], error_class: str) -> None:
        headers = [*headers, ("value_omitted", f"{len(value)} bytes, too large for the DLQ topic".encode())]
        self._produce(partition, offset, key, None, headers, error_class)

    def _release(self, partition: Partition, offset: int) -> None:
        counts = self._owed.get(partition)
        if counts is None or offset not in counts:
            return
        counts[offset] -= 1
        if counts[offset] == 0:
            del counts[offset]
        if not counts:
            del self._owed[partition]

    def poll(self) -> None:
        self._producer.poll(0)

    def pending(self) -> Mapping[Partition, int]:
        return {p: min(counts) for p, counts in self._owed.items()}

    def drop(self, partitions: Iterable[Partition]) -> None:
        for p in partitions:
            self._owed.pop(p, None)

    def flush(self, timeout: float) -> bool:
        self._producer.flush(timeout)
        return not self._owed

    def close(self) -> None:
        self._producer.flush(5.0)

"""The parked-records topic ``{group_id}.parked``: a producer and a consumer over confluent-kafka.

A job paused by an authorization error parks its records here (``tikstream.sinks.events.parking`` holds the rules);
this module only speaks Kafka. The topic is compacted: each parked record has a key of its own
(``{job_id}/{topic}/{partition}/{offset}``) and is tombstoned once delivered, so the topic keeps exactly the
records still waiting, however long a job stays paused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from tikstream.kafka.admin import TopicSpec, ensure_topics
from tikstream.kafka.watermarks import watermarks

__all__ = ["PARKED_TOPIC_CONFIG", "ParkedConsumer", "ParkedProducer", "ParkedRecord", "ensure_parked_topic",
           "parked_topic"]

log = logging.getLogger(__name__)

PARKED_PARTITIONS: Final = 3
PARKED_TOPIC_CONFIG: Final[Mapping[str, str]] = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(2 * 1024 * 1024),
}


def parked_topic(group_id: str) -> str:
    return f"{group_id}.parked"


def ensure_parked_topic(kafka_config: Mapping[str, str], topic: str) -> None:
    """Create the parked topic if it is missing (raises ``ConfigError`` when Kafka cannot be reached)."""
    ensure_topics(kafka_config, [TopicSpec(topic, PARKED_PARTITIONS, PARKED_TOPIC_CONFIG)])


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone
    headers: Mapping[str, bytes]


class ParkedProducer:
    """Produces parked records and tombstones. ``poll`` serves delivery callbacks: call it from one thread."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str) -> None:
        self._producer = Producer({
            **kafka_config,
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.timeout.ms": 60_000,
        })
        self.topic = topic

    def produce(self, key: bytes, value: bytes | None, headers: Sequence[tuple[str, bytes]],
                on_delivery: Callable[[str | None], None] | None = None) -> None:
        """Queue one record; ``on_delivery(error or None)`` runs in a later ``poll``. Waits (polling) only
        while librdkafka's local queue is full."""

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if on_delivery is not None:
                on_delivery(None if err is None else str(err))

        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, headers=list(headers),
                                       on_delivery=delivered)
                return
            except BufferError:
                self._producer.poll(0.05)

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for deliveries; returns how many are still outstanding."""
        return int(self._producer.flush(timeout))

    def close(self) -> None:
        self._producer.flush(5.0)


class ParkedConsumer:
    """A consumer-group member reading the parked topic from the start; commits only what it is told."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, group_id: str) -> None:
        self.topic = topic
        self.joined = False
        self.assignment: set[int] = set()
        self._consumer = Consumer({
            **kafka_config,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "fetch.wait.max.ms": 100,
        })
        self._consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._revoked)

    def _assigned(self, _c: Any, tps: list[TopicPartition]) -> None:
        self.joined = True
        self.assignment.update(tp.partition for tp in tps)

    def _revoked(self, _c: Any, tps: list[TopicPartition]) -> None:
        self.assignment.difference_update(tp.partition for tp in tps)

    def consume(self, max_records: int, timeout: float) -> list[ParkedRecord]:
        out = []
        for msg in self._consumer.consume(max_records, timeout):
            if msg.error() is not None:
                log.warning("parked topic: consumer error", extra={"error": str(msg.error())})
                continue
            headers: dict[str, bytes] = {}
            for header in msg.headers() or []:
                if isinstance(header[1], bytes):
                    headers[header[0]] = header[1]
            key, value = msg.key(), msg.value()
            out.append(ParkedRecord(msg.partition() or 0, msg.offset() or 0,
                                    key.encode() if isinstance(key, str) else key,
                                    value.encode() if isinstance(value, str) else value, headers))
        return out

    def commit(self, offsets: Mapping[int, int]) -> bool:
        """Commit ``partition -> next offset`` synchronously; False when Kafka refused it."""
        if not offsets:
            return True
        tps = [TopicPartition(self.topic, p, o) for p, o in offsets.items()]
        try:
            self._consumer.commit(offsets=tps, asynchronous=False)
            return True
        except KafkaException as exc:
            log.warning("parked topic: commit failed", extra={"error": str(exc)})
            return False

    def caught_up(self, timeout: float = 5.0) -> bool:
        """True once joined and every assigned partition's position has reached its high watermark."""
        if not self.joined:
            return False
        if not self.assignment:
            return True
        tps = [TopicPartition(self.topic, p) for p in sorted(self.assignment)]
        try:
            positions = {tp.partition: tp.offset for tp in self._consumer.position(tps)}
            missing = [tp for tp in tps if positions.get(tp.partition, OFFSET_INVALID) < 0]
            if missing:
                for tp in self._consumer.committed(missing, timeout=timeout):
                    positions[tp.partition] = tp.offset
            for tp in tps:
                low, high = watermarks(self._consumer, tp, timeout)
                position = positions.get(tp.partition, OFFSET_INVALID)
                if high > low and max(position, low) < high:
                    return False
        except KafkaException as exc:
            log.warning("parked topic: cannot read positions", extra={"error": str(exc)})
            return False
        return True

    def close(self) -> None:
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("parked topic: close failed", extra={"error": str(exc)})

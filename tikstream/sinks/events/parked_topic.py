"""The parked-records topic ``{group_id}.parked``: a producer and a consumer (``tikstream.kafka``'s mechanics).

A job paused by an authorization error parks its records here (``tikstream.sinks.events.parking`` holds the rules);
this module only speaks Kafka. The topic is compacted: each parked record has a key of its own
(``{job_id}/{topic}/{partition}/{offset}``) and is tombstoned once delivered, so the topic keeps exactly the
records still waiting, however long a job stays paused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from tikstream.kafka.admin import TopicSpec, ensure_topics
from tikstream.kafka.consumer import GroupConsumer
from tikstream.kafka.outbox import Outbox
from tikstream.kafka.producer import Delivery, TrackedProducer

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
        self._outbox = Outbox(TrackedProducer(kafka_config, {
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.timeout.ms": 60_000,
        }))
        self.topic = topic

    def produce(self, key: bytes, value: bytes | None, headers: Sequence[tuple[str, bytes]],
                on_delivery: Callable[[str | None], None] | None = None) -> None:
        """Queue one record; ``on_delivery(error or None)`` runs in a later ``poll``. Never blocks: while
        librdkafka's local queue is full the record waits in memory, in order (``tikstream.kafka.outbox``)."""

        def delivered(delivery: Delivery) -> None:
            if on_delivery is not None:
                on_delivery(delivery.error)

        self._outbox.send(self.topic, key, value, headers=list(headers), on_delivery=delivered)

    def poll(self) -> None:
        self._outbox.poll()

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for deliveries; returns how many are still outstanding."""
        return self._outbox.flush(timeout)

    def close(self) -> None:
        self._outbox.close(5.0)


class ParkedConsumer:
    """A consumer-group member reading the parked topic from the start; commits only what it is told."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, group_id: str) -> None:
        self.topic = topic
        self._consumer = GroupConsumer(kafka_config, group_id, {
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "fetch.wait.max.ms": 100,
        })
        self._consumer.subscribe([topic])

    def consume(self, max_records: int, timeout: float) -> list[ParkedRecord]:
        out = []
        for rec in self._consumer.records(max_records, timeout):
            headers = {name: value for name, value in rec.headers if isinstance(value, bytes)}
            out.append(ParkedRecord(rec.partition, rec.offset, rec.key, rec.value, headers))
        return out

    def commit(self, offsets: Mapping[int, int]) -> bool:
        """Commit ``partition -> next offset`` synchronously; False when Kafka refused it."""
        return self._consumer.commit({(self.topic, p): o for p, o in offsets.items()})

    def caught_up(self, timeout: float = 5.0) -> bool:
        """True once joined and every assigned partition's position has reached its high watermark."""
        return self._consumer.caught_up(timeout)

    def close(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:  # a Kafka error at close: the group sees the member leave by its timeout
            log.warning("parked topic: close failed", extra={"error": str(exc)})

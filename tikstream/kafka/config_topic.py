"""The compacted config topic: read from the beginning without a consumer group, and publish job versions.

The reader assigns every partition from the beginning (no group, nothing committed) and is *caught up* once
it reached, on every partition, the end offset it saw when it started: from then on it has seen every job
version that existed when the service started, so routing may begin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from tikstream.errors import ConfigError
from tikstream.jobs.registry import ConfigRecord
from tikstream.kafka.producer import TrackedProducer, produce_and_wait
from tikstream.kafka.watermarks import watermarks

__all__ = ["ConfigRecord", "ConfigTopicReader", "publish", "read_config_topic"]


class ConfigTopicReader:
    """Reads the whole config topic and keeps reading. Used from one thread."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str) -> None:
        self._topic = topic
        self._consumer = Consumer({
            **kafka_config,
            "group.id": f"tikstream-config-reader-{uuid.uuid4().hex}",  # never joined, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 100,
        })
        self._end: dict[int, int] = {}
        self._position: dict[int, int] = {}

    def start(self, timeout: float = 30.0) -> None:
        """Assign every partition from the beginning and note the end offsets to reach."""
        try:
            meta = self._consumer.list_topics(self._topic, timeout=timeout)
        except KafkaException as exc:
            raise ConfigError(f"cannot read config topic {self._topic}: {exc}") from exc
        topic = meta.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise ConfigError(f"config topic {self._topic} does not exist")
        for p in topic.partitions:
            low, high = watermarks(self._consumer, TopicPartition(self._topic, p), timeout)
            self._end[p] = high
            self._position[p] = low
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in topic.partitions])

    @property
    def caught_up(self) -> bool:
        return all(self._position.get(p, 0) >= end for p, end in self._end.items())

    def poll(self, timeout: float, max_records: int = 500) -> list[ConfigRecord]:
        out = []
        for msg in self._consumer.consume(max_records, timeout):
            if msg.error() is not None:
                continue
            key, partition, offset = msg.key(), msg.partition() or 0, msg.offset() or 0
            self._position[partition] = offset + 1
            if key is None:
                continue
            ts_type, ts = msg.timestamp()
            out.append(ConfigRecord(bytes(key).decode("utf-8", "replace"), msg.value(), partition, offset,
                                    ts if ts_type else None))
        return out

    def close(self) -> None:
        self._consumer.close()


def read_config_topic(kafka_config: Mapping[str, str], topic: str, timeout: float = 30.0) -> dict[str, ConfigRecord]:
    """The latest record of every key (tombstoned keys removed), read once to the end."""
    import time

    reader = ConfigTopicReader(kafka_config, topic)
    try:
        reader.start(timeout)
        latest: dict[str, ConfigRecord] = {}
        deadline = time.monotonic() + timeout
        while not reader.caught_up:
            if time.monotonic() > deadline:
                raise ConfigError(f"timed out reading config topic {topic}")
            for rec in reader.poll(0.2):
                if rec.value is None:
                    latest.pop(rec.key, None)
                else:
                    latest[rec.key] = rec
        return latest
    finally:
        reader.close()


def publish(kafka_config: Mapping[str, str], topic: str, records: Sequence[tuple[str, bytes | None]],
            timeout: float = 30.0) -> None:
    """Publish ``(key, value)`` pairs (value None: tombstone) and wait until every one is acknowledged."""
    producer = TrackedProducer(kafka_config, {"enable.idempotence": True, "message.timeout.ms": int(timeout * 1000)})
    deliveries = produce_and_wait(producer, topic, [(key.encode(), value, None) for key, value in records], timeout)
    errors = [f"{d.key!r}: {d.error}" for d in deliveries if d is not None and d.error is not None]
    remaining = deliveries.count(None)
    if remaining or errors:
        raise ConfigError(f"publishing to {topic} failed: {'; '.join(errors) or f'{remaining} not acknowledged'}")

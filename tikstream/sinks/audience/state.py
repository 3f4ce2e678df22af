"""Kafka topics that hold audience export state (docs/architecture.md §2, internal ``{group_id}.<purpose>`` topics).

- ``{group_id}.audience-ops``: pending audience operations, keyed by job id; a job's operations all go to one
  partition (``ops_partition``), in order. Consumed by the consumer group ``{group_id}.audience-writers``: the
  member that owns a partition is the single writer of the audiences of its jobs.
- ``{group_id}.audience-state`` (compacted, keyed by job id): the job's audience (intended name before create,
  then its id). The writer reads it whole when it takes a partition.
- ``{group_id}.audience-files`` (compacted, keyed by ``{file_id}:{seq}``): the content of every uploaded file,
  in chunks, so whoever applies the operation can upload it again when TikTok says its ``file_path`` expired
  (40910). Tombstoned once the operation was applied.

The only module of the audience export that imports confluent_kafka. Producer calls are thread-safe; each
``*_and_wait`` call blocks until the broker acknowledged (acks=all, idempotent producer) or raises
``KafkaStoreError``.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from tikstream.errors import TikstreamError
from tikstream.kafka.admin import COMPACTED, TopicSpec, ensure_topics
from tikstream.kafka.watermarks import watermarks

__all__ = [
    "CHUNK_BYTES",
    "AudienceKafka",
    "AudienceTopics",
    "FileRef",
    "KafkaStoreError",
    "OpRecord",
    "WriterConsumer",
    "ops_partition",
]

CHUNK_BYTES: Final = 900_000
OPS_PARTITIONS: Final = 6
MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024


class KafkaStoreError(TikstreamError):
    """A record could not be stored in Kafka (not acknowledged in time, or refused)."""


@dataclass(frozen=True, slots=True)
class AudienceTopics:
    ops: str
    state: str
    files: str
    writers_group: str

    @classmethod
    def for_group(cls, group_id: str) -> AudienceTopics:
        return cls(f"{group_id}.audience-ops", f"{group_id}.audience-state", f"{group_id}.audience-files",
                   f"{group_id}.audience-writers")

    def specs(self) -> list[TopicSpec]:
        files = {**COMPACTED, "max.message.bytes": str(MAX_MESSAGE_BYTES)}
        return [TopicSpec(self.ops, OPS_PARTITIONS), TopicSpec(self.state, 1, COMPACTED),
                TopicSpec(self.files, OPS_PARTITIONS, files)]


def ops_partition(job_id: str, partitions: int) -> int:
    """The ops partition of a job: stable across processes and restarts."""
    return zlib.crc32(job_id.encode()) % partitions


@dataclass(frozen=True, slots=True)
class FileRef:
    """Where a file's content lives in the files topic: ``count`` chunks keyed ``{file_id}:{seq}`` from
    ``offset`` on in ``partition``."""

    file_id: str
    partition: int
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One consumed pending operation."""

    partition: int
    offset: int
    job_id: str
    value: bytes


class AudienceKafka:
    """Producer and readers of the audience topics for one consumer group. Creates missing topics."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, *, timeout: float = 30.0) -> None:
        self.config = dict(kafka_config)
        self.topics = AudienceTopics.for_group(group_id)
        ensure_topics(self.config, self.topics.specs())
        self._timeout = timeout
        self._producer = Producer({**self.config, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                   "message.max.bytes": MAX_MESSAGE_BYTES, "message.timeout.ms": 60_000})
        meta = self._producer.list_topics(self.topics.ops, timeout=timeout)
        self.ops_partitions = len(meta.topics[self.topics.ops].partitions) or OPS_PARTITIONS
        self._lock = threading.Lock()

    def close(self) -> None:
        self._producer.flush(self._timeout)

    # -- producing ------------------------------------------------------------------------------------------

    def _produce_all(self, topic: str, records: Iterable[tuple[bytes, bytes | None, int | None]]) -> list[Message]:
        done = threading.Event()
        results: list[Any] = []
        expected = 0
        errors: list[str] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(str(err))
            results.append(msg)
            if len(results) == expected:
                done.set()

        items = list(records)
        expected = len(items)
        if not items:
            return []
        for key, value, partition in items:
            kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": delivered}
            if partition is not None:
                kwargs["partition"] = partition
            while True:
                try:
                    self._producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    self._producer.poll(0.05)
        deadline_left = self._timeout * 2
        while not done.is_set() and deadline_left > 0:
            self._producer.poll(0.05)
            deadline_left -= 0.05
        if errors or not done.is_set():
            raise KafkaStoreError(f"{topic}: not stored: {errors[0] if errors else 'no acknowledgement in time'}")
        return sorted(results, key=lambda m: m.offset() or 0)

    def store_file(self, file_id: str, data: bytes) -> FileRef:
        """Store a file's content in chunks; returns where it lives. Blocks until acknowledged."""
        chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        partition = ops_partition(file_id, self.ops_partitions)
        msgs = self._produce_all(self.topics.files, ((f"{file_id}:{seq}".encode(), chunk, partition)
                                                     for seq, chunk in enumerate(chunks)))
        return FileRef(file_id, partition, int(msgs[0].offset() or 0), len(chunks))

    def forget_files(self, refs: Iterable[FileRef]) -> None:
        """Tombstone stored file contents (compaction removes them)."""
        records = [(f"{r.file_id}:{seq}".encode(), None, r.partition) for r in refs for seq in range(r.count)]
        self._produce_all(self.topics.files, records)

    def put_op(self, job_id: str, value: bytes) -> int:
        """Append a pending operation to the job's ops partition; returns its offset once acknowledged."""
        msgs = self._produce_all(self.topics.ops, [(job_id.encode(), value,
                                                    ops_partition(job_id, self.ops_partitions))])
        return int(msgs[0].offset() or 0)

    def put_state(self, job_id: str, value: bytes | None) -> None:
        self._produce_all(self.topics.state, [(job_id.encode(), value, None)])

    # -- reading --------------------------------------------------------------------------------------------

    def read_state(self) -> dict[str, bytes]:
        """The latest value of every key of the state topic (a tombstone removes the key)."""
        out: dict[str, bytes] = {}
        for key, value in self._read_topic(self.topics.state):
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def read_file(self, ref: FileRef) -> bytes:
        """Reassemble a stored file; raises ``KafkaStoreError`` when a chunk is gone."""
        wanted = {f"{ref.file_id}:{seq}": seq for seq in range(ref.count)}
        chunks: dict[int, bytes] = {}
        tp = TopicPartition(self.topics.files, ref.partition, ref.offset)

        def take(key: str, value: bytes | None) -> bool:
            if key in wanted and value is not None:
                chunks[wanted[key]] = value
            return len(chunks) == ref.count

        self._read_partition(tp, take)
        if len(chunks) != ref.count:
            raise KafkaStoreError(f"file {ref.file_id}: {ref.count - len(chunks)} chunks missing")
        return b"".join(chunks[i] for i in range(ref.count))

    def _consumer(self) -> Consumer:
        return Consumer({**self.config, "group.id": f"{self.topics.writers_group}.reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})

    def _read_topic(self, topic: str) -> list[tuple[str, bytes | None]]:
        consumer = self._consumer()
        try:
            meta = consumer.list_topics(topic, timeout=self._timeout)
            parts = list(meta.topics[topic].partitions)
            out: list[tuple[str, bytes | None]] = []
            for p in parts:
                tp = TopicPartition(topic, p, OFFSET_BEGINNING)
                out.extend(self._drain(consumer, tp, lambda k, v: False))
            return out
        finally:
            consumer.close()

    def _read_partition(self, tp: TopicPartition, stop: Callable[[str, bytes | None], bool]) -> None:
        consumer = self._consumer()
        try:
            self._drain(consumer, tp, stop)
        finally:
            consumer.close()

    def _drain(self, consumer: Consumer, tp: TopicPartition,
               stop: Callable[[str, bytes | None], bool]) -> list[tuple[str, bytes | None]]:
        low, high = watermarks(consumer, TopicPartition(tp.topic, tp.partition), self._timeout)
        start = low if tp.offset < 0 else max(tp.offset, low)
        out: list[tuple[str, bytes | None]] = []
        if start >= high:
            return out
        consumer.assign([TopicPartition(tp.topic, tp.partition, start)])
        position = start
        while position < high:
            msg = consumer.poll(self._timeout)
            if msg is None:
                raise KafkaStoreError(f"{tp.topic}[{tp.partition}]: no record at {position} in time")
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaStoreError(f"{tp.topic}: {err}")
            position = int(msg.offset() or 0) + 1
            key = (msg.key() or b"").decode()
            value = msg.value()
            out.append((key, value))
            if stop(key, value):
                break
        return out


class WriterConsumer:
    """Membership of ``{group_id}.audience-writers`` on the ops topic: the partitions assigned here are the
    jobs this instance writes. ``on_assign``/``on_revoke`` run inside ``poll``."""

    def __init__(self, kafka: AudienceKafka, on_assign: Callable[[list[int]], None],
                 on_revoke: Callable[[list[int]], None]) -> None:
        self._topic = kafka.topics.ops
        self._consumer = Consumer({**kafka.config, "group.id": kafka.topics.writers_group,
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                   "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000,
                                   "max.poll.interval.ms": 600_000})
        self._consumer.subscribe(
            [self._topic],
            on_assign=lambda c, ps: on_assign([p.partition for p in ps]),
            on_revoke=lambda c, ps: on_revoke([p.partition for p in ps]),
            on_lost=lambda c, ps: on_revoke([p.partition for p in ps]),
        )

    def poll(self, timeout: float, max_records: int = 100) -> list[OpRecord]:
        out = []
        for msg in self._consumer.consume(max_records, timeout):
            value = msg.value()
            if msg.error() is not None or value is None:
                continue
            out.append(OpRecord(int(msg.partition() or 0), int(msg.offset() or 0), (msg.key() or b"").decode(),
                                value))
        return out

    def commit(self, offsets: Mapping[int, int]) -> None:
        if offsets:
            self._consumer.commit(offsets=[TopicPartition(self._topic, p, o) for p, o in offsets.items()],
                                  asynchronous=False)

    def close(self) -> None:
        self._consumer.close()

"""Kafka topics that hold audience export state (docs/architecture.md §2, internal ``{group_id}.<purpose>`` topics).

- ``{group_id}.audience-ops``: pending audience operations, keyed by job id; a job's operations all go to one
  partition (``ops_partition``), in order. Consumed by the consumer group ``{group_id}.audience-writers``: the
  member that owns a partition is the single writer of the audiences of its jobs. Kept without a time or size
  limit (``OPS_TOPIC_CONFIG``, set again at start on a topic that has other values), so an operation waiting
  for weeks is never dropped; the writer deletes the records below its committed offset
  (``delete_ops_before``) once they are applied, so the partition's log start offset doubles as a durable
  "applied up to" should the group's committed offsets be lost (docs/architecture.md §2).
- ``{group_id}.audience-state`` (compacted, keyed by job id): the job's audience (intended name before create,
  then its id). The writer reads it whole when it takes a partition.
- ``{group_id}.audience-files`` (compacted, keyed by ``{file_id}:{seq}``): the content of every uploaded file,
  in chunks, so whoever applies the operation can upload it again when TikTok says its ``file_path`` expired
  (40910). Tombstoned once the operation was applied.

The Kafka mechanics are ``tikstream.kafka``'s (the producer, the to-the-end reader, the group consumer); this
module keeps the topic names, keys and partitioning. Producer calls are thread-safe; each store call
(``store_file``, ``forget_files``, ``put_op``, ``put_state``) blocks until the broker acknowledged (acks=all,
idempotent producer) or raises ``KafkaStoreError``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from tikstream.errors import TikstreamError
from tikstream.kafka.admin import COMPACTED, TopicSpec, ensure_topics
from tikstream.kafka.consumer import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS, GroupConsumer
from tikstream.kafka.producer import Delivery, TrackedProducer, produce_and_wait
from tikstream.kafka.reader import Committed, EndReader
from tikstream.kafka.retention import TopicAdmin

__all__ = [
    "CHUNK_BYTES",
    "OPS_TOPIC_CONFIG",
    "AudienceKafka",
    "AudienceTopics",
    "FileRef",
    "KafkaStoreError",
    "OpRecord",
    "WriterCommits",
    "WriterConsumer",
    "applied_group",
    "ops_partition",
]

CHUNK_BYTES: Final = 900_000
OPS_PARTITIONS: Final = 6
MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024
OPS_RETENTION: Final = {"retention.ms": "-1", "retention.bytes": "-1"}  # never expire a pending operation
OPS_TOPIC_CONFIG: Final = {"cleanup.policy": "delete", **OPS_RETENTION, "segment.ms": str(3_600_000)}


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
        return [TopicSpec(self.ops, OPS_PARTITIONS, OPS_TOPIC_CONFIG), TopicSpec(self.state, 1, COMPACTED),
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
        self._admin = TopicAdmin(self.config, timeout)
        self._admin.ensure_config(self.topics.ops, OPS_RETENTION)  # a topic made before: no expiry either
        self._timeout = self.timeout = timeout
        self._producer = TrackedProducer(self.config, {
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "message.max.bytes": MAX_MESSAGE_BYTES,
            "message.timeout.ms": 60_000})
        self.ops_partitions = self._producer.partitions(self.topics.ops, timeout) or OPS_PARTITIONS

    def close(self) -> None:
        self._producer.close(self._timeout)

    # -- producing ------------------------------------------------------------------------------------------

    def _produce_all(self, topic: str, records: Iterable[tuple[bytes, bytes | None, int | None]]) -> list[Delivery]:
        """Store ``records`` and wait for every acknowledgement; the deliveries in offset order."""
        deliveries = produce_and_wait(self._producer, topic, records, self._timeout * 2)
        failed = [d.error for d in deliveries if d is not None and d.error is not None]
        if failed or None in deliveries:
            raise KafkaStoreError(f"{topic}: not stored: {failed[0] if failed else 'no acknowledgement in time'}")
        return sorted((d for d in deliveries if d is not None), key=lambda d: d.offset or 0)

    def store_file(self, file_id: str, data: bytes) -> FileRef:
        """Store a file's content in chunks; returns where it lives. Blocks until acknowledged."""
        chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        partition = ops_partition(file_id, self.ops_partitions)
        stored = self._produce_all(self.topics.files, ((f"{file_id}:{seq}".encode(), chunk, partition)
                                                       for seq, chunk in enumerate(chunks)))
        return FileRef(file_id, partition, stored[0].offset or 0, len(chunks))

    def forget_files(self, refs: Iterable[FileRef]) -> None:
        """Tombstone stored file contents (compaction removes them)."""
        records = [(f"{r.file_id}:{seq}".encode(), None, r.partition) for r in refs for seq in range(r.count)]
        self._produce_all(self.topics.files, records)

    def put_op(self, job_id: str, value: bytes) -> int:
        """Append a pending operation to the job's ops partition; returns its offset once acknowledged."""
        stored = self._produce_all(self.topics.ops, [(job_id.encode(), value,
                                                      ops_partition(job_id, self.ops_partitions))])
        return stored[0].offset or 0

    def delete_ops_before(self, offsets: Mapping[int, int]) -> dict[int, int]:
        """Delete the applied operations below ``partition -> committed offset``; returns the partitions done
        and their new log start offset (a refused one is logged and left for the next commit)."""
        return self._admin.delete_before(self.topics.ops, offsets)

    def put_state(self, job_id: str, value: bytes | None) -> None:
        self._produce_all(self.topics.state, [(job_id.encode(), value, None)])

    # -- reading --------------------------------------------------------------------------------------------

    def _reader(self) -> EndReader:
        return EndReader(self.config, f"{self.topics.writers_group}.reader", error=KafkaStoreError,
                         timeout=self._timeout)

    def read_state(self) -> dict[str, bytes]:
        """The latest value of every key of the state topic (a tombstone removes the key)."""
        out: dict[str, bytes] = {}
        with self._reader() as reader:
            topic = self.topics.state
            for rec in reader.read(topic, dict.fromkeys(reader.partitions(topic))):
                key = (rec.key or b"").decode()
                if rec.value is None:
                    out.pop(key, None)
                else:
                    out[key] = rec.value
        return out

    def read_file(self, ref: FileRef) -> bytes:
        """Reassemble a stored file; raises ``KafkaStoreError`` when a chunk is gone."""
        return self.read_files([ref])[ref.file_id]

    def read_files(self, refs: Iterable[FileRef]) -> dict[str, bytes]:
        """Reassemble stored files (file id -> content) in one pass over their partitions, from the first
        chunk wanted to the last; ``KafkaStoreError`` when a chunk of one is gone."""
        refs = list(refs)
        wanted = {f"{r.file_id}:{seq}".encode(): (r.file_id, seq) for r in refs for seq in range(r.count)}
        starts: dict[int, int | None] = {}
        for r in refs:
            start = starts.get(r.partition)
            starts[r.partition] = r.offset if start is None else min(start, r.offset)
        chunks: dict[str, dict[int, bytes]] = {}
        missing = len(wanted)
        if missing:
            with self._reader() as reader:
                for rec in reader.read(self.topics.files, starts):
                    hit = wanted.get(rec.key or b"")
                    if hit is None or rec.value is None:
                        continue
                    got = chunks.setdefault(hit[0], {})
                    if hit[1] not in got:
                        got[hit[1]] = rec.value
                        missing -= 1
                        if not missing:
                            break
        out: dict[str, bytes] = {}
        for r in refs:
            got = chunks.get(r.file_id, {})
            if len(got) != r.count:
                raise KafkaStoreError(f"file {r.file_id}: {r.count - len(got)} chunks missing")
            out[r.file_id] = b"".join(got[i] for i in range(r.count))
        return out


def applied_group(kafka: AudienceKafka, job_id: str) -> str:
    """The consumer group whose commit on the ops topic says how far one streaming job's requests were
    accepted by TikTok: ``{group_id}.audience-writers.applied.{job_id}`` (never joined, only committed)."""
    return f"{kafka.topics.writers_group}.applied.{job_id}"


class WriterCommits:
    """How far a streaming job's requests were accepted by TikTok, read from ``applied_group``: an operation
    below the committed offset was accepted. Per job, not the writers group's own commits: those stop at the
    first operation still pending of any job sharing the partition (a file job's audience may process for
    hours). For one thread; close it."""

    def __init__(self, kafka: AudienceKafka, job_id: str) -> None:
        self._topic = kafka.topics.ops
        self._reader = EndReader(kafka.config, applied_group(kafka, job_id), error=KafkaStoreError,
                                 timeout=kafka.timeout)

    def applied(self, partition: int, offset: int) -> bool:
        """Whether the operation at ``offset`` of ``partition`` was accepted; raises ``KafkaStoreError``."""
        done = self._reader.committed([(self._topic, partition)]).get((self._topic, partition))
        return done is not None and done.offset is not None and done.offset > offset

    def mark(self, partition: int, offset: int) -> None:
        """Record that the job's operations up to ``offset`` were accepted (the job's writer calls this, in
        order); raises ``KafkaStoreError``."""
        self._reader.commit({(self._topic, partition): Committed(offset + 1)})

    def close(self) -> None:
        self._reader.close()


class WriterConsumer:
    """Membership of ``{group_id}.audience-writers`` on the ops topic: the partitions assigned here are the
    jobs this instance writes. ``on_assign``/``on_revoke`` run inside ``poll``."""

    def __init__(self, kafka: AudienceKafka, on_assign: Callable[[list[int]], None],
                 on_revoke: Callable[[list[int]], None]) -> None:
        self._topic = kafka.topics.ops
        # cooperative-sticky: an instance that joins or dies moves only the partitions it brings or held; the
        # other writers keep theirs through the rebalance (eager, every member stopped and re-read its queue
        # at each of the chaos run's kills and the writers group hardly ever settled)
        self._consumer = GroupConsumer(kafka.config, kafka.topics.writers_group, {
            "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "max.poll.interval.ms": 600_000, "partition.assignment.strategy": "cooperative-sticky"})
        self._consumer.subscribe([self._topic], on_assign=lambda ps: on_assign([p for _, p in ps]),
                                 on_revoke=lambda ps: on_revoke([p for _, p in ps]))

    def poll(self, timeout: float, max_records: int = 100) -> list[OpRecord]:
        return [OpRecord(rec.partition, rec.offset, (rec.key or b"").decode(), rec.value)
                for rec in self._consumer.records(max_records, timeout) if rec.value is not None]

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit ``partition -> next offset`` synchronously; raises ``KafkaStoreError`` when Kafka refused it."""
        if not self._consumer.commit({(self._topic, p): o for p, o in offsets.items()}):
            raise KafkaStoreError(f"{self._topic}: commit failed")

    def close(self) -> None:
        self._consumer.close()

"""The audience membership table in Kafka: ``{group_id}.audience-members`` (docs/architecture.md §2, §4.1).

One record per (audience, user), key ``{audience}\\x00{user_id}`` (UTF-8): an *enter* stores the trigger's
raw value (the profile the identifiers are read from, with the same record paths as a job's ``identifiers``),
an *exit* a tombstone. The record's timestamp is the trigger's own Kafka timestamp, so a backfill can tell
the triggers produced before a job was created from the ones the job handles itself.

Layout choices:

- a key always goes to the partition of its audience (``audience_partition``), so a backfill or an exit
  lookup reads one partition, not the whole topic. Do not change the partition count of an existing topic.
- ``cleanup.policy=compact`` keeps the latest record of every key; ``min.compaction.lag.ms`` (7 days) keeps a
  superseded profile readable for a week after the exit that replaced it, which is how an exit without a
  profile finds the hashes to remove (``MembershipReader.scan`` yields records in log order).

The Kafka mechanics are ``tikstream.kafka``'s (the producer, the to-the-end reader); this module keeps the
topic, its keys and partitioning. ``MembershipProducer`` is used by the poll-loop thread only;
``MembershipReader`` builds a reader per call and may be used from any thread.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from tikstream.errors import BackPressure, TikstreamError
from tikstream.kafka.admin import TopicSpec
from tikstream.kafka.producer import Delivery, OnDelivery, TrackedProducer
from tikstream.kafka.reader import EndReader

__all__ = [
    "MEMBERS_PARTITIONS",
    "Member",
    "MembershipError",
    "MembershipProducer",
    "MembershipReader",
    "audience_partition",
    "member_key",
    "members_topic",
    "members_topic_spec",
    "split_key",
]

MEMBERS_PARTITIONS: Final = 6
MIN_COMPACTION_LAG_MS: Final = 7 * 24 * 3600 * 1000
MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024  # a trigger value may have 1 MiB (records.MAX_VALUE_BYTES)
SEP: Final = b"\x00"

class MembershipError(TikstreamError):
    """The membership table could not be read (a partition that does not answer in time, a broker error)."""


def members_topic(group_id: str) -> str:
    return f"{group_id}.audience-members"


def members_topic_spec(group_id: str) -> TopicSpec:
    return TopicSpec(members_topic(group_id), MEMBERS_PARTITIONS, {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": str(MIN_COMPACTION_LAG_MS),
        "max.message.bytes": str(MAX_MESSAGE_BYTES),
        "message.timestamp.type": "CreateTime",
        # the trigger's own timestamp is kept, however old or early: a refused one would fail its whole batch
        "message.timestamp.before.max.ms": str(2**63 - 1),
        "message.timestamp.after.max.ms": str(2**63 - 1),
    })


def member_key(audience: str, user_id: str) -> bytes:
    return audience.encode() + SEP + user_id.encode("utf-8", "surrogatepass")


def split_key(key: bytes) -> tuple[str, str]:
    """``(audience, user_id)`` of a key; raises ``ValueError`` for a key without the separator."""
    audience, sep, user = key.partition(SEP)
    if not sep:
        raise ValueError("not a membership key")
    return audience.decode(), user.decode("utf-8", "surrogatepass")


def audience_partition(audience: str, partitions: int) -> int:
    """The partition of every key of ``audience``: stable across processes and restarts."""
    return zlib.crc32(audience.encode()) % partitions


@dataclass(frozen=True, slots=True)
class Member:
    """One record of an audience's partition: ``value`` None is an exit (tombstone)."""

    user_id: str
    value: bytes | None
    timestamp_ms: int


class MembershipProducer:
    """Asynchronous, idempotent writes to the membership topic (acks=all, retried by librdkafka without a
    deadline). ``produce`` never blocks: it returns False when the local queue is full (the caller backs off).
    Delivery callbacks run inside ``poll``/``flush``, on the calling thread, and for one partition in the
    order the messages were produced (the idempotent producer keeps that order)."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, *,
                 queue_max_messages: int = 200_000, queue_max_kbytes: int = 131_072) -> None:
        self.topic = members_topic(group_id)
        self._producer = TrackedProducer(kafka_config, {
            "enable.idempotence": True, "acks": "all", "linger.ms": 20,
            "compression.type": "lz4", "message.timeout.ms": 0, "message.max.bytes": MAX_MESSAGE_BYTES,
            "queue.buffering.max.messages": queue_max_messages, "queue.buffering.max.kbytes": queue_max_kbytes,
        })
        self.partitions = MEMBERS_PARTITIONS
        self._produce = self._producer.produce

    def start(self, timeout: float = 30.0) -> None:
        """Learn the topic's partition count (the topic must exist)."""
        self.partitions = self._producer.partitions(self.topic, timeout) or self.partitions

    def partition_of(self, audience: str) -> int:
        return audience_partition(audience, self.partitions)

    def produce(self, partition: int, key: bytes, value: bytes | None, timestamp_ms: int,
                on_delivery: OnDelivery) -> bool:
        try:
            self._produce(self.topic, key, value, partition=partition, timestamp_ms=timestamp_ms,
                          on_delivery=on_delivery)
        except BackPressure:
            return False
        return True

    def again(self, delivery: Delivery, on_delivery: OnDelivery) -> bool:
        """Produce a message whose delivery failed once more, unchanged."""
        return self.produce(delivery.partition or 0, delivery.key or b"", delivery.value,
                            max(0, delivery.timestamp_ms or 0), on_delivery)

    def poll(self) -> None:
        self._producer.poll()

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for outstanding deliveries; returns how many are still outstanding."""
        return self._producer.flush(timeout)


class MembershipReader:
    """Reads the membership table and the progress of the trigger consumer group. Each call builds its own
    reader (no group membership, nothing committed), so calls may come from any thread; they block."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, trigger_topics: Sequence[str], *,
                 timeout: float = 30.0) -> None:
        self._config = dict(kafka_config)
        self._group_id = group_id
        self.topic = members_topic(group_id)
        self.trigger_topics = tuple(trigger_topics)
        self._timeout = timeout

    def _reader(self, group_id: str) -> EndReader:
        return EndReader(self._config, group_id, error=MembershipError, timeout=self._timeout,
                         settings={"fetch.max.bytes": 16 * 1024 * 1024, "queued.max.messages.kbytes": 32_768})

    def scan(self, audience: str, stop: threading.Event | None = None) -> Iterator[Member]:
        """Every record of ``audience``, in log order, up to the end offset seen when the scan starts.

        Raises ``MembershipError`` when the partition stops answering, ``InterruptedError`` when ``stop`` is set.
        """
        with self._reader(f"{self._group_id}.membership-reader") as reader:
            partitions = reader.partitions(self.topic)
            if not partitions:
                return
            prefix = audience.encode() + SEP
            start = len(prefix)
            for rec in reader.read(self.topic, {audience_partition(audience, len(partitions)): None}, stop=stop):
                key = rec.key or b""
                if key.startswith(prefix):
                    yield Member(key[start:].decode("utf-8", "surrogatepass"), rec.value,
                                 -1 if rec.timestamp_ms is None else rec.timestamp_ms)

    def trigger_offsets(self, created_at: float) -> dict[tuple[str, int], int]:
        """Where the triggers produced before ``created_at`` (epoch seconds) end in every trigger partition:
        the offset of the partition's first record stamped at or after it, or, when none is there yet, its end
        offset now. Every record below is stamped earlier, so no job created at ``created_at`` handles it
        (docs/architecture.md §4.1): what a backfill for that job waits to see recorded."""
        stamp = math.ceil(created_at * 1000)  # a record below it is stamped before created_at
        offsets: dict[tuple[str, int], int] = {}
        with self._reader(f"{self._group_id}.membership-reader") as reader:
            for topic in self.trigger_topics:
                ends = reader.ends(topic)  # before the lookup: a record produced in between is not counted
                for p, at in reader.offsets_at(topic, ends, stamp).items():
                    offsets[(topic, p)] = ends[p] if at is None else at
        return offsets

    def recorded(self, ends: Mapping[tuple[str, int], int]) -> bool:
        """Whether the trigger consumer group committed up to ``ends`` (or the partition's start moved past
        them). The poll loop commits an offset only once its membership write was acknowledged, so every
        trigger below ``ends`` is then in the table."""
        if not ends:
            return True
        with self._reader(self._group_id) as reader:  # never subscribes: reads the group's commits only
            committed = reader.committed(ends)
            for tp, end in ends.items():
                done = committed.get(tp)
                offset = -1 if done is None or done.offset is None else done.offset
                if offset < end and reader.watermarks(*tp)[0] < end:
                    return False
            return True

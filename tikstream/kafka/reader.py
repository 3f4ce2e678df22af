"""The to-the-end reader: read partitions up to the end offset they had when the read started.

An ``EndReader`` is a consumer that never joins its group (``assign``, not ``subscribe``) and commits only when
told (``commit``, for DLQ replay progress). ``read`` hands out the records of each partition in log order, from
a start offset (None: the start of the partition) up to the end offset seen when the read starts, or the one
given. It is what reads a compacted topic whole (the audience state, the membership table, the DLQ) or one
stored file from an offset. The caller stops early by leaving the loop; a ``stop`` event set by another thread
raises ``InterruptedError`` at the next batch.

Gaps are expected: compaction removes records and transaction markers take offsets, so a partition is done when
its next record would be at or past its end, or when the broker reports the end of the partition. Errors that
name no partition being read (librdkafka's transient broker errors) are skipped; a partition error, a broker
that gives no record for ``timeout`` seconds, or metadata that cannot be read raise the caller's ``error``.

Each reader builds its own consumer: use one per call (or per thread), and close it (it is a context manager).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from tikstream.kafka.record import Record, record_of
from tikstream.kafka.watermarks import watermarks
from tikstream.records import Partition

__all__ = ["Committed", "EndReader"]


class Committed(NamedTuple):
    """A group's committed position on a partition: ``offset`` None when it committed nothing there."""

    offset: int | None
    metadata: str | None = None


class EndReader:
    """Reads partitions to their end without joining ``group_id`` (the group only names the commits it reads
    and writes). ``error`` builds the exception raised when Kafka does not answer."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, *, error: Callable[[str], Exception],
                 timeout: float = 30.0, settings: Mapping[str, Any] | None = None) -> None:
        self._consumer = Consumer({**kafka_config, "group.id": group_id, "enable.auto.commit": False,
                                   "enable.partition.eof": True, "auto.offset.reset": "earliest",
                                   **(settings or {})})
        self._error = error
        self.timeout = timeout

    def __enter__(self) -> EndReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic``, in order; empty when the topic does not exist."""
        try:
            found = self._consumer.list_topics(topic, timeout=self.timeout).topics.get(topic)
        except KafkaException as exc:
            raise self._error(f"cannot read {topic}: {exc}") from exc
        if found is None or found.error is not None or not found.partitions:
            return []
        return sorted(found.partitions)

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """``(low, high)``: the first offset still held and the offset the next record will get."""
        try:
            return watermarks(self._consumer, TopicPartition(topic, partition), self.timeout)
        except KafkaException as exc:
            raise self._error(f"{topic}[{partition}]: cannot read watermarks: {exc}") from exc

    def ends(self, topic: str) -> dict[int, int]:
        """The end offset (high watermark) of every partition of ``topic`` now."""
        return {p: self.watermarks(topic, p)[1] for p in self.partitions(topic)}

    def offsets_at(self, topic: str, partitions: Iterable[int], timestamp_ms: int) -> dict[int, int | None]:
        """For each partition, the offset of its first record with a timestamp at or after ``timestamp_ms``
        (every record before it has an earlier one); None when it has no such record."""
        asked = [TopicPartition(topic, p, timestamp_ms) for p in partitions]
        if not asked:
            return {}
        try:
            found = self._consumer.offsets_for_times(asked, timeout=self.timeout)
        except KafkaException as exc:
            raise self._error(f"{topic}: cannot look up offsets by time: {exc}") from exc
        result: dict[int, int | None] = {}
        for tp in found:
            if tp.error is not None:
                raise self._error(f"{topic}[{tp.partition}]: cannot look up offsets by time: {tp.error}")
            result[tp.partition] = tp.offset if tp.offset >= 0 else None
        return result

    def committed(self, partitions: Iterable[Partition]) -> dict[Partition, Committed]:
        """The group's committed offset (and metadata) of each partition."""
        try:
            found = self._consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=self.timeout)
        except KafkaException as exc:
            raise self._error(f"cannot read the commits of the group: {exc}") from exc
        return {(tp.topic, tp.partition): Committed(None if tp.offset == OFFSET_INVALID or tp.offset < 0
                                                    else tp.offset, tp.metadata) for tp in found}

    def commit(self, offsets: Mapping[Partition, Committed]) -> None:
        """Commit ``offsets`` (with their metadata) for the group, synchronously."""
        tps = []
        for (topic, partition), (offset, metadata) in offsets.items():
            if offset is None:
                continue
            tps.append(TopicPartition(topic, partition, offset) if metadata is None
                       else TopicPartition(topic, partition, offset, metadata))
        if not tps:
            return
        try:
            self._consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            raise self._error(f"commit failed: {exc}") from exc

    def read(self, topic: str, starts: Mapping[int, int | None], *, ends: Mapping[int, int] | None = None,
             stop: threading.Event | None = None, batch: int = 1000) -> Iterator[Record]:
        """The records of ``topic``'s partitions ``starts`` (partition -> first offset, None: the start of the
        partition) up to ``ends`` (partition -> end offset, excluded; default: the end offset now)."""
        todo: dict[int, int] = {}  # partition -> end offset (excluded)
        position: dict[int, int] = {}
        for partition, start in starts.items():
            end = None if ends is None else ends.get(partition)
            if start is None or start < 0 or end is None:
                low, high = self.watermarks(topic, partition)
                start = low if start is None or start < 0 else max(start, low)
                end = high if end is None else end
            if start < end:
                todo[partition], position[partition] = end, start
        if not todo:
            return
        self._consumer.assign([TopicPartition(topic, p, position[p]) for p in todo])
        consume = self._consumer.consume
        quiet_since = time.monotonic()
        while todo:
            if stop is not None and stop.is_set():
                raise InterruptedError(f"reading {topic} stopped")
            msgs = consume(batch, 0.2)  # returns early only when full: keep the wait short
            if not msgs:
                if time.monotonic() - quiet_since > self.timeout:
                    first = min(todo)
                    raise self._error(f"{topic}[{first}]: no record at {position[first]} in time")
                continue
            quiet_since = time.monotonic()
            for msg in msgs:
                p = msg.partition()
                end = None if p is None else todo.get(p)
                if p is None or end is None:
                    continue  # a partition done already, or an error about no partition in particular
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise self._error(f"{topic}: {err}")
                    del todo[p]
                    continue
                offset = msg.offset()
                if offset is None:
                    continue
                if offset >= end:
                    del todo[p]
                    continue
                position[p] = offset + 1
                if offset + 1 >= end:
                    del todo[p]
                yield record_of(msg)

    def close(self) -> None:
        self._consumer.close()

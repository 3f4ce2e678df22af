"""The trigger consumer: a thin wrapper over confluent-kafka's Consumer in a consumer group.

Offsets are never auto-committed: the poll loop commits what ``tikstream.offsets`` allows. Partition callbacks
receive plain ``(topic, partition)`` tuples, so nothing outside this package sees confluent-kafka types except
the duck-typed messages (``topic()``, ``partition()``, ``offset()``, ``key()``, ``value()``, ``timestamp()``,
``headers()``, ``error()``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from tikstream.records import Partition

log = logging.getLogger(__name__)

PartitionsCallback = Callable[[list[Partition]], None]


def _tps(partitions: Iterable[Partition], offsets: Mapping[Partition, int] | None = None) -> list[TopicPartition]:
    if offsets is None:
        return [TopicPartition(t, p) for t, p in partitions]
    return [TopicPartition(t, p, offsets[(t, p)]) for t, p in partitions]


class TriggerConsumer:
    """One consumer-group member reading the trigger topics. Owned by the poll-loop thread only."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, auto_offset_reset: str,
                 extra: Mapping[str, Any] | None = None,
                 on_commit_failed: PartitionsCallback | None = None) -> None:
        def committed(err: KafkaError | None, tps: list[TopicPartition]) -> None:
            failed = [(tp.topic, tp.partition) for tp in tps if err is not None or tp.error is not None]
            if failed and on_commit_failed is not None:
                log.warning("commit failed", extra={"error": str(err), "partitions": failed})
                on_commit_failed(failed)

        config: dict[str, Any] = {
            **kafka_config,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "max.poll.interval.ms": 300_000,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 65_536,
            "on_commit": committed,
            **(extra or {}),
        }
        self._consumer = Consumer(config)
        self.assignment: set[Partition] = set()

    def subscribe(self, topics: Sequence[str], on_assign: PartitionsCallback, on_revoke: PartitionsCallback,
                  on_lost: PartitionsCallback) -> None:
        def assigned(_c: Any, tps: list[TopicPartition]) -> None:
            parts = [(tp.topic, tp.partition) for tp in tps]
            self.assignment.update(parts)
            on_assign(parts)

        def revoked(_c: Any, tps: list[TopicPartition]) -> None:
            parts = [(tp.topic, tp.partition) for tp in tps]
            try:
                on_revoke(parts)
            finally:
                self.assignment.difference_update(parts)

        def lost(_c: Any, tps: list[TopicPartition]) -> None:
            parts = [(tp.topic, tp.partition) for tp in tps]
            try:
                on_lost(parts)
            finally:
                self.assignment.difference_update(parts)

        self._consumer.subscribe(list(topics), on_assign=assigned, on_revoke=revoked, on_lost=lost)

    def consume(self, max_records: int, timeout: float) -> list[Any]:
        return self._consumer.consume(max_records, timeout)

    def pause(self, partitions: Iterable[Partition]) -> None:
        self._consumer.pause(_tps(partitions))

    def resume(self, partitions: Iterable[Partition]) -> None:
        self._consumer.resume(_tps(partitions))

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(TopicPartition(partition[0], partition[1], offset))

    def commit(self, offsets: Mapping[Partition, int], *, asynchronous: bool) -> bool:
        """Commit ``offsets``; True on success (always True when asynchronous and accepted for sending)."""
        if not offsets:
            return True
        try:
            if asynchronous:
                self._consumer.commit(offsets=_tps(offsets, offsets), asynchronous=True)
            else:
                self._consumer.commit(offsets=_tps(offsets, offsets), asynchronous=False)
            return True
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return True
            log.warning("commit failed", extra={"error": str(exc)})
            return False

    def committed(self, partitions: Iterable[Partition], timeout: float = 10.0) -> dict[Partition, int]:
        result = self._consumer.committed(_tps(partitions), timeout=timeout)
        return {(tp.topic, tp.partition): tp.offset for tp in result if tp.offset != OFFSET_INVALID}

    def lag(self, partition: Partition, position: int) -> int | None:
        """High watermark minus ``position``, from the cached watermark (no broker round trip)."""
        try:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(*partition), cached=True)
        except KafkaException:
            return None
        return None if high < 0 else max(0, high - position)

    def memberid(self) -> str | None:
        try:
            return self._consumer.memberid()
        except (KafkaException, RuntimeError):
            return None

    def close(self) -> None:
        self._consumer.close()

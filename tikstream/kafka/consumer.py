"""Group consumers: a thin wrapper over confluent-kafka's Consumer in a consumer group, and the trigger consumer.

``GroupConsumer`` never auto-commits: its owner commits what it decided (the poll loop what ``tikstream.offsets``
allows, the audience writers what they applied, the parked reader what its sink finished). Partition callbacks
receive plain ``(topic, partition)`` tuples and run inside ``consume``. ``records`` hands out ``Record`` values;
``consume`` (the poll loop's hot path) hands out confluent-kafka's messages unchanged, duck-typed: ``topic()``,
``partition()``, ``offset()``, ``key()``, ``value()``, ``timestamp()``, ``headers()``, ``error()``.
Each consumer is owned by one thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from tikstream.kafka.record import Record, record_of
from tikstream.kafka.watermarks import watermarks
from tikstream.records import Partition

log = logging.getLogger(__name__)

__all__ = ["HEARTBEAT_INTERVAL_MS", "SESSION_TIMEOUT_MS", "GroupConsumer", "PartitionsCallback", "TriggerConsumer"]

PartitionsCallback = Callable[[list[Partition]], None]

SESSION_TIMEOUT_MS = 6_000
"""Session timeout of the trigger group and the audience writers group (see ``TriggerConsumer``)."""
HEARTBEAT_INTERVAL_MS = 300
"""A member learns that a rebalance started (a member left or joined) from its next heartbeat's answer: the
partitions of a member that leaves wait up to this long before another takes them (``bench_rebalance``: leave
pause 0.4 s, 0.6 s with 1 s). Not shortened by it: the second round of a cooperative rebalance, which hands a
joining member what was revoked for it: librdkafka paces a member's JoinGroup requests (about one a second), so that
round ends about 1 s after the newcomer's first join whatever the heartbeat (measured 1.0 s at 100, 300 and
1,000 ms)."""


def _tps(partitions: Iterable[Partition], offsets: Mapping[Partition, int] | None = None) -> list[TopicPartition]:
    if offsets is None:
        return [TopicPartition(t, p) for t, p in partitions]
    return [TopicPartition(t, p, offsets[(t, p)]) for t, p in partitions]


def _parts(tps: list[TopicPartition]) -> list[Partition]:
    return [(tp.topic, tp.partition) for tp in tps]


class GroupConsumer:
    """One member of consumer group ``group_id``. ``settings`` are the owner's librdkafka settings (assignment
    strategy, timeouts, offset reset); auto-commit is always off. ``assignment`` is what it owns now, and
    ``joined`` turns True at its first assignment."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, settings: Mapping[str, Any], *,
                 on_commit_failed: PartitionsCallback | None = None) -> None:
        self.group_id = group_id
        config: dict[str, Any] = {**kafka_config, "group.id": group_id, **settings, "enable.auto.commit": False}
        if on_commit_failed is not None:
            def committed(err: KafkaError | None, tps: list[TopicPartition]) -> None:
                failed = [(tp.topic, tp.partition) for tp in tps if err is not None or tp.error is not None]
                if failed:
                    log.warning("commit failed", extra={"error": str(err), "partitions": failed})
                    on_commit_failed(failed)

            config["on_commit"] = committed
        self._consumer = Consumer(config)
        self.assignment: set[Partition] = set()
        self.joined = False

    def subscribe(self, topics: Sequence[str], on_assign: PartitionsCallback | None = None,
                  on_revoke: PartitionsCallback | None = None, on_lost: PartitionsCallback | None = None) -> None:
        """Join the group on ``topics``; ``on_lost`` defaults to ``on_revoke``. ``assignment`` is updated
        before ``on_assign`` runs and after ``on_revoke``/``on_lost`` ran (even if they raise)."""
        lost_callback = on_lost if on_lost is not None else on_revoke

        def assigned(_c: Any, tps: list[TopicPartition]) -> None:
            parts = _parts(tps)
            self.joined = True
            self.assignment.update(parts)
            if on_assign is not None:
                on_assign(parts)

        def taken(callback: PartitionsCallback | None, tps: list[TopicPartition]) -> None:
            parts = _parts(tps)
            try:
                if callback is not None:
                    callback(parts)
            finally:
                self.assignment.difference_update(parts)

        self._consumer.subscribe(list(topics), on_assign=assigned, on_revoke=lambda _c, tps: taken(on_revoke, tps),
                                 on_lost=lambda _c, tps: taken(lost_callback, tps))

    def consume(self, max_records: int, timeout: float) -> list[Any]:
        """Up to ``max_records`` messages (errors included), waiting up to ``timeout``."""
        return self._consumer.consume(max_records, timeout)

    def records(self, max_records: int, timeout: float) -> list[Record]:
        """Like ``consume``, as ``Record`` values; error events are logged and skipped."""
        out = []
        for msg in self._consumer.consume(max_records, timeout):
            if msg.error() is not None:
                log.warning("consumer error", extra={"group": self.group_id, "error": str(msg.error())})
                continue
            out.append(record_of(msg))
        return out

    def pause(self, partitions: Iterable[Partition]) -> None:
        self._consumer.pause(_tps(partitions))

    def resume(self, partitions: Iterable[Partition]) -> None:
        self._consumer.resume(_tps(partitions))

    def commit(self, offsets: Mapping[Partition, int], *, asynchronous: bool = False) -> bool:
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
            log.warning("commit failed", extra={"group": self.group_id, "error": str(exc)})
            return False

    def lag(self, partition: Partition, position: int) -> int | None:
        """High watermark minus ``position``, from the cached watermark (no broker round trip)."""
        try:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(*partition), cached=True)
        except KafkaException:
            return None
        return None if high < 0 else max(0, high - position)

    def caught_up(self, timeout: float = 5.0) -> bool:
        """True once joined and every assigned partition's position (or committed offset, before the first
        record) has reached its high watermark; False too when Kafka does not answer."""
        if not self.joined:
            return False
        if not self.assignment:
            return True
        tps = _tps(sorted(self.assignment))
        try:
            positions = {(tp.topic, tp.partition): tp.offset for tp in self._consumer.position(tps)}
            missing = [tp for tp in tps if positions.get((tp.topic, tp.partition), OFFSET_INVALID) < 0]
            if missing:
                for tp in self._consumer.committed(missing, timeout=timeout):
                    positions[(tp.topic, tp.partition)] = tp.offset
            for tp in tps:
                low, high = watermarks(self._consumer, tp, timeout)
                position = positions.get((tp.topic, tp.partition), OFFSET_INVALID)
                if high > low and max(position, low) < high:
                    return False
        except KafkaException as exc:
            log.warning("cannot read positions", extra={"group": self.group_id, "error": str(exc)})
            return False
        return True

    def close(self) -> None:
        self._consumer.close()


class TriggerConsumer(GroupConsumer):
    """The poll loop's member of the trigger consumer group (cooperative-sticky, offsets stored by hand)."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, auto_offset_reset: str,
                 extra: Mapping[str, Any] | None = None,
                 on_commit_failed: PartitionsCallback | None = None) -> None:
        super().__init__(kafka_config, group_id, {
            "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            "partition.assignment.strategy": "cooperative-sticky",
            # a member that died (kill -9, a lost machine) holds its partitions until its session times out:
            # 6 s, the broker's smallest allowed by default (group.min.session.timeout.ms); heartbeats come
            # from librdkafka's own thread, so a busy poll loop does not lose its session
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "max.poll.interval.ms": 300_000,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 65_536,
            **(extra or {}),
        }, on_commit_failed=on_commit_failed)

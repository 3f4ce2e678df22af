"""The membership recorder: every decoded trigger updates the audience membership table (docs/architecture.md §4.1).

The poll loop hands the recorder every trigger it decodes, for every audience, before routing: a job created
later may ask for ``existing_users``, and only a table kept for every audience can answer it. An *enter*
stores the trigger's raw value under ``{audience}\\x00{user_id}``, an *exit* a tombstone
(``tikstream.sinks.audience.members_topic``); the write is asynchronous and batched by the producer.

Delivery guarantee, the sink contract's: a trigger's offset stays owed (``pending``, one ``OwedOffsets``) until the
broker acknowledged its membership write, so nothing is committed that the table does not hold. A write that fails
is produced again after ``retry_seconds`` and stays owed meanwhile; librdkafka retries transient errors
itself, without a deadline, so a failure here is rare (authorisation, a deleted topic) and needs the operator.
Not guaranteed: order between a write produced again after a failure and later writes of the same key.

Back-pressure: when the producer's local queue is full (the broker is slow or away), ``record`` raises
``BackPressure`` and the poll loop parks the record. All calls come from the poll-loop thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

import orjson

from tikstream.errors import BackPressure
from tikstream.kafka.producer import Delivery, OnDelivery
from tikstream.offsets import OwedOffsets
from tikstream.records import Partition, Trigger
from tikstream.sinks.audience.members_topic import MembershipProducer, MembershipReader

log = logging.getLogger(__name__)

__all__ = ["MembershipRecorder", "Producer", "build_recorder"]


class Producer(Protocol):
    """The writes the recorder makes (``MembershipProducer``, or a fake). Never blocks except ``flush``.

    Delivery callbacks run inside ``poll``/``flush`` and, for one partition, in the order of ``produce``."""

    def start(self) -> None:
        """Get ready to write (blocks once, at start-up); raises when the topic cannot be reached."""

    def partition_of(self, audience: str) -> int:
        """The membership partition of every key of ``audience``."""

    def produce(self, partition: int, key: bytes, value: bytes | None, timestamp_ms: int,
                on_delivery: OnDelivery) -> bool:
        """Queue one write; False (nothing queued) when the local queue is full."""

    def again(self, delivery: Delivery, on_delivery: OnDelivery) -> bool:
        """Queue a failed write (as its delivery report gave it back) once more; False when the queue is full."""

    def poll(self) -> None:
        """Serve delivery callbacks that are due."""

    def flush(self, timeout: float) -> int:
        """Serve callbacks until nothing is outstanding or ``timeout``; returns how many are outstanding."""


_CACHE_SIZE = 4096


class MembershipRecorder:
    """Sink-like owner of the membership writes (record / poll / pending / drop / flush / close).

    Per record: one ``produce``, one owed offset, and one entry in the FIFO of its membership partition; the
    partition's delivery callback (one function per partition, no per-record closure) pops the FIFO, since a
    partition reports its deliveries in produce order.
    """

    def __init__(self, producer: Producer, *, reader: MembershipReader | None = None,
                 clock: Callable[[], float] = time.monotonic, retry_seconds: float = 5.0) -> None:
        self._producer = producer
        self.reader = reader
        self._clock, self._retry_seconds = clock, retry_seconds
        self._owed = OwedOffsets()
        self._partition_of: dict[str, int] = {}
        self._fifos: dict[int, tuple[deque[tuple[Partition, int]], OnDelivery]] = {}
        self._retry: list[tuple[float, Delivery, OnDelivery]] = []
        self.recorded = 0
        self.failed = 0
        self.last_error: str | None = None

    def start(self) -> None:
        """Called once by the composition root after the membership topic was created."""
        self._producer.start()
        self._partition_of.clear()

    # -- the poll loop's calls ------------------------------------------------------------------------------
    def record(self, trigger: Trigger, partition: Partition, offset: int, timestamp_ms: int | None) -> None:
        """Write ``trigger``'s membership; ``offset`` is owed until acknowledged. ``timestamp_ms`` is the
        trigger's Kafka timestamp (None: the trigger time). Raises ``BackPressure``; never blocks."""
        audience = trigger.audience
        target = self._partition_of.get(audience)
        if target is None:
            target = self._learn(audience)
        if trigger.event == "enter":
            value: bytes | None = trigger.raw or orjson.dumps(trigger.doc)
        else:
            value = None
        fifo, delivered = self._fifos[target]
        key = f"{audience}\x00{trigger.user_id}".encode("utf-8", "surrogatepass")
        ts = timestamp_ms if timestamp_ms is not None else round(trigger.ts * 1000)
        if not self._producer.produce(target, key, value, ts, delivered):
            raise BackPressure("membership writes: the producer queue is full")
        fifo.append((partition, offset))
        self._owed.add(partition, offset)
        self.recorded += 1

    def _learn(self, audience: str) -> int:
        if len(self._partition_of) >= _CACHE_SIZE:
            self._partition_of.clear()
        target = self._partition_of[audience] = self._producer.partition_of(audience)
        if target not in self._fifos:
            fifo: deque[tuple[Partition, int]] = deque()
            self._fifos[target] = (fifo, partial(self._delivered, fifo.popleft))
        return target

    def _delivered(self, pop: Callable[[], tuple[Partition, int]], delivery: Delivery) -> None:
        partition, offset = pop()
        self._settle(partition, offset, delivery)

    def _settle(self, partition: Partition, offset: int, delivery: Delivery) -> None:
        if delivery.error is None:
            self._owed.release(partition, offset)
            return
        self.failed += 1
        self.last_error = delivery.error
        log.error("membership write failed; producing it again", extra={"error": delivery.error})
        self._retry.append((self._clock() + self._retry_seconds, delivery, partial(self._settle, partition, offset)))

    def poll(self) -> None:
        self._producer.poll()
        if self._retry:
            self._produce_again(self._clock())

    def _produce_again(self, now: float) -> None:
        for item in [r for r in self._retry if r[0] <= now]:
            if not self._producer.again(item[1], item[2]):
                break
            self._retry.remove(item)

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: Iterable[Partition]) -> None:
        """Forget owed offsets of partitions no longer owned; their writes may still complete (harmless: an
        acknowledgement for a record consumed again after a new assignment means that record is stored)."""
        self._owed.drop(partitions)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for acknowledgements; True when nothing is owed afterwards."""
        deadline = self._clock() + timeout
        self._producer.flush(timeout)
        while self._retry and self._clock() < deadline:
            self._produce_again(float("inf"))
            self._producer.flush(max(0.0, deadline - self._clock()))
        return not self._owed

    def close(self) -> None:
        self._producer.flush(5.0)

    def status(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "failed": self.failed, "last_error": self.last_error}


def build_recorder(kafka_config: Mapping[str, str], group_id: str,
                   trigger_topics: Sequence[str]) -> MembershipRecorder:
    """The recorder of ``tikstream run`` (builds clients, connects nothing); ``start`` it once the topic exists.
    Its ``reader`` serves the audience sinks (exit lookups, backfills)."""
    return MembershipRecorder(MembershipProducer(kafka_config, group_id),
                              reader=MembershipReader(kafka_config, group_id, trigger_topics))

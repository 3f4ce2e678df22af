"""An outbox: records that must not be lost and must not block the poll loop when the producer is full.

``Outbox.send`` hands a record to ``TrackedProducer.produce`` at once when nothing is waiting. When the local
queue is full (``BackPressure``) the record waits here, in memory and in order, and every later ``send`` waits
behind it; ``poll`` and ``flush`` produce what waits as the queue drains. ``send`` never blocks and never
raises ``BackPressure``. What waits is bounded by the callers: the owner keeps owing the record's source
offset until its delivery is reported (the dead-letter writer, parking), so the poll loop commits nothing past
it, and the records are whatever librdkafka's own queue (``queue.buffering.max.messages``/``.kbytes``) did not
hold.

A record librdkafka refuses at ``send`` raises ``ProduceError`` there; one refused later, when it is produced
from the outbox, is reported to its ``on_delivery`` as a failed ``Delivery`` with the refusal's code.

Not thread-safe: owned by one thread (the poll loop's), which also serves the delivery callbacks.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import NamedTuple

from tikstream.errors import BackPressure
from tikstream.kafka.producer import Delivery, Headers, OnDelivery, ProduceError, TrackedProducer

__all__ = ["Outbox"]

log = logging.getLogger(__name__)


class _Waiting(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    on_delivery: OnDelivery | None


class Outbox:
    """Sends through ``producer``; keeps in order what the full local queue cannot take yet."""

    def __init__(self, producer: TrackedProducer) -> None:
        self.producer = producer
        self._waiting: deque[_Waiting] = deque()

    def send(self, topic: str, key: bytes | None, value: bytes | None, *, headers: Headers | None = None,
             on_delivery: OnDelivery | None = None) -> None:
        """Produce now, or keep the record for a later ``poll``; raises ``ProduceError`` when librdkafka
        refuses it."""
        if not self._waiting:
            try:
                self.producer.produce(topic, key, value, headers=headers, on_delivery=on_delivery)
                return
            except BackPressure:
                log.warning("producer queue full: records wait in memory until it drains", extra={"topic": topic})
        self._waiting.append(_Waiting(topic, key, value, headers, on_delivery))

    def poll(self) -> None:
        """Serve delivery callbacks, then produce what waits while there is room."""
        self.producer.poll(0)
        if self._waiting:
            self._drain()

    def _drain(self) -> None:
        waiting = self._waiting
        while waiting:
            rec = waiting[0]
            try:
                self.producer.produce(rec.topic, rec.key, rec.value, headers=rec.headers, on_delivery=rec.on_delivery)
            except BackPressure:
                return
            except ProduceError as exc:
                waiting.popleft()
                if rec.on_delivery is not None:
                    rec.on_delivery(Delivery(str(exc), exc.code, rec.topic, None, None, rec.key, rec.value, None))
                continue
            waiting.popleft()

    def flush(self, timeout: float) -> int:
        """Produce what waits and wait for deliveries, up to ``timeout``; returns how many records are still
        waiting here or outstanding in the producer."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            left = deadline - time.monotonic()
            outstanding = self.producer.flush(min(left, 0.05) if self._waiting else left)
            if not self._waiting and not outstanding:
                return 0
            if time.monotonic() >= deadline:
                return outstanding + len(self._waiting)

    def close(self, timeout: float = 5.0) -> int:
        return self.flush(timeout)

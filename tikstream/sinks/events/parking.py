"""Parking: where a paused job's records wait, durably, until its authorization works again.

When an events job cannot send (its token was revoked, or the authorization is missing from the file), its
records are *parked*: produced to the compacted topic ``{group_id}.parked`` (``parked_topic``) with
the original trigger value, the trigger time in the header ``ts_ms`` (so a replayed event keeps its
``event_id`` even when the time came from the Kafka timestamp) and the source position in headers. The key
``{job_id}/{topic}/{partition}/{offset}`` is the record's own, so compaction keeps every waiting record and
re-parking the same source record replaces it. Once Kafka acknowledged a parked record, the sink releases
the source offset: other jobs' commits are no longer held back by the paused one.

A ``ParkedReader`` reads them back: a consumer in the group ``{group_id}.parked.{job_id}`` on its own thread,
skipping other jobs' records, handing this job's to the sink (``take``), and committing an offset only once
the sink said every record below it is ``done`` (accepted by TikTok or dead-lettered; the rule of
``tikstream.offsets``). A delivered record is tombstoned. The reader stops by itself when it has caught up
with the topic and everything it handed out is done.

Not guaranteed: order between parked and new records of the same user (events carry their own time); a
record handed out but not done when the reader stops is read again later (same ``event_id``: TikTok
deduplicates it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from tikstream.offsets import OwedOffsets, commit_offsets
from tikstream.sinks.events.parked_topic import ParkedConsumer, ParkedProducer, ParkedRecord
from tikstream.supervise import Policy, Supervisor

__all__ = ["KafkaParking", "ParkedReader", "ParkedRecord", "ParkedSource", "Parking", "parked_key"]

log = logging.getLogger(__name__)

StoredCallback = Callable[[object], None]


def parked_key(job_id: str, topic: str, partition: int, offset: int) -> bytes:
    return f"{job_id}/{topic}/{partition}/{offset}".encode()


class ParkedSource(Protocol):
    """Records of one job read back from the parked topic. ``take`` never blocks; thread-safe."""

    @property
    def finished(self) -> bool:
        """True once the source stopped: caught up and everything done, or closed."""

    def take(self, max_records: int) -> list[ParkedRecord]: ...
    def done(self, partition: int, offset: int, key: bytes | None) -> None: ...

    def close(self, wait: float = 0.0) -> None:
        """Stop; what is done gets committed. Waits up to ``wait`` seconds for that (0: does not block)."""


class Parking(Protocol):
    """Durable parking of one job's records; every method is called from the poll-loop thread."""

    topic: str

    def park(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], token: object,
             on_stored: StoredCallback) -> None:
        """Store one record; ``on_stored(token)`` runs in a later ``poll`` once it is durable. Never blocks
        (a record the producer's full queue cannot take waits in memory) and never drops: a failed delivery
        is retried."""

    def forget(self, key: bytes) -> None:
        """Tombstone a parked record that was delivered (best effort: it only frees space)."""

    def open_reader(self) -> ParkedSource: ...
    def poll(self) -> None: ...
    def flush(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


class KafkaParking:
    """``Parking`` on the ``{group_id}.parked`` topic; the producer is created on first use."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, job_id: str, supervisor: Supervisor) -> None:
        """``topic`` is ``{group_id}.parked``; the reader's consumer group is ``{topic}.{job_id}``."""
        self._supervisor, self._job_id = supervisor, job_id
        self._kafka = dict(kafka_config)
        self.topic = topic
        self._reader_group = f"{topic}.{job_id}"
        self._prefix = f"{job_id}/".encode()
        self._producer: ParkedProducer | None = None
        self._unacked = 0

    def _producer_(self) -> ParkedProducer:
        if self._producer is None:
            self._producer = ParkedProducer(self._kafka, self.topic)
        return self._producer

    def park(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], token: object,
             on_stored: StoredCallback) -> None:
        producer = self._producer_()
        self._unacked += 1

        def delivered(error: str | None) -> None:
            if error is None:
                self._unacked -= 1
                on_stored(token)
                return
            log.warning("parked record not delivered, producing again", extra={"error": error})
            producer.produce(key, value, headers, delivered)

        producer.produce(key, value, headers, delivered)

    def forget(self, key: bytes) -> None:
        self._producer_().produce(key, None, [])

    def open_reader(self) -> ParkedReader:
        kafka, topic, group = self._kafka, self.topic, self._reader_group
        return ParkedReader(lambda: ParkedConsumer(kafka, topic, group), self._prefix, supervisor=self._supervisor,
                            name=f"parked-reader-{self._job_id}")

    def poll(self) -> None:
        if self._producer is not None:
            self._producer.poll()

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._unacked and self._producer is not None and time.monotonic() < deadline:
            self._producer.flush(min(0.1, max(0.0, deadline - time.monotonic())))
        return self._unacked == 0

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()


class ParkedReader:
    """Reads one job's parked records on a thread of its own (see the module docstring).

    The thread is supervised with policy REPORT: a failure is recorded (``/healthz``, the thread-failures
    metric, the log) and the reader finishes; the events sink then opens a new reader, which reads again from
    the last commit (records handed out and not done are read again: delivering them is idempotent).
    """

    def __init__(self, consumer_factory: Callable[[], ParkedConsumer], prefix: bytes, *, supervisor: Supervisor,
                 name: str = "parked-reader", max_buffered: int = 2000, commit_interval: float = 1.0) -> None:
        self._factory = consumer_factory
        self._prefix = prefix
        self._max_buffered = max_buffered
        self._commit_interval = commit_interval
        self._lock = threading.Lock()
        self._buffer: deque[ParkedRecord] = deque()
        self._owed = OwedOffsets()  # keyed ("", partition): the reader reads one topic
        self._consumed: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        self._stop = threading.Event()
        self.finished = False
        self.failed = False  # the thread raised: it did not read everything
        self.read = 0
        self._thread = supervisor.spawn(name, self._run, Policy.REPORT, self._stop)

    def take(self, max_records: int) -> list[ParkedRecord]:
        with self._lock:
            n = min(max_records, len(self._buffer))
            return [self._buffer.popleft() for _ in range(n)]

    def done(self, partition: int, offset: int, key: bytes | None) -> None:
        with self._lock:
            self._owed.release(("", partition), offset)

    def close(self, wait: float = 0.0) -> None:
        """Stop reading; the thread commits what is done and leaves the group. Records handed out and not
        done are read again next time. Waits up to ``wait`` seconds for the thread (0: returns at once)."""
        self._stop.set()
        if wait > 0 and not self._thread.is_current():
            self._thread.join(wait)

    # -- the reader thread ------------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        try:
            consumer = self._factory()  # a reader that cannot start leaves the records parked
        except BaseException:
            self.failed = self.finished = True  # the sink opens another
            raise
        try:
            self._loop(consumer)
        except BaseException:
            self.failed = True
            raise
        finally:
            try:
                self._commit(consumer)
                consumer.close()
            finally:
                self.finished = True

    def _loop(self, consumer: ParkedConsumer) -> None:
        next_commit = time.monotonic() + self._commit_interval
        while not self._stop.is_set():
            with self._lock:
                room = self._max_buffered - len(self._buffer)
            records = consumer.consume(min(500, room), 0.2) if room > 0 else []
            if room <= 0:
                self._stop.wait(0.05)
            self._accept(records)
            if time.monotonic() >= next_commit:
                self._commit(consumer)
                next_commit = time.monotonic() + self._commit_interval
            if not records and room > 0 and self._idle() and consumer.caught_up():
                log.info("parked records drained", extra={"read": self.read})
                return

    def _accept(self, records: list[ParkedRecord]) -> None:
        with self._lock:
            for rec in records:
                self._consumed[rec.partition] = rec.offset + 1
                key = rec.key or b""
                if rec.value is None or not key.startswith(self._prefix):
                    continue
                self._owed.add(("", rec.partition), rec.offset)
                self._buffer.append(rec)
                self.read += 1

    def _idle(self) -> bool:
        with self._lock:
            return not self._buffer and not self._owed

    def _commit(self, consumer: ParkedConsumer) -> None:
        with self._lock:
            owed = {p: offset for (_, p), offset in self._owed.lowest().items()}
            offsets = commit_offsets(self._consumed, [owed], self._committed)
        if offsets and consumer.commit(offsets):
            self._committed.update(offsets)

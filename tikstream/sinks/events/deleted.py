"""Parked records of deleted jobs: dead-lettered with ``error_class=job_deleted``, tombstoned and committed.

A job paused by an authorization error parks its records in ``{group_id}.parked`` (``parking``). When the job
is deleted instead of fixed, nothing would read them again and the compacted topic would keep them for ever.
``DeletedJobSweep`` reads them back with the job's own parked reader (consumer group
``{group_id}.parked.{job_id}``, so what the job's reader had finished is not read again), writes each to the
DLQ unchanged (headers ``error_class=job_deleted``, ``job``, and the trigger's ``source_topic``,
``source_partition``, ``source_offset``, so ``tikstream dlq replay --job`` can send it back to its trigger
topic), and only once the DLQ acknowledged a batch marks it done (the reader commits) and tombstones it.

When: only for a job the config registry has *seen deleted* (``JobRegistry.is_deleted``: caught up with the
config topic, and the job's latest record there is a tombstone), never for a job that is merely unknown, and
only once this process has no sink of the job left (a retiring sink may still be parking its last records).
``is_deleted`` is asked again before every batch: a job created again under the same id stops the sweep, and
its records wait for the new version's sink. Every instance sweeps the deleted jobs it sees, once per
tombstone per process; the instances share the job's reader group, so each record is read by one of them
(again after a crash: a dead letter may then be written twice, never lost).

Not guaranteed: a deleted job whose tombstone compaction removed (after the config topic's
``delete.retention.ms``) before any instance saw it is not swept; tikstream creates the config topic with a
retention of tombstones of 7 days (docs/architecture.md §2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from tikstream.kafka.admin import existing_topics
from tikstream.kafka.dlq import DeadLetterWriter
from tikstream.metrics import Metrics
from tikstream.sinks.events.parking import KafkaParking, ParkedRecord, ParkedSource
from tikstream.supervise import Supervisor

__all__ = ["ERROR_CLASS", "DeletedJobSweep"]

log = logging.getLogger(__name__)

ERROR_CLASS = "job_deleted"
BATCH = 500
RETRY_SECONDS = 30.0  # after a reader failed


@dataclass(slots=True)
class _Sweep:
    job_id: str
    version: str
    parking: KafkaParking
    reader: ParkedSource
    waiting: list[ParkedRecord] = field(default_factory=list)  # dead-lettered, not yet acknowledged
    swept: int = 0


class DeletedJobSweep:
    """Sweeps the parked records of deleted jobs; ``sync`` and ``poll`` are called from the poll-loop thread."""

    def __init__(self, kafka_config: Mapping[str, str], topic: str, dlq_topic: str, metrics: Metrics,
                 supervisor: Supervisor, *, dlq: Callable[[], DeadLetterWriter] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kafka, self.topic, self._supervisor = dict(kafka_config), topic, supervisor
        self._new_dlq = dlq or (lambda: DeadLetterWriter(self._kafka, dlq_topic, metrics))
        self._dlq: DeadLetterWriter | None = None
        self._active: dict[str, _Sweep] = {}
        self._done: set[tuple[str, str]] = set()  # (job id, tombstone version) swept by this process
        self._topic_exists: bool | None = None
        self._retry_at: dict[str, float] = {}
        self._clock = clock

    def sync(self, deleted: Mapping[str, str], is_deleted: Callable[[str], bool], busy: Collection[str]) -> None:
        """Start a sweep for each job in ``deleted`` (job id -> tombstone version) that ``is_deleted`` confirms,
        has no sink here (``busy``) and was not swept by this process."""
        for job_id, version in deleted.items():
            if (job_id in self._active or (job_id, version) in self._done or job_id in busy
                    or self._retry_at.get(job_id, 0.0) > self._clock() or not is_deleted(job_id)):
                continue
            if not self._has_topic():
                self._done.add((job_id, version))  # nothing was ever parked
                continue
            parking = KafkaParking(self._kafka, self.topic, job_id, self._supervisor)
            self._active[job_id] = _Sweep(job_id, version, parking, parking.open_reader())
            log.info("sweeping the parked records of a deleted job", extra={"job": job_id})

    def _has_topic(self) -> bool:
        if not self._topic_exists:
            self._topic_exists = self.topic in existing_topics(self._kafka)
        return self._topic_exists

    def poll(self, is_deleted: Callable[[str], bool]) -> None:
        """Move each sweep on by one batch: confirm what the DLQ acknowledged, dead-letter the next records."""
        if not self._active:
            return
        dlq = self._dlq_()
        dlq.poll()
        for sweep in list(self._active.values()):
            sweep.parking.poll()
            if sweep.waiting:
                if dlq.pending():
                    continue  # not all acknowledged yet
                for rec in sweep.waiting:
                    if rec.key is not None:
                        sweep.parking.forget(rec.key)  # produced before the reader may commit past it
                    sweep.reader.done(rec.partition, rec.offset, rec.key)
                sweep.swept += len(sweep.waiting)
                sweep.waiting = []
            if not is_deleted(sweep.job_id):
                log.info("job exists again: parked records left to it", extra={"job": sweep.job_id})
                self._end(sweep, swept=False)
                continue
            records = sweep.reader.take(BATCH)
            for rec in records:
                self._dead_letter(dlq, sweep.job_id, rec)
            sweep.waiting = records
            if not records and sweep.reader.finished:
                if getattr(sweep.reader, "failed", False):  # reported by its supervisor; tried again later
                    self._retry_at[sweep.job_id] = self._clock() + RETRY_SECONDS
                    self._end(sweep, swept=False)
                    continue
                log.info("parked records of a deleted job dead-lettered",
                         extra={"job": sweep.job_id, "records": sweep.swept})
                self._end(sweep, swept=True)

    def _dead_letter(self, dlq: DeadLetterWriter, job_id: str, rec: ParkedRecord) -> None:
        h = rec.headers
        source = (h.get("source_topic", b"").decode() or self.topic,
                  int(h.get("source_partition", b"") or rec.partition))
        offset = int(h.get("source_offset", b"") or rec.offset)
        dlq.send(source, offset, None, rec.value, error_class=ERROR_CLASS, job=job_id,
                 error=f"job {job_id} was deleted while this record was parked (its authorization failed)")

    def _end(self, sweep: _Sweep, *, swept: bool) -> None:
        sweep.reader.close(wait=5.0)
        sweep.parking.close()  # delivers the tombstones (waits up to 5 s)
        del self._active[sweep.job_id]
        if swept:
            self._done.add((sweep.job_id, sweep.version))

    def _dlq_(self) -> DeadLetterWriter:
        if self._dlq is None:
            self._dlq = self._new_dlq()
        return self._dlq

    @property
    def active(self) -> list[str]:
        return sorted(self._active)

    def close(self) -> None:
        """Stop every sweep; what was acknowledged is committed by its reader, the rest is read again later."""
        for sweep in list(self._active.values()):
            self._end(sweep, swept=False)
        if self._dlq is not None:
            self._dlq.flush(5.0)
            self._dlq.close()

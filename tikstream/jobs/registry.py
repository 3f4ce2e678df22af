"""The job registry: the latest valid version of every job, read from the config topic.

A new version replaces the old one; a tombstone removes the job; an invalid version is rejected with its
field errors while the previous valid version keeps running. A job whose latest record is a tombstone is
*deleted* (``deleted``, ``is_deleted``): unlike a job the registry merely does not know (yet), its leftovers
(parked records, pending audience operations) may be let go, once the registry has caught up. Readers get an
immutable snapshot (``jobs``), swapped atomically on every change, and a ``generation`` number that grows with
each swap.

The records come from an injected ``ConfigSource`` (the config topic in ``tikstream run``), so the registry
knows no broker. The registry thread must not die quietly: if reading fails, ``failure`` holds the exception and
``/healthz`` reports it, and ``tikstream run`` stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Protocol

from tikstream.errors import FieldError, JobConfigError
from tikstream.jobs.changes import change_errors
from tikstream.jobs.models import Job, parse_job
from tikstream.metrics import Metrics

__all__ = ["ConfigRecord", "ConfigSource", "JobRegistry", "JobVersion", "Rejection"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """One record of the config topic: a job version, or a tombstone (``value`` None)."""

    key: str
    value: bytes | None  # None: tombstone
    partition: int
    offset: int
    timestamp_ms: int | None = None


class ConfigSource(Protocol):
    """Where config records come from (``tikstream.kafka.config_topic.ConfigTopicReader`` in ``tikstream run``).

    ``start`` may raise ``ConfigError`` (the topic is missing or unreachable). ``caught_up`` turns true once
    the source has handed out every record that existed when it started. Used from one thread.
    """

    @property
    def caught_up(self) -> bool: ...
    def start(self, timeout: float = 30.0) -> None: ...
    def poll(self, timeout: float, max_records: int = 500) -> list[ConfigRecord]: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class JobVersion:
    job: Job
    version: str  # "partition:offset" of the config record
    created_at: float  # epoch seconds: the job acts on triggers produced from then on


@dataclass(frozen=True, slots=True)
class Rejection:
    version: str
    errors: tuple[str, ...]


class JobRegistry:
    def __init__(self, metrics: Metrics, reader_factory: Callable[[], ConfigSource] | None = None) -> None:
        self._metrics = metrics
        self._reader_factory = reader_factory
        self._lock = threading.Lock()
        self._jobs: dict[str, JobVersion] = {}
        self._rejections: dict[str, Rejection] = {}
        self._deleted: dict[str, str] = {}
        self.deleted: Mapping[str, str] = MappingProxyType({})  # job id -> version of its tombstone
        self.jobs: Mapping[str, JobVersion] = MappingProxyType({})
        self.rejections: Mapping[str, Rejection] = MappingProxyType({})
        self.generation = 0
        self.caught_up = False
        self.failure: BaseException | None = None

    def apply(self, rec: ConfigRecord) -> None:
        """Apply one config record (a new version, an invalid version, or a tombstone)."""
        version = f"{rec.partition}:{rec.offset}"
        with self._lock:
            if rec.value is None:
                self._jobs.pop(rec.key, None)
                self._rejections.pop(rec.key, None)
                self._deleted[rec.key] = version
                log.info("job deleted", extra={"job": rec.key})
            else:
                self._deleted.pop(rec.key, None)
                self._apply_version(rec, version)
            self.jobs = MappingProxyType(dict(self._jobs))
            self.rejections = MappingProxyType(dict(self._rejections))
            self.deleted = MappingProxyType(dict(self._deleted))
            self.generation += 1

    def is_deleted(self, job_id: str) -> bool:
        """True only when the registry has caught up with the config topic and the job's latest record there is
        a tombstone: a job that is unknown because the registry is still reading is never taken as deleted.
        (A tombstone is kept by compaction for the topic's ``delete.retention.ms``; see docs/architecture.md §2.)"""
        return self.caught_up and job_id in self.deleted

    def _apply_version(self, rec: ConfigRecord, version: str) -> None:
        try:
            job = parse_job(rec.value or b"")
            if job.id != rec.key:
                raise JobConfigError(rec.key, [_key_mismatch(rec.key, job.id)])
            running = self._jobs.get(rec.key)
            if running is not None and (changed := change_errors(running.job, job)):
                raise JobConfigError(rec.key, changed)
        except JobConfigError as exc:
            self._rejections[rec.key] = Rejection(version, tuple(str(e) for e in exc.errors))
            self._metrics.config_rejected_total.inc()
            log.warning("job version rejected; previous version keeps running",
                        extra={"job": rec.key, "version": version, "errors": [str(e) for e in exc.errors]})
            return
        previous = self._jobs.get(rec.key)
        created = _created_at(job, previous, rec)
        self._jobs[rec.key] = JobVersion(job, version, created)
        self._rejections.pop(rec.key, None)
        log.info("job version applied", extra={"job": rec.key, "version": version})

    def run(self, stop: threading.Event, poll_timeout: float = 0.5) -> None:
        """Read the config topic until ``stop`` is set (thread body)."""
        assert self._reader_factory is not None
        try:
            reader = self._reader_factory()
            try:
                reader.start()
                while not stop.is_set():
                    self.caught_up = self.caught_up or reader.caught_up
                    for rec in reader.poll(poll_timeout if self.caught_up else 0.1):
                        self.apply(rec)
            finally:
                reader.close()
        except BaseException as exc:  # recorded and surfaced by /healthz and the run loop
            self.failure = exc
            log.exception("config registry stopped")

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="config-registry", daemon=True)
        thread.start()
        return thread


def _key_mismatch(key: str, job_id: str) -> FieldError:
    return FieldError("id", f"must equal the record key {key!r}, got {job_id!r}")


def _created_at(job: Job, previous: JobVersion | None, rec: ConfigRecord) -> float:
    if job.created_at is not None:
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
        return created.timestamp()
    if previous is not None:
        return previous.created_at
    if rec.timestamp_ms is not None:
        return rec.timestamp_ms / 1000.0
    return datetime.now(UTC).timestamp()


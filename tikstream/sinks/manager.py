"""Keeps one sink per running job version and the routing table that points at them.

When a job changes, its new version gets a new sink at once and the old sink *retires*: it receives nothing
more, is still polled, and still holds its owed offsets back from commits until it has finished or its
partitions are dropped; then it is closed. A job whose sink cannot be built still gets a sink: one that
dead-letters its records (``error_class=job_unavailable``), so its triggers are kept for ``tikstream dlq
replay --job`` and other jobs keep flowing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tikstream.errors import TikstreamError
from tikstream.jobs.registry import JobVersion
from tikstream.metrics import Metrics
from tikstream.records import Partition
from tikstream.routing import Route, RoutingTable
from tikstream.sinks.base import Sink

log = logging.getLogger(__name__)

SinkFactory = Callable[[JobVersion], Sink]


@dataclass(slots=True)
class _Running:
    version: JobVersion
    sink: Sink
    error: str | None = None


class SinkManager:
    def __init__(self, factory: SinkFactory, fallback: Callable[[JobVersion, str], Sink], metrics: Metrics) -> None:
        self._factory = factory
        self._fallback = fallback
        self._metrics = metrics
        self._running: dict[str, _Running] = {}
        self._retiring: list[tuple[str, Sink]] = []
        self._table = RoutingTable()
        self._generation = -1

    def sync(self, jobs: Mapping[str, JobVersion], generation: int) -> bool:
        """Bring sinks in line with ``jobs``; returns True when the routing table changed."""
        if generation == self._generation:
            return False
        self._generation = generation
        for job_id in list(self._running):
            current = jobs.get(job_id)
            running = self._running[job_id]
            if current is None or current.version != running.version.version or not current.job.enabled:
                self._retiring.append((job_id, running.sink))
                del self._running[job_id]
        for job_id, version in jobs.items():
            if job_id not in self._running and version.job.enabled:
                self._running[job_id] = self._start(version)
        self._table = RoutingTable(self._routes())
        return True

    def _start(self, version: JobVersion) -> _Running:
        try:
            return _Running(version, self._factory(version))
        except TikstreamError as exc:
            log.error("job cannot start; its records go to the DLQ", extra={"job": version.job.id, "error": str(exc)})
            return _Running(version, self._fallback(version, str(exc)), error=str(exc))

    def _routes(self) -> Iterable[tuple[Iterable[str], Route]]:
        for job_id, running in self._running.items():
            job = running.version.job
            yield job.audiences, Route(job_id, job.type, frozenset(job.triggers), running.version.created_at,
                                       running.sink)

    def route(self, audience: str, event: str, produced_at: float) -> list[Route]:
        """The routes of one trigger in the current table (``RoutingTable.route``)."""
        return self._table.route(audience, event, produced_at)

    def sinks(self) -> list[Sink]:
        return [r.sink for r in self._running.values()] + [sink for _, sink in self._retiring]

    def job_ids(self) -> set[str]:
        """The jobs that have a sink here, running or retiring (not yet closed)."""
        return set(self._running) | {job_id for job_id, _ in self._retiring}

    def running(self) -> Mapping[str, tuple[JobVersion, Sink, str | None]]:
        return {k: (r.version, r.sink, r.error) for k, r in self._running.items()}

    def poll(self) -> None:
        for sink in self.sinks():
            sink.poll()
        if self._retiring:
            done = [entry for entry in self._retiring if not entry[1].pending()]
            for entry in done:
                entry[1].close()
                self._retiring.remove(entry)

    def pending(self) -> list[Mapping[Partition, int]]:
        return [s.pending() for s in self.sinks()]

    def drop(self, partitions: list[Partition]) -> None:
        for sink in self.sinks():
            sink.drop(partitions)

    def flush(self, timeout: float, partitions: Iterable[Partition] | None = None) -> bool:
        """Flush every sink within ``timeout`` (one deadline for all); with ``partitions``, only the sinks that
        owe something on one of them (a revoke: the others keep working and are not waited for)."""
        deadline = time.monotonic() + timeout
        wanted = None if partitions is None else set(partitions)
        ok = True
        for sink in self.sinks():
            if wanted is not None and wanted.isdisjoint(sink.pending()):
                continue
            ok = sink.flush(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def close(self) -> None:
        for sink in self.sinks():
            sink.close()
        self._running.clear()
        self._retiring.clear()

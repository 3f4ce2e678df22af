"""Composition root of ``tikstream run``: builds the parts, wires them, runs the loop. No logic of its own."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tikstream.auth import AuthStore
from tikstream.errors import ConfigError
from tikstream.jobs.registry import JobRegistry, JobVersion
from tikstream.kafka.admin import COMPACTED, TopicSpec, ensure_topics
from tikstream.kafka.config_topic import ConfigTopicReader
from tikstream.kafka.consumer import TriggerConsumer
from tikstream.kafka.dlq import MAX_MESSAGE_BYTES as DLQ_MAX_MESSAGE_BYTES
from tikstream.kafka.dlq import DeadLetterWriter
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.settings import Settings
from tikstream.sinks.audience.build import AudienceExport
from tikstream.sinks.audience.members_topic import members_topic_spec
from tikstream.sinks.base import Sink, SinkContext
from tikstream.sinks.dead_letter import DeadLetterSink
from tikstream.sinks.events.build import build_events_sink
from tikstream.sinks.events.deleted import DeletedJobSweep
from tikstream.sinks.events.parked_topic import parked_topic
from tikstream.sinks.manager import SinkManager
from tikstream.status import StatusServer
from tikstream.status_report import jobs_report
from tikstream.supervise import Failure, Policy, Supervisor
from tikstream.tiktok.client import TikTokClient

log = logging.getLogger(__name__)

SinkBuilder = Callable[[JobVersion, SinkContext], Sink]


def default_sink_builders(audience: AudienceExport) -> dict[str, SinkBuilder]:
    """The sink of each job type. Adding a job type means adding its model and an entry here."""
    return {
        "audience_export": audience.build,
        "app_events": build_events_sink,
        "web_events": build_events_sink,
        "offline_events": build_events_sink,
        "crm_events": build_events_sink,
    }


# a deleted job's tombstone stays readable for 7 days (the broker's default is 1): instances that see it clean up
# after the job (docs/architecture.md §2)
CONFIG_TOPIC_CONFIG = {**COMPACTED, "delete.retention.ms": str(7 * 24 * 3600 * 1000)}


def own_topics(settings: Settings) -> list[TopicSpec]:
    dlq = {"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}
    return [TopicSpec(settings.config_topic, 1, CONFIG_TOPIC_CONFIG), TopicSpec(settings.dlq_topic, 3, dlq),
            members_topic_spec(settings.group_id)]


class App:
    def __init__(self, settings: Settings, *, builders: Mapping[str, SinkBuilder] | None = None,
                 metrics: Metrics | None = None, auth: AuthStore | None = None, tiktok: TikTokClient | None = None,
                 shutdown_timeout: float = 10.0) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.stop = threading.Event()
        self.shutdown_timeout = shutdown_timeout
        self.supervisor = Supervisor(self.metrics.thread_failures_total, on_fatal=self._fatal,
                                     redact=auth.redact if auth is not None else lambda s: s)
        kafka = settings.kafka_config()
        self.dlq = DeadLetterWriter(kafka, settings.dlq_topic, self.metrics)
        self.registry = JobRegistry(self.metrics, lambda: ConfigTopicReader(kafka, settings.config_topic))
        # the audience membership table (docs/architecture.md §4.1), kept whenever this build exports audiences
        self.audience = (AudienceExport(kafka, settings.group_id, settings.trigger_topics, self.metrics,
                                        self.supervisor, self.registry.is_deleted)
                         if builders is None or "audience_export" in builders else None)
        self.membership = self.audience.membership if self.audience is not None else None
        if builders is None:
            assert self.audience is not None
            builders = default_sink_builders(self.audience)
        builders = dict(builders)
        self.context = SinkContext(self.metrics, self.dlq, kafka, settings.group_id, settings.state_dir,
                                   settings.tiktok_base_url, auth, tiktok, self.supervisor)
        self.sinks = SinkManager(lambda v: self._build(builders, v), self._unavailable, self.metrics)
        self.consumer = TriggerConsumer(kafka, settings.group_id, settings.auto_offset_reset,
                                        on_commit_failed=lambda ps: self.processor.commit_failed(ps))
        self.processor = Processor(self.consumer, self.dlq, self.sinks, self.metrics, recorder=self.membership)
        # parked records of deleted jobs go to the DLQ (error_class=job_deleted)
        self.parked_sweep = DeletedJobSweep(kafka, parked_topic(settings.group_id), settings.dlq_topic, self.metrics,
                                            self.supervisor)
        self.joined = False
        self.status = StatusServer(settings.http_port, self.metrics, self.health, self.ready, self.jobs)
        self._status_stop = threading.Event()

    def _build(self, builders: Mapping[str, SinkBuilder], version: JobVersion) -> Sink:
        builder = builders.get(version.job.type)
        if builder is None:
            raise ConfigError(f"no sink for job type {version.job.type!r} in this build")
        return builder(version, self.context)

    def _unavailable(self, version: JobVersion, reason: str) -> Sink:
        return DeadLetterSink(version.job.id, reason, self.dlq)

    # -- probes -----------------------------------------------------------------------------------------
    def health(self) -> tuple[bool, str]:
        threads_ok, threads = self.supervisor.health()
        if not threads_ok:
            return False, threads
        age = time.monotonic() - self.processor.last_step
        return (age < 30.0), f"poll loop turned {age:.1f}s ago"

    def ready(self) -> tuple[bool, str]:
        if not self.registry.caught_up:
            return False, "config registry catching up"
        if not self.joined:
            return False, "consumer has not joined its group"
        return True, f"{len(self.consumer.assignment)} partitions assigned"

    def jobs(self) -> list[dict[str, Any]]:
        """The ``/jobs`` report (``tikstream.status_report``)."""
        return jobs_report(self.registry, self.sinks.running())

    def _update_job_gauge(self) -> None:
        self.metrics.jobs.clear()
        for entry in self.jobs():
            self.metrics.jobs.labels(entry.get("type", "unknown"), entry["state"]).inc()

    # -- run --------------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())

    def _fatal(self, failure: Failure) -> None:
        """A part whose policy is EXIT failed: stop the loop; ``run`` returns 1."""
        self.stop.set()

    def _registry(self, stop: threading.Event) -> None:
        """The config registry's thread. Policy EXIT: without a registry no job version can change, and the
        registry reads the whole topic again only at start, so the process restarts instead."""
        self.registry.run(stop)
        if self.registry.failure is not None:
            raise self.registry.failure

    def run(self) -> int:
        ensure_topics(self.settings.kafka_config(), own_topics(self.settings))
        if self.membership is not None:
            self.membership.start()
        # The status server's thread. Policy RESTART: it only reads state, so serving again is safe.
        self.supervisor.spawn("status-server", self.status.serve, Policy.RESTART, self._status_stop)
        self.supervisor.spawn("config-registry", self._registry, Policy.EXIT, self.stop)
        try:
            while not self.registry.caught_up and not self.stop.is_set():
                self.processor.last_step = time.monotonic()
                time.sleep(0.05)
        except BaseException:
            self._close_status()
            raise
        if self.stop.is_set():
            self._close_status()
            return 1 if self.supervisor.fatal is not None else 0
        self.consumer.subscribe(self.settings.trigger_topics, self._assigned, self.processor.on_revoke,
                                self.processor.on_lost)
        next_gauge = 0.0
        try:
            while not self.stop.is_set():
                self.sinks.sync(self.registry.jobs, self.registry.generation)
                if self.registry.deleted:
                    self.parked_sweep.sync(self.registry.deleted, self.registry.is_deleted, self.sinks.job_ids())
                self.parked_sweep.poll(self.registry.is_deleted)
                self.processor.step()
                if time.monotonic() >= next_gauge:
                    self._update_job_gauge()
                    next_gauge = time.monotonic() + 5.0
        finally:
            self._close()
        if self.supervisor.fatal is not None:
            log.error("stopping: a background thread failed",
                      extra={"thread_name": self.supervisor.fatal.thread, "error": self.supervisor.fatal.error})
            return 1
        return 0

    def _assigned(self, partitions: list[Any]) -> None:
        self.joined = True
        self.processor.on_assign(partitions)

    def _close(self) -> None:
        drained = self.processor.shutdown(self.shutdown_timeout)
        log.info("stopping", extra={"drained": drained})
        self.consumer.close()
        if self.membership is not None:
            self.membership.close()
        self.sinks.close()
        self.parked_sweep.close()
        self.dlq.close()
        self._close_status()

    def _close_status(self) -> None:
        self._status_stop.set()
        self.status.close()

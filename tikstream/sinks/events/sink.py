"""The events sink: one class for ``app_events``, ``web_events`` and ``offline_events`` (docs/architecture.md §4.2).

Each routed trigger is batched; a batch is sealed at ``batch_max_events`` (≤ 1,000) or ``linger_ms`` after its
first trigger, mapped and serialised then, in one call for the whole batch (``tikstream.mapping.native``: the
native core, or the Python mapper for what it leaves), and sent to
``/event/track/`` by a small thread pool of its own (``send``), at most ``max_in_flight`` requests at
a time, so a slow or throttled job never holds the poll loop or another job. ``submit`` raises
``BackPressure`` once the sink holds ``max_held`` events (default 4 * ``batch_max_events`` *
``max_in_flight``).

Delivery guarantee: an offset is released only when TikTok accepted the batch holding its event (code 0 or
20001), when the event was dead-lettered, or when the record was parked durably in Kafka. So:

* a retryable failure the client gave up on keeps the batch, resent after a backoff (never dropped);
* a batch TikTok rejects as invalid is split (around the item the message names, else in halves) until the
  bad events stand alone; those go to the DLQ (``error_class=tiktok_rejected``), the rest is sent;
* an authorization failure pauses this job only (``auth``): its held events are parked
  (``park``, ``parking``), and it resumes by itself and reads the parked records back.

Replays are harmless: each event's ``event_id`` is the same every time its trigger is processed.
Not guaranteed: order of events across batches (a retried batch may land after a later one).
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from typing import Any

from tikstream.errors import BackPressure
from tikstream.jobs.models import EventsJob
from tikstream.mapping.compile import compile_events_job
from tikstream.mapping.native import BatchMapper
from tikstream.metrics import Metrics
from tikstream.offsets import OwedOffsets
from tikstream.records import Partition, Trigger
from tikstream.sinks.events.auth import JobAuth, describe, is_authorization_error
from tikstream.sinks.events.batch import (
    Batch,
    Item,
    RetryQueue,
    body_envelope,
    join_ready,
    rejected_index,
    release_items,
    split,
    without,
)
from tikstream.sinks.events.config import EventsSinkConfig
from tikstream.sinks.events.park import ParkingDesk, original_value
from tikstream.sinks.events.parking import Parking
from tikstream.sinks.events.send import Sender
from tikstream.supervise import Supervisor
from tikstream.tiktok.errors import PermanentError, TikTokError

__all__ = ["EventsSink", "EventsSinkConfig"]

log = logging.getLogger(__name__)


class EventsSink:
    def __init__(self, job: EventsJob, *, client: Any, auth: Any, dlq: Any, metrics: Metrics, parking: Parking,
                 config: EventsSinkConfig | None = None,
                 executor: Executor | None = None, clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random, on_close: Callable[[], None] | None = None,
                 supervisor: Supervisor | None = None) -> None:
        self.job = job
        self._dlq, self._metrics = dlq, metrics
        self._config = config = config or EventsSinkConfig()
        self._clock, self._on_close = clock, on_close
        self._mapper = compile_events_job(job)
        self._map = self._mapper.map
        self._batch_map = BatchMapper(job, self._mapper)
        self._check = self._mapper.check  # a crm trigger without a lead id is refused here, not at _seal
        self._events, self._audiences = frozenset(job.triggers), frozenset(job.audiences)
        self._batch_max, self._linger = job.batch_max_events, job.linger_ms / 1000.0
        self._max_held = config.max_held or 4 * job.batch_max_events * config.max_in_flight
        envelope = body_envelope(job.source, job.event_source_id, job.test_event_code)
        self._sender = Sender(client, envelope, config.max_in_flight, job.id, executor)
        self._supervisor, self._sender_name = supervisor, f"events-sender-{job.id}"
        if supervisor is not None:
            supervisor.expect(self._sender_name)
        self._auth = JobAuth(job, auth, clock, check_interval=config.auth_check_seconds,
                             probe_interval=config.auth_probe_seconds)
        self._desk = ParkingDesk(job.id, parking, self._map, dlq, redrain_seconds=config.redrain_seconds,
                                 now=clock())
        self._owed = OwedOffsets()
        self._open: list[Item] = []
        self._opened_at = 0.0
        self._ready: deque[Batch] = deque()
        self._retry = RetryQueue(config.retry_base_seconds, config.retry_cap_seconds, rand)
        self._held = 0  # items in the sink: open, ready, in flight, waiting to retry, being parked
        self._next_metrics = clock() + config.metrics_interval_seconds
        self.paused = False
        self.sent = self.failed = self.parked = 0
        self.last_error: str | None = None
        self._sent_total = metrics.events_sent_total.labels(job.id)
        self._failed_total = metrics.events_failed_total.labels(job.id)
        self._batch_size = metrics.batch_size.labels("events")
        self._paused_gauge = metrics.job_paused.labels(job.id)
        self._paused_gauge.set(0)

    # -- the Sink contract ------------------------------------------------------------------------------
    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        if self._held >= self._max_held:
            raise BackPressure(f"events job {self.job.id} holds {self._held} events")
        if trigger.event not in self._events or trigger.audience not in self._audiences:
            return  # the mapper's filter, ahead of it: an unwanted trigger owes nothing
        if self._check is not None:
            self._check(trigger)  # InvalidRecord: the poll loop dead-letters this record for this job
        item = Item(b"", partition, offset, trigger)  # mapped with its batch, when sealed (_seal)
        self._owed.add(partition, offset)
        self._held += 1
        if self.paused:
            self._park([item])
            return
        batch = self._open  # _add, inlined: this runs once per event
        if not batch:
            self._opened_at = self._clock()
        batch.append(item)
        if len(batch) >= self._batch_max:
            self._seal()

    def poll(self) -> None:
        now = self._clock()
        self._desk.parking.poll()
        for batch, error in self._sender.finished():
            self._outcome(batch, error)
        if self.paused:
            if self._auth.may_resume():
                self._resume(now)
        else:
            self._auth.refresh()
            for item in self._desk.read(now, min(self._max_held - self._held, self._batch_max)):
                self._held += 1
                self._add(item)
            if self._open and now - self._opened_at >= self._linger:
                self._seal()
            if self._retry:
                self._ready.extendleft(reversed(self._retry.due(now)))
            if self._ready and self._sender.has_room():
                self._dispatch()
        if now >= self._next_metrics:
            self._flush_metrics(now)

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: Iterable[Partition]) -> None:
        gone = set(partitions)
        self._owed.drop(gone)
        self._open = self._forget(self._open, gone)
        for batch in (*self._ready, *self._retry):  # in flight: may still complete, harmlessly
            batch.items = self._forget(batch.items, gone)
        self._ready = deque(b for b in self._ready if b.items)
        self._retry.prune()

    def flush(self, timeout: float) -> bool:
        deadline = self._clock() + timeout
        if self._open:
            self._seal()
        while self._owed and self._clock() < deadline:
            self._retry.expedite()  # flushing: do not wait out a backoff
            self.poll()
            remaining = max(0.0, min(0.1, deadline - self._clock()))
            if self.paused:
                self._desk.parking.flush(remaining)
            else:
                self._sender.wait(remaining, time.sleep)
        self._flush_metrics(self._clock())
        return not self._owed

    def close(self) -> None:
        self._desk.close()
        self._sender.close()
        if self._supervisor is not None:
            self._supervisor.recovered(self._sender_name)  # this job version's senders are gone
        self._flush_metrics(self._clock())
        if self._on_close is not None:
            self._on_close()

    def status(self) -> dict[str, Any]:
        """For ``/jobs``: counts and state; never a token."""
        return {"sent": self.sent, "failed": self.failed, "paused": self.paused, "parked": self.parked,
                "held": self._held, "last_error": self.last_error}

    def _forget(self, items: list[Item], partitions: set[Partition]) -> list[Item]:
        kept = without(items, partitions)
        self._held -= len(items) - len(kept)
        return kept

    # -- batching and sending ---------------------------------------------------------------------------
    def _add(self, item: Item) -> None:
        if not self._open:
            self._opened_at = self._clock()
        self._open.append(item)
        if len(self._open) >= self._batch_max:
            self._seal()

    def _seal(self) -> None:
        """Close the open batch: map its new items in one call (``BatchMapper``), release the triggers the job
        does not want, and queue the rest."""
        items, self._open = self._open, []
        fresh = [item for item in items if not item.body]
        if fresh:
            unwanted = False
            for item, body in zip(fresh, self._batch_map([item.trigger for item in fresh]), strict=True):
                if body is None:
                    unwanted = True
                    self._release(item)
                else:
                    item.body = body
            if unwanted:
                items = [item for item in items if item.body]
        if items:
            self._ready.append(Batch(items, self._opened_at))

    def _dispatch(self) -> None:
        token, problem = self._auth.token()
        if token is None:
            self._pause(problem or "authorization unusable")
            return
        while self._ready and self._sender.has_room():
            batch = join_ready(self._ready, self._batch_max)
            self._batch_size.observe(len(batch))
            self._sender.send(token, batch)

    def _outcome(self, batch: Batch, error: BaseException | None) -> None:
        if error is None:
            self._held -= len(batch)
            parked = release_items(self._owed, batch.items)
            for item in parked:
                self._desk.delivered(item)
            self.sent += len(batch)
            self._sent_total.inc(len(batch))
            if self._supervisor is not None:
                self._supervisor.recovered(self._sender_name)
        elif is_authorization_error(error):
            self._pause(describe(error))
            self._park(batch.items)
        elif self.paused:  # any other failure while paused: park it, it is resent after the resume
            self._park(batch.items)
        elif isinstance(error, PermanentError):
            self._rejected(batch, error)
        else:
            if not isinstance(error, TikTokError):  # not TikTok's answer: a fault of ours, never silent
                self._unexpected(error)
            self._retry_later(batch, describe(error))

    def _unexpected(self, error: BaseException) -> None:
        """A sender task failed for a reason TikTok did not give: reported as ``events-sender-<job>``
        (``/healthz``, ``tikstream_thread_failures_total``, the log) until a request succeeds again."""
        if self._supervisor is not None:
            self._supervisor.report(self._sender_name, error)
        else:
            log.error("events send failed unexpectedly", exc_info=error, extra={"job": self.job.id})

    def _release(self, item: Item) -> None:
        self._held -= 1
        if item.origin is None:
            self._owed.release(item.partition, item.offset)
        else:
            self._desk.delivered(item)

    def _rejected(self, batch: Batch, error: PermanentError) -> None:
        if len(batch) > 1:
            for part in reversed(split(batch.items, rejected_index(error.message, len(batch)))):
                self._ready.appendleft(Batch(part, batch.opened, solo=True))
            return
        item, why = batch.items[0], describe(error)
        self._dlq.send(item.partition, item.offset, item.trigger.user_id.encode(), original_value(item.trigger),
                       error_class="tiktok_rejected", error=why, job=self.job.id)
        self.failed += 1
        self._failed_total.inc()
        self.last_error = f"event rejected: {why}"
        self._release(item)

    def _retry_later(self, batch: Batch, error: str) -> None:
        delay = self._retry.add(batch, self._clock())
        self.last_error = f"send failed, resending in about {delay:.0f}s: {error}"
        log.warning("events batch will be resent", extra={"job": self.job.id, "events": len(batch),
                                                          "attempts": batch.attempts, "error": error})

    # -- pause, park, resume ----------------------------------------------------------------------------
    def _pause(self, reason: str) -> None:
        self.last_error = f"paused: {reason}"
        if not self.paused:
            self.paused = True
            self._paused_gauge.set(1)
            self._auth.mark_failed()
            log.warning("events job paused; its records are parked until the authorization works",
                        extra={"job": self.job.id, "error": reason})
        self._desk.stop_reading()
        items, self._open = self._open, []
        for batch in self._sender.cancel_queued():
            items.extend(batch.items)
        for batch in (*self._ready, *self._retry.take_all()):
            items.extend(batch.items)
        self._ready.clear()
        self._park(items)

    def _park(self, items: list[Item]) -> None:
        for item in items:
            if item.origin is not None:  # read back from the parked topic, where it still is
                self._held -= 1
            else:
                self._desk.park(item, self._stored)

    def _stored(self, token: object) -> None:
        item: Item = token  # type: ignore[assignment]
        self._held -= 1
        self.parked += 1
        self._owed.release(item.partition, item.offset)

    def _resume(self, now: float) -> None:
        self.paused = False
        self._paused_gauge.set(0)
        self.last_error = None
        self._desk.drain_soon(now)
        log.info("events job resumed", extra={"job": self.job.id})

    def _flush_metrics(self, now: float) -> None:
        self._next_metrics = now + self._config.metrics_interval_seconds
        counter = self._metrics.identifier_values_total
        for (field, outcome), n in self._mapper.counts.take().items():
            counter.labels(self.job.id, field, outcome).inc(n)
        dropped = self._metrics.identifier_dropped_total
        for (field, reason), n in self._mapper.counts.take_drops().items():
            dropped.labels(self.job.id, field, reason).inc(n)

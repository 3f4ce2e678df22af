"""The poll loop: consume, decode once, route, hand to sinks, and commit what the commit rule allows.

One thread owns the consumer. Per iteration (``step``): offer parked records again, consume a batch, decode
and route each record, poll the sinks and the dead-letter writer, and commit every ``commit_interval``.

Back-pressure: when a sink refuses a record (``BackPressure``), the record and every later record of its
partition are *parked* in order, and the partition is paused; parked records are offered again each step and
the partition resumes once they are all taken. Memory is bounded by what one fetch can return.

Rebalance (cooperative-sticky: a revoke names only the partitions that move): the sinks, dead letters and
membership records that owe something on a revoked partition are flushed, all within one ``revoke_timeout``;
owners that hold only kept partitions are not waited for. Then the revoked partitions are committed and
forgotten. Kept partitions are never paused by a rebalance: they stay assigned, keep their parked records and
their place, and the loop goes on with them as soon as the callback returns. A revoked or lost partition that
was paused is resumed first (librdkafka would keep it paused if it came back). Lost partitions are forgotten
without a commit. ``shutdown`` drains (bounded), commits and closes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from tikstream.errors import BackPressure, InvalidRecord
from tikstream.metrics import Metrics
from tikstream.offsets import commit_offsets
from tikstream.records import Partition, Trigger, decode
from tikstream.routing import Route
from tikstream.sinks.base import DeadLetters, Recorder

log = logging.getLogger(__name__)


class Consumer(Protocol):
    assignment: set[Partition]

    def consume(self, max_records: int, timeout: float) -> list[Any]: ...
    def pause(self, partitions: list[Partition]) -> None: ...
    def resume(self, partitions: list[Partition]) -> None: ...
    def commit(self, offsets: Mapping[Partition, int], *, asynchronous: bool) -> bool: ...
    def lag(self, partition: Partition, position: int) -> int | None: ...


class Sinks(Protocol):
    """What the poll loop needs of the running sinks (``tikstream.sinks.manager.SinkManager``)."""

    def route(self, audience: str, event: str, produced_at: float) -> list[Route]: ...
    def poll(self) -> None: ...
    def pending(self) -> list[Mapping[Partition, int]]: ...
    def drop(self, partitions: list[Partition]) -> None: ...
    def flush(self, timeout: float, partitions: Iterable[Partition] | None = None) -> bool: ...


class _Parked:
    """A consumed record on its way to its sinks (and, parked, waiting for one that refused it): ``routes`` are
    the deliveries still to make; None: not decoded (nor recorded) yet."""

    __slots__ = ("msg", "offset", "routes", "trigger")

    def __init__(self, msg: Any, offset: int) -> None:
        self.msg, self.offset = msg, offset
        self.trigger: Trigger | None = None
        self.routes: list[Route] | None = None


#: Records per consume call. Mapping and hashing cost 20-70 us a record, so a 1,000-record step holds back the
#: sinks' dispatch (and the records behind it) for up to a few hundred ms on a busy machine; 250 halved the
#: p99 latency at 5,000 events/s (0.65 s -> 0.29-0.35 s) and cost no throughput (bench_events).
CONSUME_BATCH: Final = 250


class Processor:
    def __init__(self, consumer: Consumer, dlq: DeadLetters, sinks: Sinks, metrics: Metrics, *,
                 batch_size: int = CONSUME_BATCH, commit_interval: float = 1.0, revoke_timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, recorder: Recorder | None = None) -> None:
        self._consumer, self._dlq, self._sinks, self._metrics = consumer, dlq, sinks, metrics
        self._recorder = recorder
        self._batch_size, self._commit_interval, self._revoke_timeout = batch_size, commit_interval, revoke_timeout
        self._clock = clock
        self.consumed: dict[Partition, int] = {}  # last consumed offset + 1
        self.committed: dict[Partition, int] = {}
        self._parked: dict[Partition, deque[_Parked]] = {}
        self._routed: dict[str, int] = {}  # deliveries per job type since the last metrics flush
        self._next_commit = clock() + commit_interval
        self._shut_down = False
        self.last_step = clock()

    # -- the loop ---------------------------------------------------------------------------------------
    def step(self, timeout: float = 0.1) -> int:
        """One iteration; returns the number of records consumed. ``timeout`` 0 skips consuming."""
        self.last_step = self._clock()
        self._offer_parked()
        n = 0
        if timeout > 0:
            msgs = self._consumer.consume(self._batch_size, timeout)
            n = len(msgs)
            if n:
                self._handle(msgs)
        self._sinks.poll()
        self._dlq.poll()
        if self._recorder is not None:
            self._recorder.poll()
        if self._clock() >= self._next_commit:
            self.commit(asynchronous=True)
        return n

    def _handle(self, msgs: list[Any]) -> None:
        """The hot path. Consecutive records mostly share a partition, so per-partition work is done once
        per run of records."""
        parked, consumed, committed = self._parked, self.consumed, self.committed
        counts: dict[str, int] = {}  # records per topic, added up per run of a partition
        run = 0
        tp: Partition = ("", -1)
        is_parked = False
        for msg in msgs:
            if msg.error() is not None:
                log.warning("consumer error", extra={"error": str(msg.error())})
                continue
            offset = msg.offset()
            topic, part = msg.topic(), msg.partition()
            if part != tp[1] or topic != tp[0]:
                if run:
                    counts[tp[0]] = counts.get(tp[0], 0) + run
                    run = 0
                tp = (topic, part)
                if tp not in consumed:  # where this assignment started: already committed, or the reset point
                    committed.setdefault(tp, offset)
                is_parked = tp in parked
            consumed[tp] = offset + 1
            run += 1
            if is_parked:
                parked[tp].append(_Parked(msg, offset))
                continue
            item = _Parked(msg, offset)
            if not self._route(tp, item) or not self._deliver(tp, item):
                self._park(tp, item)
                is_parked = True
        if run:
            counts[tp[0]] = counts.get(tp[0], 0) + run
        for topic, count in counts.items():
            self._metrics.records_consumed_total.labels(topic).inc(count)

    def _route(self, tp: Partition, item: _Parked) -> bool:
        """Decode a record, record its membership and find its routes (into ``item``). False: the recorder
        pushed back and nothing was done. A record that cannot be decoded is dead-lettered (no routes)."""
        msg = item.msg
        ts_type, ts_ms = msg.timestamp()
        try:
            trigger = decode(msg.value(), ts_ms if ts_type else None)
        except InvalidRecord as exc:
            self._dlq.send(tp, item.offset, msg.key(), msg.value(), error_class=exc.reason, error=exc.detail)
            item.routes = []
            return True
        if self._recorder is not None:
            try:
                self._recorder.record(trigger, tp, item.offset, ts_ms if ts_type else None)
            except BackPressure:
                return False
        item.trigger = trigger
        item.routes = self._sinks.route(trigger.audience, trigger.event, ts_ms / 1000.0 if ts_type else trigger.ts)
        return True

    def _flush_counts(self) -> None:
        for job_type, count in self._routed.items():
            self._metrics.records_routed_total.labels(job_type).inc(count)
        self._routed.clear()

    def _deliver(self, tp: Partition, item: _Parked) -> bool:
        """Submit a routed record to its remaining routes. False on back-pressure: ``item.routes`` keeps the
        routes still to take it, and the caller parks it."""
        routes = item.routes or []
        for i, route in enumerate(routes):
            try:
                route.sink.submit(item.trigger, tp, item.offset)  # type: ignore[arg-type]  # routed: decoded
            except BackPressure:
                item.routes = routes[i:]
                return False
            except InvalidRecord as exc:  # this job cannot use the record: dead-lettered for it alone
                msg = item.msg
                self._dlq.send(tp, item.offset, msg.key(), msg.value(), error_class=exc.reason, error=exc.detail,
                               job=route.job_id)
            self._routed[route.job_type] = self._routed.get(route.job_type, 0) + 1
        item.routes = []
        return True

    def _park(self, tp: Partition, item: _Parked) -> None:
        queue = self._parked.get(tp)
        if queue is None:
            self._parked[tp] = queue = deque()
            self._consumer.pause([tp])
            self._metrics.paused_partitions.set(len(self._parked))
        queue.append(item)  # parking always happens in offset order: the queue stays sorted

    def _offer_parked(self) -> None:
        if not self._parked:
            return
        for tp in list(self._parked):
            queue = self._parked.pop(tp)
            while queue:
                item = queue[0]
                if item.routes is None and not self._route(tp, item):
                    break
                if not self._deliver(tp, item):
                    break
                queue.popleft()
            if queue:
                self._parked[tp] = queue
                continue
            self._consumer.resume([tp])
        self._metrics.paused_partitions.set(len(self._parked))

    # -- commits ----------------------------------------------------------------------------------------
    def owed(self) -> list[Mapping[Partition, int]]:
        parked = {tp: q[0].offset for tp, q in self._parked.items() if q}
        recorded = [self._recorder.pending()] if self._recorder is not None else []
        return [parked, self._dlq.pending(), *recorded, *self._sinks.pending()]

    def commit(self, *, asynchronous: bool, partitions: list[Partition] | None = None) -> dict[Partition, int]:
        self._next_commit = self._clock() + self._commit_interval
        consumed = self.consumed if partitions is None else {p: self.consumed[p] for p in partitions
                                                              if p in self.consumed}
        offsets = commit_offsets(consumed, self.owed(), self.committed)
        if offsets and self._consumer.commit(offsets, asynchronous=asynchronous):
            self.committed.update(offsets)
            self._metrics.commits_total.labels("ok").inc()
        elif offsets:
            self._metrics.commits_total.labels("failed").inc()
        self._update_lag()
        self._flush_counts()
        return offsets

    def commit_failed(self, partitions: list[Partition]) -> None:
        """An asynchronous commit failed: forget it so the next commit sends these partitions again."""
        for p in partitions:
            self.committed.pop(p, None)

    def _update_lag(self) -> None:
        for tp, nxt in self.consumed.items():
            self._metrics.commit_lag_records.labels(tp[0], str(tp[1])).set(nxt - self.committed.get(tp, nxt))
            lag = self._consumer.lag(tp, nxt)
            if lag is not None:
                self._metrics.consumer_lag.labels(tp[0], str(tp[1])).set(lag)

    # -- rebalance and stop -----------------------------------------------------------------------------
    def on_assign(self, partitions: list[Partition]) -> None:
        self._metrics.rebalances_total.labels("assigned").inc()
        log.info("partitions assigned", extra={"partitions": partitions})

    def on_revoke(self, partitions: list[Partition]) -> None:
        self._metrics.rebalances_total.labels("revoked").inc()
        if not partitions:  # a cooperative rebalance that took nothing from this instance
            return
        started = self._clock()
        deadline = started + self._revoke_timeout
        if not self._shut_down:  # after ``shutdown`` (the consumer's close revokes all) the flush was done
            self._sinks.flush(self._revoke_timeout, partitions)
        revoked = set(partitions)
        for owner in (self._dlq, self._recorder):
            if owner is not None and not revoked.isdisjoint(owner.pending()):
                owner.flush(max(0.0, deadline - self._clock()))
        self.commit(asynchronous=False, partitions=partitions)
        self._metrics.revoke_seconds.observe(max(0.0, self._clock() - started))
        self._forget(partitions)
        log.info("partitions revoked", extra={"partitions": partitions})

    def on_lost(self, partitions: list[Partition]) -> None:
        self._metrics.rebalances_total.labels("lost").inc()
        self._forget(partitions)
        log.warning("partitions lost; their uncommitted records will be redone", extra={"partitions": partitions})

    def _forget(self, partitions: list[Partition]) -> None:
        paused = [p for p in partitions if p in self._parked]
        if paused:  # librdkafka keeps a partition paused through a rebalance: one assigned here again later
            self._consumer.resume(paused)  # would never be consumed, as nothing here remembers pausing it
        self._sinks.drop(partitions)
        self._dlq.drop(partitions)
        if self._recorder is not None:
            self._recorder.drop(partitions)
        for p in partitions:
            self.consumed.pop(p, None)
            self.committed.pop(p, None)
            self._parked.pop(p, None)
            for gauge in (self._metrics.commit_lag_records, self._metrics.consumer_lag):
                with contextlib.suppress(KeyError):
                    gauge.remove(p[0], str(p[1]))
        self._metrics.paused_partitions.set(len(self._parked))

    def shutdown(self, timeout: float) -> bool:
        """Drain sinks within ``timeout`` and commit what they finished. True when nothing stayed owed."""
        deadline = self._clock() + timeout
        self._shut_down = True
        while self._parked and self._clock() < deadline:
            self._offer_parked()
            self._sinks.poll()
            time.sleep(0.01)
        drained = self._sinks.flush(max(0.0, deadline - self._clock()))
        self._dlq.flush(max(0.5, deadline - self._clock()))
        if self._recorder is not None:
            self._recorder.flush(max(0.5, deadline - self._clock()))
        self.commit(asynchronous=False)
        return drained and not self._parked and not any(self.owed())

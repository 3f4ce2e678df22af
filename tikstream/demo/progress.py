"""Producing the sample triggers at a steady pace, and waiting until tikstream and the emulator settle, with a
progress line (rewritten in place on a terminal, one line every few seconds otherwise).

*Settled* means: every produced record was consumed and committed (so every job finished with it,
docs/architecture.md §6),
each audience job reports nothing batched, shipping or pending (or, if its sink reports nothing, a flush
interval passed since the last trigger), and two looks in a row saw the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from tikstream.demo.generator import Plan
from tikstream.demo.jobs import kafka_config as demo_kafka_config
from tikstream.demo.observe import Emulator, Snapshot, Tikstream, snapshot
from tikstream.jobs.models import AnyJob, AudienceExportJob
from tikstream.kafka.config_topic import publish
from tikstream.settings import Settings

__all__ = ["Reporter", "produce_paced", "settle", "settled"]

TICK_S = 0.5
_IDLE_KEYS = ("pending_files", "pending_requests", "batch_users", "shipping_batches")


class Reporter:
    """Takes snapshots and prints the progress line."""

    def __init__(self, out: TextIO, tikstream: Tikstream, emulator: Emulator,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._out, self._tikstream, self._emulator, self._clock = out, tikstream, emulator, clock
        self._tty = out.isatty()
        self._printed_at = -math.inf
        self.last = Snapshot()

    def update(self, phase: str, produced: int, total: int) -> Snapshot:
        self.last = snapshot(self._tikstream, self._emulator)
        line = f"{phase:<9} {produced}/{total} produced | " + _line(self.last)
        if self._tty:
            self._out.write("\r" + line[:160].ljust(160))
            self._out.flush()
        elif self._clock() - self._printed_at >= 3.0:
            print(line, file=self._out, flush=True)
            self._printed_at = self._clock()
        return self.last

    def done(self) -> None:
        if self._tty:
            self._out.write("\n")
        self._printed_at = -math.inf


def _line(s: Snapshot) -> str:
    members = sum(int(a.get("members_count", 0)) for a in s.emulator.get("audiences", []))
    appended = s.metric("audience_users_total", action="append")
    removed = s.metric("audience_users_total", action="remove")
    return (f"consumed {s.metric('records_consumed_total'):.0f} | routed {s.metric('records_routed_total'):.0f}"
            f" | events sent {s.metric('events_sent_total'):.0f} | audience +{appended:.0f}/-{removed:.0f} users"
            f" | emulator {s.emulator_events} events, {members} members | DLQ {s.metric('dlq_records_total'):.0f}")


def produce_paced(run: Settings, plan: Plan, duration: float, reporter: Reporter,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> float:
    """Produce ``plan`` to the run's trigger topic over about ``duration`` seconds; returns the clock time at
    which the last record was acknowledged."""
    from datetime import UTC, datetime

    records = plan.records
    ticks = max(1, int(duration / TICK_S))
    size = max(1, math.ceil(len(records) / ticks))
    topic, kafka = run.trigger_topics[0], demo_kafka_config(run)
    start = clock()
    for i, first in enumerate(range(0, len(records), size)):
        chunk = records[first:first + size]
        now = datetime.now(UTC)
        publish(kafka, topic, [(r.key, r.value(now)) for r in chunk])
        reporter.update("producing", first + len(chunk), len(records))
        sleep(max(0.0, start + (i + 1) * TICK_S - clock()))
    return clock()


def settled(snap: Snapshot, produced: int, jobs: Sequence[AnyJob], quiet_for: float,
            audience_wait: float) -> tuple[bool, str]:
    """Whether the work of ``produced`` records is done; else what is still going on."""
    consumed = snap.metric("records_consumed_total")
    if consumed < produced:
        return False, f"consumed {consumed:.0f} of {produced}"
    uncommitted = snap.metric("commit_lag_records")
    if uncommitted > 0:
        return False, f"{uncommitted:.0f} records not committed yet"
    for job in jobs:
        if isinstance(job, AudienceExportJob):
            busy = _audience_busy(snap, job, quiet_for, audience_wait)
            if busy:
                return False, busy
    return True, "settled"


def _audience_busy(snap: Snapshot, job: AudienceExportJob, quiet_for: float, audience_wait: float) -> str:
    entry = snap.job(job.id)
    if entry.get("state") in ("unavailable", "rejected", "disabled"):
        return ""
    reported = {k: entry.get(k) for k in _IDLE_KEYS if entry.get(k) is not None}
    if not reported and quiet_for < audience_wait + 2.0:
        return f"{job.id}: waiting for an audience flush"
    busy = [f"{k} {v}" for k, v in reported.items() if v]
    return f"{job.id}: {', '.join(busy)}" if busy else ""


def _fingerprint(snap: Snapshot) -> tuple[object, ...]:
    audiences = tuple((a.get("id"), a.get("members_count"), len(a.get("history", [])))
                      for a in snap.emulator.get("audiences", []))
    return (snap.metric("records_consumed_total"), snap.emulator_events, audiences,
            snap.metric("dlq_records_total"), snap.metric("events_sent_total"))


def settle(reporter: Reporter, produced: int, jobs: Sequence[AnyJob], produced_at: float, audience_wait: float,
           timeout: float, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> tuple[bool, str]:
    """Wait until ``settled`` holds on two looks in a row with the same numbers, or ``timeout`` seconds."""
    deadline = clock() + timeout
    previous: tuple[object, ...] | None = None
    why = "not looked yet"
    while clock() < deadline:
        snap = reporter.update("settling", produced, produced)
        ok, why = settled(snap, produced, jobs, clock() - produced_at, audience_wait)
        current = _fingerprint(snap)
        if ok and current == previous:
            reporter.done()
            return True, why
        previous = current if ok else None
        sleep(1.0)
    reporter.done()
    return False, why

"""Supervised background threads: a part that stops is never silent.

Every long-lived thread of ``tikstream run`` (the config registry, the audience writer, the parked-records
readers, the backfills, the status server) runs under a ``Supervisor``. When its body raises, the supervisor

1. records the failure: ``/healthz`` (``Supervisor.health``) answers unhealthy, naming the thread and the
   error, at once (well within the 10 s an operator's probe allows);
2. counts it in ``tikstream_thread_failures_total{thread}`` and logs it at ERROR with the traceback;
3. then applies the thread's policy, chosen where the thread is started and written in its docstring:

   - ``RESTART``: the body is run again after a backoff (1 s, doubling, at most 30 s), because its work is
     idempotent and restarting is safe (it re-reads its input from Kafka; nothing it owed was committed).
     The failure stays reported until the new run has lasted ``healthy_after`` seconds without failing.
   - ``REPORT``: the thread ends; its owner starts it again (under the same name) when it sees fit, because
     the owner already has a retry rule of its own (a backfill starts over after ``retry_seconds``, an
     events sink opens a new parked-records reader). The failure stays reported until a new run under the
     same name has lasted ``healthy_after`` seconds or finished.
   - ``EXIT``: the process must stop: ``on_fatal`` is called once (``tikstream run`` stops its loop and exits
     with status 1, so the orchestrator restarts the process), because restarting the part alone could
     break a guarantee.

The events senders are the tasks of a small thread pool per events job, not threads of their own: a task
that fails unexpectedly (not a TikTok error, which the sink classifies and retries) is ``report``-ed under
``events-sender-<job>`` with the same record, count and log; the sink keeps the batch and resends it after a
backoff (idempotent: the event ids are stable), and the failure stays reported until a request of that job
succeeds again (``recovered``).

A body that returns normally has finished its work (for example a backfill that is done); that is not a
failure. Error texts pass through ``redact`` before they are stored, shown or logged, so a secret that an
exception happened to carry is never exposed.

Not guaranteed: a thread that hangs without raising is not detected here (the poll loop's own liveness is
checked by ``/healthz`` separately).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

log = logging.getLogger(__name__)

__all__ = ["Failure", "Policy", "Supervised", "Supervisor"]

MAX_ERROR_CHARS: Final = 300


class Policy(enum.Enum):
    RESTART = "restart"
    REPORT = "report"
    EXIT = "exit"


class FailureCounter(Protocol):
    def labels(self, *values: str) -> _Inc: ...


class _Inc(Protocol):
    def inc(self, amount: float = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class Failure:
    thread: str
    error: str  # exception class and message, redacted and cut to MAX_ERROR_CHARS
    at: float  # clock time of the failure
    count: int  # failures of this thread so far


def describe(exc: BaseException, redact: Callable[[str], str]) -> str:
    text = redact(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class Supervised:
    """One supervised thread. ``stop`` is the event its body must watch; ``join`` waits for it."""

    def __init__(self, supervisor: Supervisor, name: str, body: Callable[[threading.Event], None], policy: Policy,
                 stop: threading.Event) -> None:
        self.name, self.policy, self.stop = name, policy, stop
        self._supervisor, self._body = supervisor, body
        self.failure: Failure | None = None
        self.started_at = 0.0
        self.runs = 0  # bodies started so far
        self.failed_run = 0  # the run that failed last
        self.finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Supervised:
        self._thread.start()
        return self

    def is_current(self) -> bool:
        """Whether the caller runs on this thread."""
        return self._thread is threading.current_thread()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        sup = self._supervisor
        backoff = sup.backoff_initial
        while not self.stop.is_set():
            self.started_at = sup.clock()
            self.runs += 1
            try:
                self._body(self.stop)
            except BaseException as exc:  # every failure is recorded; EXIT and RESTART decide what follows
                self.failed_run = self.runs
                sup.failed(self, exc)
                if self.policy is not Policy.RESTART:
                    return
                if sup.clock() - self.started_at >= sup.healthy_after:
                    backoff = sup.backoff_initial  # it had run well for a while: start the backoff again
                if self.stop.wait(backoff):
                    return
                backoff = min(backoff * 2, sup.backoff_max)
                continue
            self.finished = True
            return

    def healthy(self) -> bool:
        failure = self.failure
        if failure is None or self.finished:
            return True
        if self.policy is Policy.EXIT or not self.is_alive():
            return False
        running_again = self.runs > self.failed_run
        return running_again and self._supervisor.clock() - self.started_at >= self._supervisor.healthy_after


class Supervisor:
    """Starts and watches the process's background threads (see the module docstring)."""

    def __init__(self, failures_total: FailureCounter, *, on_fatal: Callable[[Failure], None] | None = None,
                 redact: Callable[[str], str] = lambda s: s, clock: Callable[[], float] = time.monotonic,
                 backoff_initial: float = 1.0, backoff_max: float = 30.0, healthy_after: float = 30.0) -> None:
        self._failures_total = failures_total
        self._on_fatal = on_fatal
        self._redact = redact
        self.clock = clock
        self.backoff_initial, self.backoff_max, self.healthy_after = backoff_initial, backoff_max, healthy_after
        self._lock = threading.Lock()
        self._threads: dict[str, Supervised] = {}
        self._counts: dict[str, int] = {}
        self._reported: dict[str, Failure] = {}  # parts that are not threads of their own (``report``)
        self.fatal: Failure | None = None

    def spawn(self, name: str, body: Callable[[threading.Event], None], policy: Policy,
              stop: threading.Event | None = None) -> Supervised:
        """Start ``body(stop)`` on a thread named ``name`` (names are metric labels: keep them bounded)."""
        thread = Supervised(self, name, body, policy, stop if stop is not None else threading.Event())
        self._failures_total.labels(name)  # the series exists at 0 from the start (rates and alerts see it)
        with self._lock:
            previous = self._threads.get(name)  # a thread of that name may still be stopping: watch the new one
            if previous is not None and not previous.healthy():
                thread.failure = previous.failure  # reported until the new run has proved itself
            self._threads[name] = thread
        return thread.start()

    def forget(self, name: str) -> None:
        """Stop watching a thread that was stopped on purpose (a job removed, a backfill done)."""
        with self._lock:
            self._threads.pop(name, None)

    def _failure(self, name: str, exc: BaseException) -> Failure:
        with self._lock:
            count = self._counts[name] = self._counts.get(name, 0) + 1
        return Failure(name, describe(exc, self._redact), self.clock(), count)

    def _announce(self, failure: Failure, exc: BaseException, action: str) -> None:
        """Log and count a failure that is already recorded (whoever sees the count sees the record and log)."""
        log.error("background thread %s failed; %s", failure.thread, action,
                  extra={"thread_name": failure.thread, "error": failure.error, "failures": failure.count},
                  exc_info=exc)
        self._failures_total.labels(failure.thread).inc()

    def failed(self, thread: Supervised, exc: BaseException) -> None:
        failure = thread.failure = self._failure(thread.name, exc)
        self._announce(failure, exc, {Policy.EXIT: "the process stops", Policy.RESTART: "restarting it with backoff",
                                      Policy.REPORT: "its owner starts it again"}[thread.policy])
        if thread.policy is Policy.EXIT and self.fatal is None:
            self.fatal = failure
            if self._on_fatal is not None:
                self._on_fatal(failure)

    def expect(self, name: str) -> None:
        """Make the failures series of a part that may ``report`` exist at 0 from the start."""
        self._failures_total.labels(name)

    def report(self, name: str, exc: BaseException) -> None:
        """A part that is not a thread of its own failed (an events sender's pool task): record, count and log
        it as a thread failure; it stays reported until ``recovered(name)``. Its owner retries the work."""
        failure = self._failure(name, exc)
        with self._lock:
            self._reported[name] = failure
        self._announce(failure, exc, "its work is retried after a backoff")

    def recovered(self, name: str) -> None:
        """The part ``report``-ed as ``name`` works again (cheap when it was not reported: called per success)."""
        if name in self._reported:
            with self._lock:
                self._reported.pop(name, None)

    def failures(self) -> list[Failure]:
        """The threads that are failing now (restarting, or stopped for good), oldest name first."""
        with self._lock:
            threads = list(self._threads.values())
            reported = list(self._reported.values())
        failing = [t.failure for t in threads if t.failure is not None and not t.healthy()]
        return sorted(failing + reported, key=lambda f: f.thread)

    def health(self) -> tuple[bool, str]:
        failing = self.failures()
        if not failing:
            return True, "every background thread runs"
        return False, "; ".join(f"thread {f.thread} failed ({f.count}x): {f.error}" for f in failing)

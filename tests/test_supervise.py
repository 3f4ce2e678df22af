"""Supervised threads: a failure is recorded, counted, reported with its thread's name, redacted, and then
the thread restarts with backoff or the process is told to stop."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from tikstream.metrics import Metrics
from tikstream.supervise import Failure, Policy, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def _count(metrics: Metrics, thread: str) -> float:
    value = metrics.registry.get_sample_value("tikstream_thread_failures_total", {"thread": thread})
    return value or 0.0


def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        done.wait(0.005)
    raise AssertionError("condition not met in time")


def test_a_failing_exit_thread_is_reported_counted_and_stops_the_process() -> None:
    metrics, fatal = _metrics(), []
    sup = Supervisor(metrics.thread_failures_total, on_fatal=fatal.append)

    def body(stop: threading.Event) -> None:
        raise RuntimeError("registry lost its consumer")

    thread = sup.spawn("config-registry", body, Policy.EXIT)
    thread.join(5)
    assert not thread.is_alive()
    ok, why = sup.health()
    assert not ok
    assert "config-registry" in why and "RuntimeError: registry lost its consumer" in why
    assert _count(metrics, "config-registry") == 1
    assert len(fatal) == 1 and isinstance(fatal[0], Failure) and fatal[0].thread == "config-registry"


def test_a_restart_thread_runs_again_with_growing_backoff_until_it_works() -> None:
    metrics, runs = _metrics(), []
    clock = Clock()
    sup = Supervisor(metrics.thread_failures_total, clock=clock, backoff_initial=0.01, backoff_max=0.04,
                     healthy_after=30.0)
    working = threading.Event()

    def body(stop: threading.Event) -> None:
        runs.append(clock())
        if len(runs) < 4:
            raise ConnectionError("broker went away")
        working.set()
        stop.wait()

    thread = sup.spawn("audience-writer", body, Policy.RESTART)
    assert working.wait(5)
    assert len(runs) == 4 and _count(metrics, "audience-writer") == 3
    ok, why = sup.health()
    assert not ok and "audience-writer failed (3x): ConnectionError: broker went away" in why
    clock.now += 31  # the restarted run has lasted long enough
    assert sup.health() == (True, "every background thread runs")
    thread.stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_errors_are_redacted_and_cut() -> None:
    metrics = _metrics()
    sup = Supervisor(metrics.thread_failures_total, redact=lambda s: s.replace("tok-SECRET", "****"))

    def body(stop: threading.Event) -> None:
        raise ValueError("bad token tok-SECRET " + "x" * 1000)

    sup.spawn("parked-reader-web", body, Policy.EXIT).join(5)
    ok, why = sup.health()
    assert not ok and "tok-SECRET" not in why and "****" in why
    assert len(sup.failures()[0].error) <= 300


def test_a_body_that_returns_is_finished_not_failed() -> None:
    metrics = _metrics()
    sup = Supervisor(metrics.thread_failures_total)
    thread = sup.spawn("backfill-j1", lambda stop: None, Policy.RESTART)
    thread.join(5)
    assert thread.finished and sup.health()[0] and _count(metrics, "backfill-j1") == 0


def test_a_stopped_restart_thread_does_not_run_again() -> None:
    metrics, runs = _metrics(), []
    sup = Supervisor(metrics.thread_failures_total, backoff_initial=10.0)
    stop = threading.Event()

    def body(s: threading.Event) -> None:
        runs.append(1)
        raise OSError("disk full")

    thread = sup.spawn("status-server", body, Policy.RESTART, stop)
    _wait(lambda: _count(metrics, "status-server") == 1)
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and runs == [1]

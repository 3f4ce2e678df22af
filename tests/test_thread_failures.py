"""Each background thread of ``tikstream run``, killed by an injected fault: the failure is named in the health
report (what ``/healthz`` answers), counted in ``tikstream_thread_failures_total{thread}`` and logged, and then
the thread's own policy follows. The audience writer and the config registry are killed against real Kafka in
``tests/integration/test_supervision.py``; the events senders in ``tests/sinks/events/test_events_sink.py``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tikstream.metrics import Metrics
from tikstream.sinks.audience.backfill import run_in_thread
from tikstream.sinks.events.parking import ParkedReader
from tikstream.status import StatusServer
from tikstream.supervise import Policy, Supervisor

SECRET = "tok-THREAD-SECRET"


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in time")


def _supervisor() -> tuple[Supervisor, Metrics]:
    metrics = Metrics(CollectorRegistry())
    sup = Supervisor(metrics.thread_failures_total, redact=lambda s: s.replace(SECRET, "****"),
                     backoff_initial=0.05, backoff_max=0.1, healthy_after=0.2)
    return sup, metrics


def _count(metrics: Metrics, thread: str) -> float:
    return metrics.registry.get_sample_value("tikstream_thread_failures_total", {"thread": thread}) or 0.0


def _reported(sup: Supervisor, thread: str, error: str) -> bool:
    healthy, why = sup.health()
    return not healthy and f"thread {thread} failed" in why and error in why and SECRET not in why


def test_the_status_server_dies_is_reported_and_serves_again(caplog: pytest.LogCaptureFixture) -> None:
    sup, metrics = _supervisor()
    server = StatusServer(0, metrics, sup.health, lambda: (True, "ready"), lambda: [], host="127.0.0.1")
    serve_forever = server._server.serve_forever
    kills = []

    def dies_once(poll_interval: float = 0.5) -> None:
        if not kills:
            kills.append(1)
            raise OSError(f"injected: socket gone ({SECRET})")
        serve_forever(poll_interval)

    server._server.serve_forever = dies_once  # type: ignore[method-assign]
    stop = threading.Event()
    with caplog.at_level(logging.ERROR):
        sup.spawn("status-server", server.serve, Policy.RESTART, stop)
        _wait(lambda: _count(metrics, "status-server") == 1)
    assert _reported(sup, "status-server", "OSError: injected: socket gone (****)")
    assert any(getattr(r, "thread_name", None) == "status-server" for r in caplog.records)
    assert all(SECRET not in r.getMessage() and SECRET not in str(getattr(r, "error", "")) for r in caplog.records)
    # RESTART: it serves again after its backoff, and is healthy once it has run for healthy_after
    _wait(lambda: _get(server.port, "/healthz") is not None)
    _wait(lambda: sup.health()[0])
    assert _get(server.port, "/healthz") == (200, "ok: every background thread runs\n")
    stop.set()
    server.close()


def _get(port: int, path: str) -> tuple[int, str] | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
    except httpx.HTTPError:
        return None
    return r.status_code, r.text


def test_a_parked_reader_that_dies_is_reported_and_finishes() -> None:
    sup, metrics = _supervisor()

    def factory() -> Any:
        raise ConnectionError(f"injected: broker unreachable with {SECRET}")

    reader = ParkedReader(factory, b"job-a/", supervisor=sup, name="parked-reader-job-a")
    _wait(lambda: reader.finished)
    _wait(lambda: _count(metrics, "parked-reader-job-a") == 1)
    assert _reported(sup, "parked-reader-job-a", "ConnectionError: injected: broker unreachable with ****")
    # REPORT: the thread ends; the events sink opens a new reader under the same name, which clears it once
    # it has run healthy_after
    reader.close()


def test_a_backfill_that_dies_is_reported_and_its_owner_sees_the_error() -> None:
    sup, metrics = _supervisor()

    def build(stop: threading.Event) -> Any:
        raise RuntimeError(f"injected: membership table unreadable ({SECRET})")

    future = run_in_thread(build, "backfill-job-b", sup)(threading.Event())
    with pytest.raises(RuntimeError, match="membership table unreadable"):
        future.result(timeout=10)
    _wait(lambda: _count(metrics, "backfill-job-b") == 1)
    assert _reported(sup, "backfill-job-b", "RuntimeError: injected: membership table unreadable (****)")


def test_a_backfill_stopped_on_purpose_is_not_a_failure() -> None:
    sup, metrics = _supervisor()

    def build(stop: threading.Event) -> Any:
        raise InterruptedError("stopped")

    future = run_in_thread(build, "backfill-job-c", sup)(threading.Event())
    with pytest.raises(InterruptedError):
        future.result(timeout=10)
    time.sleep(0.05)
    assert _count(metrics, "backfill-job-c") == 0 and sup.health()[0]

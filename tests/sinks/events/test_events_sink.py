"""The events sink driven step by step: a fake client, a hand-run executor, a manual clock, memory parking."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from events_fakes import (
    OK,
    Clock,
    FakeAuthStore,
    FakeClient,
    FakeDLQ,
    ManualExecutor,
    MemoryParking,
    events_token,
    offline_token,
    reject_users,
    revoked,
)
from prometheus_client import CollectorRegistry

from tikstream.errors import BackPressure
from tikstream.jobs.models import AudienceExportJob, parse_job
from tikstream.mapping.compile import event_id
from tikstream.metrics import Metrics
from tikstream.records import Trigger, decode
from tikstream.sinks.events.config import EventsSinkConfig
from tikstream.sinks.events.sink import EventsSink
from tikstream.supervise import Supervisor
from tikstream.tiktok.errors import (
    PermanentError,
    PermissionDeniedError,
    ReauthorizeError,
    RetryableError,
    ThrottledError,
)
from tikstream.tiktok.models import Envelope

TP = ("triggers", 0)
TP1 = ("triggers", 1)

WEB = {"id": "web-job", "type": "web_events", "auth": "pixel", "audiences": ["aud"], "triggers": ["enter", "exit"],
       "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
       "identifiers": {"user.email": "email", "user_id": "external_id"}}
APP = {"id": "app-job", "type": "app_events", "auth": "pixel", "audiences": ["aud"], "app_id": "7123456789",
       "app_name": "Example", "event_name": "InstallApp", "identifiers": {"user.idfa": "idfa"}}
OFFLINE = {"id": "off-job", "type": "offline_events", "auth": "store", "audiences": ["aud"],
           "event_set_id": "1616318632825", "event_name": "Purchase", "identifiers": {"user.email": "email"}}


def trigger(i: int, event: str = "enter", audience: str = "aud") -> Trigger:
    return decode(orjson.dumps({"audience": audience, "event": event, "user_id": f"u-{i}", "ts": 1_800_000_000 + i,
                                "user": {"email": f"user{i}@example.com", "page": "https://shop.example/p"}}),
                  None)


class Harness:
    def __init__(self, job: dict[str, Any] | None = None, *, respond: Any = None,
                 config: EventsSinkConfig | None = None, auths: dict[str, Any] | None = None, **overrides: Any):
        parsed = parse_job({**(job or WEB), **overrides})
        assert not isinstance(parsed, AudienceExportJob)
        self.job = parsed
        self.clock = Clock()
        self.client = FakeClient(respond)
        self.executor = ManualExecutor()
        self.auth = FakeAuthStore(auths if auths is not None else {"pixel": events_token("tok-1")})
        self.dlq = FakeDLQ()
        self.parking = MemoryParking()
        self.metrics = Metrics(CollectorRegistry())
        self.supervisor = Supervisor(self.metrics.thread_failures_total, clock=self.clock)
        self.sink = EventsSink(self.job, client=self.client, auth=self.auth, dlq=self.dlq, metrics=self.metrics,
                               parking=self.parking, config=config or EventsSinkConfig(),
                               executor=self.executor, clock=self.clock, rand=lambda: 0.5,
                               supervisor=self.supervisor)

    def submit(self, n: int, start: int = 0, tp: tuple[str, int] = TP, **kw: Any) -> None:
        for i in range(start, start + n):
            self.sink.submit(trigger(i, **kw), tp, i)

    def cycle(self, seconds: float = 0.0) -> None:
        """Let time pass, poll (seal and dispatch), run the requests, poll (collect outcomes)."""
        self.clock.advance(seconds)
        self.sink.poll()
        while self.executor.run():
            self.sink.poll()

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(f"tikstream_{name}", labels)
        return 0.0 if value is None else value


# -- batching -------------------------------------------------------------------------------------------


def test_batches_by_size_then_by_linger() -> None:
    h = Harness(batch_max_events=3, linger_ms=200)
    h.submit(7)
    h.cycle()
    assert [len(r.body["data"]) for r in h.client.requests] == [3, 3]
    h.cycle(0.1)
    assert len(h.client.requests) == 2  # the last event waits for its linger
    h.cycle(0.15)
    assert [len(r.body["data"]) for r in h.client.requests] == [3, 3, 1]
    assert h.sink.pending() == {}
    assert h.metric("batch_size_count", sink="events") == 3


def test_one_request_per_batch_not_per_event() -> None:
    h = Harness()
    h.submit(1000)
    h.cycle()
    assert len(h.client.requests) == 1
    assert len(h.client.requests[0].body["data"]) == 1000


@pytest.mark.parametrize(("job", "auths", "source", "source_id"), [
    pytest.param(WEB, None, "web", "C4ABCDEF", id="web-pixel"),
    pytest.param(APP, None, "app", "7123456789", id="app-tiktok-app-id"),
    pytest.param(OFFLINE, {"store": offline_token("tok-1", "1616318632825")}, "offline", "1616318632825",
                 id="offline-event-set"),
])
def test_source_and_source_id_per_job_type(job: dict[str, Any], auths: Any, source: str, source_id: str) -> None:
    h = Harness(job, auths=auths, linger_ms=0)
    h.submit(2)
    h.cycle()
    body = h.client.requests[0].body
    assert (body["event_source"], body["event_source_id"]) == (source, source_id)
    assert "test_event_code" not in body
    assert all(isinstance(e["event_id"], str) for e in body["data"])


def test_test_event_code_is_top_level_and_limited_data_use_per_event() -> None:
    h = Harness(OFFLINE, auths={"store": offline_token("tok-1", "1616318632825")}, test_event_code="TEST123",
                limited_data_use=True, linger_ms=0)
    h.submit(2)
    h.cycle()
    body = h.client.requests[0].body
    assert body["test_event_code"] == "TEST123"
    assert all("test_event_code" not in e and e["limited_data_use"] is True for e in body["data"])


def test_token_is_read_from_the_store_at_send_time() -> None:
    h = Harness(linger_ms=0)
    h.submit(1)
    h.cycle()
    h.auth.set_token("pixel", "tok-2")
    h.submit(1, start=1)
    h.cycle()
    assert [r.token for r in h.client.requests] == ["tok-1", "tok-2"]


def test_filtered_triggers_owe_nothing() -> None:
    h = Harness(triggers=["enter"], linger_ms=0)
    h.sink.submit(trigger(1, event="exit"), TP, 1)
    h.sink.submit(trigger(2, audience="other"), TP, 2)
    assert h.sink.pending() == {}
    h.cycle()
    assert h.client.requests == []


# -- offsets and back-pressure ----------------------------------------------------------------------------


def test_offsets_are_released_only_when_tiktok_accepted_the_batch() -> None:
    h = Harness(linger_ms=0)
    h.submit(3, start=10)
    h.submit(2, start=5, tp=TP1)
    h.sink.poll()  # sealed and handed to the pool, not answered yet
    assert h.sink.pending() == {TP: 10, TP1: 5}
    h.executor.run()
    assert h.sink.pending() == {TP: 10, TP1: 5}  # answered, not yet collected by poll
    h.sink.poll()
    assert h.sink.pending() == {}
    assert h.metric("events_sent_total", job="web-job") == 5
    assert h.sink.status()["sent"] == 5


def test_retryable_failure_keeps_events_owed_and_resends_after_a_backoff() -> None:
    answers: list[Envelope | Exception] = [ThrottledError("too many", endpoint="event/track/", code=40100), OK]

    def respond(token: str, body: dict[str, Any]) -> Envelope:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    h = Harness(respond=respond, linger_ms=0)
    h.submit(3)
    h.cycle()
    assert len(h.client.requests) == 1
    assert h.sink.pending() == {TP: 0}
    assert "40100" in (h.sink.status()["last_error"] or "")
    h.cycle(0.4)  # backoff: 1 s * (0.5 + 0.5 / 2) = 0.75 s
    assert len(h.client.requests) == 1
    h.cycle(0.4)
    assert len(h.client.requests) == 2
    assert h.client.requests[0].event_ids == h.client.requests[1].event_ids
    assert h.sink.pending() == {}


def test_an_unexpected_sender_failure_is_reported_counted_and_retried_until_it_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    """A sender task that dies of a fault of ours (not a TikTok answer) is never silent: /healthz names
    ``events-sender-<job>`` with the error (no token in it), the thread-failures metric counts it, the log has
    it; the batch is kept and resent, and the report clears once a request succeeds."""
    calls = []

    def respond(token: str, body: dict[str, Any]) -> Envelope:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError(f"bug #{len(calls)}")
        return OK

    h = Harness(respond=respond, linger_ms=0)
    assert h.metric("thread_failures_total", thread="events-sender-web-job") == 0  # the series exists from start
    h.submit(1)
    with caplog.at_level("ERROR"):
        h.cycle()
    healthy, why = h.supervisor.health()
    assert not healthy and "events-sender-web-job" in why and "RuntimeError: bug #1" in why
    assert "tok-1" not in why
    assert h.metric("thread_failures_total", thread="events-sender-web-job") == 1
    assert any(getattr(r, "thread_name", None) == "events-sender-web-job" for r in caplog.records)
    assert h.sink.pending() == {TP: 0}  # still owed
    h.cycle(5)
    assert h.metric("thread_failures_total", thread="events-sender-web-job") == 2
    assert "bug #2" in h.supervisor.health()[1]
    h.cycle(10)
    assert len(calls) == 3 and h.sink.pending() == {}
    assert h.supervisor.health() == (True, "every background thread runs")


def test_a_closed_sink_is_no_longer_reported() -> None:
    def respond(token: str, body: dict[str, Any]) -> Envelope:
        raise RuntimeError("bug")

    h = Harness(respond=respond, linger_ms=0)
    h.submit(1)
    h.cycle()
    assert not h.supervisor.health()[0]
    h.sink.close()
    assert h.supervisor.health()[0]


def test_back_pressure_when_the_sink_holds_its_limit() -> None:
    h = Harness(config=EventsSinkConfig(max_in_flight=1, max_held=4), linger_ms=0)
    h.submit(4)
    with pytest.raises(BackPressure):
        h.sink.submit(trigger(4), TP, 4)
    assert h.sink.pending() == {TP: 0}
    h.cycle()
    h.sink.submit(trigger(4), TP, 4)  # room again
    assert h.sink.pending() == {TP: 4}


def test_in_flight_requests_are_bounded_and_a_few_more_wait_in_the_pool() -> None:
    h = Harness(config=EventsSinkConfig(max_in_flight=2), batch_max_events=1)
    h.submit(7)
    h.sink.poll()
    assert len(h.executor.queue) == 4  # two running, two queued behind them
    h.executor.run()
    h.sink.poll()
    assert len(h.executor.queue) == 3
    h.cycle()
    assert len(h.client.requests) == 7


def test_the_pool_runs_at_most_max_in_flight_requests_at_once() -> None:
    import threading

    gate, lock, started = threading.Event(), threading.Lock(), threading.Semaphore(0)
    running, peak = [0], [0]

    def respond(token: str, body: dict[str, Any]) -> Envelope:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        started.release()
        gate.wait(5)
        with lock:
            running[0] -= 1
        return OK

    h = Harness(respond=respond, batch_max_events=1)
    h.sink = EventsSink(h.job, client=h.client, auth=h.auth, dlq=h.dlq, metrics=h.metrics, parking=h.parking,
                        config=EventsSinkConfig(max_in_flight=3))
    h.submit(12)
    h.sink.poll()
    assert all(started.acquire(timeout=5) for _ in range(3))  # three requests are running, all held
    assert not started.acquire(timeout=0.05) and peak[0] == 3  # and no fourth started beside them
    gate.set()
    assert h.sink.flush(5.0)
    assert peak[0] == 3 and len(h.client.requests) == 12
    h.sink.close()


def test_drop_forgets_owed_offsets_and_unsent_events_of_those_partitions() -> None:
    h = Harness(linger_ms=10_000)
    h.submit(3, tp=TP)
    h.submit(3, start=10, tp=TP1)
    h.sink.drop([TP1])
    assert h.sink.pending() == {TP: 0}
    assert h.sink.status()["held"] == 3
    h.cycle(11)
    assert {e for r in h.client.requests for e in r.event_ids} == {event_id("web-job", trigger(i)) for i in range(3)}


def test_flush_sends_everything_and_waits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    h = Harness(linger_ms=60_000)
    h.sink = EventsSink(h.job, client=h.client, auth=h.auth, dlq=h.dlq, metrics=h.metrics, parking=h.parking,
                        executor=ThreadPoolExecutor(2))
    h.submit(2500)
    assert h.sink.flush(10.0) is True
    assert h.sink.pending() == {}
    assert sorted(len(r.body["data"]) for r in h.client.requests) == [500, 1000, 1000]
    h.sink.close()


def test_flush_gives_up_at_its_deadline_and_says_so() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    answer = threading.Event()

    def slow(token: str, body: dict[str, Any]) -> Envelope:
        answer.wait(5)  # TikTok answers only when the test says so
        return OK

    h = Harness(respond=slow)
    h.sink = EventsSink(h.job, client=h.client, auth=h.auth, dlq=h.dlq, metrics=h.metrics, parking=h.parking,
                        executor=ThreadPoolExecutor(1))
    h.submit(1)
    assert h.sink.flush(0.1) is False
    assert h.sink.pending() == {TP: 0}
    answer.set()
    assert h.sink.flush(5.0) is True
    h.sink.close()


# -- rejected events --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name_index", [False, True], ids=["bisect", "named-index"])
def test_a_rejected_batch_is_split_until_the_bad_events_go_to_the_dlq(name_index: bool) -> None:
    bad = {"u-3", "u-12"}
    h = Harness(respond=reject_users(bad, name_index=name_index), linger_ms=0, batch_max_events=16)
    h.submit(16)
    for _ in range(40):
        h.cycle()
    good = {event_id("web-job", trigger(i)) for i in range(16) if f"u-{i}" not in bad}
    accepted = {e for r in h.client.requests for e in r.event_ids if not set(r.event_ids) - good}
    assert accepted == good
    assert [(d.offset, d.error_class, d.job) for d in sorted(h.dlq.sent, key=lambda d: d.offset)] == [
        (3, "tiktok_rejected", "web-job"), (12, "tiktok_rejected", "web-job")]
    letter = h.dlq.sent[0]
    assert letter.key in (b"u-3", b"u-12") and letter.error.startswith("40002 ")
    assert letter.key is not None and orjson.loads(letter.value or b"")["user_id"] == letter.key.decode()
    assert letter.value == trigger(int(letter.key.decode()[2:])).raw  # the record's bytes, unchanged
    assert h.sink.pending() == {}
    assert h.metric("events_failed_total", job="web-job") == 2
    assert h.metric("events_sent_total", job="web-job") == 14
    if name_index:
        assert len(h.client.requests) <= 7  # the named item alone each time, not a bisection


def test_a_single_rejected_event_goes_straight_to_the_dlq() -> None:
    def respond(token: str, body: dict[str, Any]) -> Envelope:
        raise PermanentError("data.0.event_time: Not a valid integer", endpoint="event/track/", code=40002)

    h = Harness(respond=respond, linger_ms=0)
    h.submit(1)
    h.cycle()
    assert len(h.client.requests) == 1 and len(h.dlq.sent) == 1
    assert h.sink.pending() == {}
    assert h.sink.status()["failed"] == 1


# -- authorization: pause, park, resume -------------------------------------------------------------------


def test_a_revoked_token_pauses_the_job_parks_its_events_and_a_new_token_resumes_it() -> None:
    h = Harness(respond=revoked({"tok-1"}), linger_ms=0,
                config=EventsSinkConfig(auth_check_seconds=3.0, auth_probe_seconds=60.0))
    h.submit(5)
    h.cycle()
    assert h.sink.paused and h.sink.status()["paused"] is True
    assert h.metric("job_paused", job="web-job") == 1
    assert "40105" in (h.sink.status()["last_error"] or "")
    h.cycle()  # parked records acknowledged: offsets released, other jobs' commits not held
    assert h.sink.pending() == {}
    assert len(h.parking.records) == 5
    headers = h.parking.records[0].headers
    assert headers["ts_ms"] == b"1800000000000" and headers["source_offset"] == b"0"
    h.submit(2, start=5)  # while paused: parked, not sent
    h.cycle(1)
    assert len(h.client.requests) == 1 and len(h.parking.records) == 7
    assert h.sink.pending() == {}
    h.cycle(10)  # the same token stays paused (no probe before auth_probe_seconds)
    assert h.sink.paused and len(h.client.requests) == 1

    h.auth.set_token("pixel", "tok-2")
    h.cycle(3)
    assert not h.sink.paused
    assert h.metric("job_paused", job="web-job") == 0
    h.cycle()
    sent = [r for r in h.client.requests if r.token == "tok-2"]
    assert sorted(e for r in sent for e in r.event_ids) == sorted(event_id("web-job", trigger(i)) for i in range(7))
    assert h.parking.waiting() == [] and len(h.parking.tombstoned) == 7
    assert h.sink.status()["parked"] == 7


def test_batches_waiting_in_the_pool_are_taken_back_and_parked_on_pause() -> None:
    h = Harness(respond=revoked({"tok-1"}), batch_max_events=1, config=EventsSinkConfig(max_in_flight=1))
    h.submit(3)
    h.sink.poll()
    assert len(h.executor.queue) == 2
    h.executor.run(1)
    h.sink.poll()  # the first answer pauses the job; the queued batch is cancelled, never sent
    assert h.sink.paused
    h.executor.run()
    h.cycle()
    assert len(h.client.requests) == 1
    assert len(h.parking.records) == 3 and h.sink.pending() == {}


def test_an_unchanged_token_is_probed_again_after_the_probe_interval() -> None:
    h = Harness(respond=revoked({"tok-1"}), linger_ms=0,
                config=EventsSinkConfig(auth_check_seconds=1.0, auth_probe_seconds=30.0))
    h.submit(1)
    h.cycle()
    h.cycle(29)
    assert h.sink.paused
    h.client.respond = lambda token, body: OK  # re-enabled on TikTok's side
    h.cycle(2)
    assert not h.sink.paused
    h.cycle()
    assert h.sink.status()["sent"] == 1 and h.parking.waiting() == []


@pytest.mark.parametrize("auths", [
    pytest.param({}, id="missing"),
    pytest.param({"pixel": offline_token("tok-1", "1616318632825")}, id="wrong-kind"),
])
def test_an_unusable_authorization_pauses_without_sending(auths: dict[str, Any]) -> None:
    h = Harness(auths=auths, linger_ms=0)
    h.submit(2)
    h.cycle()
    h.cycle()
    assert h.client.requests == [] and h.sink.paused
    assert "pixel" in (h.sink.status()["last_error"] or "")
    assert h.sink.pending() == {} and len(h.parking.records) == 2
    h.auth.set_token("pixel", "tok-9")
    h.cycle(5)
    h.cycle()
    assert [r.token for r in h.client.requests] == ["tok-9"]


def test_a_permission_error_pauses_instead_of_dead_lettering() -> None:
    def respond(token: str, body: dict[str, Any]) -> Envelope:
        raise PermissionDeniedError("No permission to operate pixel code", endpoint="event/track/", code=40001)

    h = Harness(respond=respond, linger_ms=0)
    h.submit(4)
    h.cycle()
    assert h.sink.paused and h.dlq.sent == [] and len(h.client.requests) == 1


def test_parked_events_keep_their_event_id_when_the_time_came_from_kafka() -> None:
    h = Harness(respond=revoked({"tok-1"}), linger_ms=0)
    t = decode(orjson.dumps({"audience": "aud", "event": "enter", "user_id": "u-1"}), 1_800_000_123_456)
    h.sink.submit(t, TP, 0)
    h.cycle()
    h.cycle()
    h.auth.set_token("pixel", "tok-2")
    h.cycle(5)
    h.cycle()
    assert h.client.requests[-1].event_ids == [event_id("web-job", t)]


def test_status_repr_and_dead_letters_never_show_the_token() -> None:
    secret = "tok-5ecret-9f8e7d"
    answers: list[Exception] = [
        RuntimeError(f"POST event/track/ failed; headers {{'Access-Token': '{secret}'}}"),  # a bug's message
        RetryableError("timeout sending the request", endpoint="event/track/", request_id="req-7"),
        PermanentError("data.0.event_time: Not a valid integer", endpoint="event/track/", code=40002),
        ReauthorizeError("Access token is invalid", endpoint="event/track/", code=40105),
    ]
    tokens: list[str] = []

    def respond(token: str, body: dict[str, Any]) -> Envelope:
        tokens.append(token)
        raise answers.pop(0)

    h = Harness(respond=respond, linger_ms=0, auths={"pixel": events_token(secret)})

    def look() -> str:
        status = h.sink.status()
        shown = [orjson.dumps(status).decode(), repr(status), repr(h.sink)]
        assert [text for text in shown if secret in text] == []
        return str(status["last_error"])

    h.submit(1)
    h.cycle()
    assert "RuntimeError" in look()  # the unexpected failure is reported, by its class only
    h.cycle(5)
    assert "timeout sending the request" in look()
    h.cycle(5)
    assert "40002" in look() and len(h.dlq.sent) == 1  # rejected alone: dead-lettered
    h.submit(1, start=1)
    h.cycle()
    assert h.sink.paused and "40105" in look()
    assert tokens == [secret] * 4  # the sink did hold the token, and sent with it every time
    assert [d.error for d in h.dlq.sent if secret in d.error] == []


def test_a_retryable_failure_while_paused_is_parked_too() -> None:
    def respond(token: str, body: dict[str, Any]) -> Envelope:
        if body["data"][0]["event_id"] == event_id("web-job", trigger(0)):
            raise ReauthorizeError("expired", endpoint="event/track/", code=40102)
        raise RetryableError("timeout", endpoint="event/track/")

    h = Harness(respond=respond, batch_max_events=1)
    h.submit(2)
    h.cycle()
    h.cycle()
    assert h.sink.paused and h.sink.pending() == {} and len(h.parking.records) == 2


# -- identifier metrics -----------------------------------------------------------------------------------


def test_identifier_outcomes_are_counted_in_bulk() -> None:
    h = Harness(linger_ms=0)
    h.submit(3)
    h.sink.submit(decode(orjson.dumps({"audience": "aud", "event": "enter", "user_id": "u-9",
                                       "user": {"email": "not an email"}}), 1), TP, 3)
    assert h.metric("identifier_values_total", job="web-job", field="email", outcome="hashed") == 0
    h.cycle(1.0)
    assert h.metric("identifier_values_total", job="web-job", field="email", outcome="hashed") == 3
    assert h.metric("identifier_values_total", job="web-job", field="email", outcome="invalid") == 1
    assert h.metric("identifier_values_total", job="web-job", field="external_id", outcome="hashed") == 4


def test_close_shuts_the_pool_and_parking() -> None:
    h = Harness()
    h.sink.close()
    assert h.executor.shut and h.parking.closed


def test_batches_that_pile_up_behind_a_full_pool_go_joined_in_fuller_requests() -> None:
    h = Harness(config=EventsSinkConfig(max_in_flight=1), batch_max_events=10, linger_ms=0)
    for start in range(0, 10, 2):  # five batches of two: two take the pool, three wait ready
        h.submit(2, start=start)
        h.sink.poll()
    assert len(h.executor.queue) == 2
    h.cycle()
    assert [len(r.body["data"]) for r in h.client.requests] == [2, 2, 6]
    assert h.sink.pending() == {}


def test_parts_of_a_rejected_batch_are_not_joined_again() -> None:
    h = Harness(respond=reject_users({"u-3"}), batch_max_events=8, linger_ms=0)
    h.submit(8)
    h.cycle()
    assert len(h.dlq.sent) == 1 and h.sink.pending() == {}
    sizes = [len(r.body["data"]) for r in h.client.requests]
    assert sizes[0] == 8 and max(sizes[1:]) < 8, sizes

"""The poll loop driven step by step with in-memory fakes and a hand-moved clock."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeConsumer, FakeDeadLetters, trigger

from tikstream.errors import InvalidRecord
from tikstream.jobs.models import parse_job
from tikstream.jobs.registry import JobVersion
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.sinks.manager import SinkManager
from tikstream.testing import RecordingSink

T = "triggers"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def web_job(job_id: str, audiences: list[str], triggers: list[str] | None = None, enabled: bool = True) -> Any:
    return parse_job({"id": job_id, "type": "web_events", "auth": "a", "audiences": audiences,
                      "triggers": triggers or ["enter"], "pixel_code": "C4ABCDEF", "event_name": "Purchase",
                      "page_url_field": "user.page", "identifiers": {"user.email": "email"}, "enabled": enabled})


Built = tuple[Processor, FakeConsumer, FakeDeadLetters, Clock]


def build(jobs: dict[str, tuple[Any, float]], sinks: dict[str, RecordingSink], **kw: Any) -> Built:
    def factory(v: JobVersion) -> RecordingSink:
        return sinks.setdefault(v.job.id, RecordingSink())

    manager = SinkManager(factory, lambda v, r: RecordingSink(), Metrics())
    manager.sync({k: JobVersion(j, "0:1", created) for k, (j, created) in jobs.items()}, 1)
    consumer, dlq, clock = FakeConsumer(), FakeDeadLetters(), Clock()
    return Processor(consumer, dlq, manager, Metrics(), clock=clock, **kw), consumer, dlq, clock


def test_routes_by_audience_kind_and_creation_time() -> None:
    sinks: dict[str, RecordingSink] = {}
    jobs = {"enters": (web_job("enters", ["a"]), 0.0), "both": (web_job("both", ["a", "b"], ["enter", "exit"]), 0.0),
            "later": (web_job("later", ["a"]), 1_900_000_000.0)}
    proc, consumer, dlq, _ = build(jobs, sinks)
    consumer.add(T, 0, [trigger("a", "enter", "u1"), trigger("a", "exit", "u2"), trigger("b", "enter", "u3"),
                        trigger("c", "enter", "u4")])
    proc.step()
    got = {k: [t.user_id for _p, _o, t in s.received] for k, s in sinks.items()}
    assert got == {"enters": ["u1"], "both": ["u1", "u2", "u3"], "later": []}
    assert dlq.sent == []


def test_poison_goes_to_dlq_and_is_committed_after_ack() -> None:
    proc, consumer, dlq, _ = build({}, {})
    consumer.add(T, 0, [b"{oops", None, trigger(event="left"), trigger()])
    proc.step()
    assert [(o, r) for _p, o, r in dlq.sent] == [(0, "invalid_json"), (1, "null_value"), (2, "invalid_field")]
    assert proc.commit(asynchronous=True) == {(T, 0): 4}


def test_dead_letter_not_yet_acknowledged_holds_the_commit() -> None:
    proc, consumer, dlq, _ = build({}, {})
    consumer.add(T, 0, [trigger(), b"{oops", trigger()])
    proc._handle(consumer.consume(10, 0))
    assert proc.commit(asynchronous=True) == {(T, 0): 1}
    dlq.poll()
    assert proc.commit(asynchronous=True) == {(T, 0): 3}


def test_commit_waits_for_the_slowest_sink() -> None:
    sinks = {"x": RecordingSink(auto_complete=False), "y": RecordingSink(auto_complete=False)}
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0), "y": (web_job("y", ["aud"]), 0.0)}, sinks)
    consumer.add(T, 0, [trigger(user_id=f"u{i}") for i in range(10)])
    proc.step()
    assert proc.commit(asynchronous=True) == {}
    sinks["x"].complete()
    sinks["y"].complete(4)
    assert proc.commit(asynchronous=True) == {(T, 0): 4}
    sinks["y"].complete()
    assert proc.commit(asynchronous=True) == {(T, 0): 10}


def test_back_pressure_pauses_parks_in_order_and_resumes() -> None:
    sink = RecordingSink(capacity=3, auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger(user_id=f"u{i}") for i in range(8)])
    consumer.add(T, 1, [trigger(audience="other")])
    proc.step()
    assert [t.user_id for _p, _o, t in sink.received] == ["u0", "u1", "u2"]
    assert consumer.paused == {(T, 0)}
    assert proc.commit(asynchronous=True) == {(T, 1): 1}, "another partition still commits"
    for _ in range(4):
        sink.complete()
        proc.step()
    assert [t.user_id for _p, _o, t in sink.received] == [f"u{i}" for i in range(8)]
    assert consumer.paused == set()
    sink.complete()
    assert proc.commit(asynchronous=True) == {(T, 0): 8}


def test_back_pressure_on_second_sink_does_not_deliver_twice_to_the_first() -> None:
    first, second = RecordingSink(), RecordingSink(capacity=1, auto_complete=False)
    proc, consumer, _dlq, _ = build({"a": (web_job("a", ["aud"]), 0.0), "b": (web_job("b", ["aud"]), 0.0)},
                                    {"a": first, "b": second})
    consumer.add(T, 0, [trigger(user_id="u0"), trigger(user_id="u1")])
    proc.step()
    second.complete()
    proc.step()
    second.complete()
    proc.step()
    assert [t.user_id for _p, _o, t in first.received] == ["u0", "u1"]
    assert [t.user_id for _p, _o, t in second.received] == ["u0", "u1"]


def test_revoke_flushes_commits_and_forgets() -> None:
    sink = RecordingSink(auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger() for _ in range(5)])
    proc.step()
    proc.on_revoke([(T, 0)])
    assert consumer.commits[-1] == {(T, 0): 5}, "flush finished the work, so the revoke commits it all"
    assert proc.consumed == {} and sink.pending() == {}


def test_lost_partitions_are_forgotten_without_commit() -> None:
    sink = RecordingSink(auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger() for _ in range(5)])
    proc.step()
    proc.on_lost([(T, 0)])
    assert consumer.commits == [] and sink.pending() == {} and proc.consumed == {}


def test_commits_on_the_interval_of_the_clock() -> None:
    proc, consumer, _dlq, clock = build({}, {}, commit_interval=1.0)
    consumer.add(T, 0, [trigger()])
    proc.step()
    assert consumer.commits == []
    clock.now += 1.0
    proc.step()
    assert consumer.commits == [{(T, 0): 1}]


@pytest.mark.parametrize("enabled", [True, False])
def test_disabled_job_gets_nothing(enabled: bool) -> None:
    sinks: dict[str, RecordingSink] = {}
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"], enabled=enabled), 0.0)}, sinks)
    consumer.add(T, 0, [trigger()])
    proc.step()
    assert (len(sinks["x"].received) if "x" in sinks else 0) == (1 if enabled else 0)


def test_a_revoke_flushes_only_the_sinks_owing_on_the_revoked_partitions() -> None:
    only_a, only_b = RecordingSink(auto_complete=False), RecordingSink(auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["a"]), 0.0), "y": (web_job("y", ["b"]), 0.0)},
                                    {"x": only_a, "y": only_b})
    consumer.add(T, 0, [trigger(audience="a") for _ in range(3)])
    consumer.add(T, 1, [trigger(audience="b") for _ in range(3)])
    proc.step()
    proc.on_revoke([(T, 0)])
    assert only_a.flushes == 1 and only_b.flushes == 0, "the sink holding only the kept partition is not flushed"
    assert only_b.pending() == {(T, 1): 0}, "its work goes on, owed, undisturbed"
    assert consumer.commits[-1] == {(T, 0): 3}


def test_kept_partitions_are_not_paused_and_keep_flowing_through_a_revoke() -> None:
    sink = RecordingSink(capacity=3, auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger(user_id="r0")])
    consumer.add(T, 1, [trigger(user_id="k0")])
    consumer.add(T, 2, [trigger(user_id="k1"), trigger(user_id="k2")])  # k2: back-pressure parks partition 2
    proc.step()
    assert consumer.paused == {(T, 2)}
    pauses: list[list[Any]] = []
    consumer.pause = pauses.append  # type: ignore[method-assign]
    proc.on_revoke([(T, 0)])
    assert pauses == [], "a revoke pauses nothing"
    assert consumer.paused == {(T, 2)}, "a kept partition parked by back-pressure stays as it was, no more"
    consumer.add(T, 1, [trigger(user_id="k3")])
    proc.step()
    assert [t.user_id for _p, _o, t in sink.received][-2:] == ["k2", "k3"], "kept partitions go on at once"
    assert consumer.paused == set()
    assert (T, 1) in proc.consumed and (T, 0) not in proc.consumed


def test_a_revoke_that_takes_nothing_flushes_nothing() -> None:
    sink = RecordingSink(auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger()])
    proc.step()
    proc.on_revoke([])
    assert sink.flushes == 0 and consumer.commits == []


def test_a_partition_revoked_while_paused_is_resumed_so_it_flows_if_it_comes_back() -> None:
    sink = RecordingSink(capacity=1, auto_complete=False)
    proc, consumer, _dlq, _ = build({"x": (web_job("x", ["aud"]), 0.0)}, {"x": sink})
    consumer.add(T, 0, [trigger(user_id="u0"), trigger(user_id="u1")])
    proc.step()
    assert consumer.paused == {(T, 0)}
    proc.on_lost([(T, 0)])
    assert consumer.paused == set(), "Kafka would keep it paused after a later assignment; nothing would resume it"
    consumer.add(T, 0, [trigger(user_id="u2")])
    sink.complete()
    proc.step()
    assert [t.user_id for _p, _o, t in sink.received][-1] == "u2"


class RefusingSink(RecordingSink):
    """Refuses the triggers of user ``u-bad`` as a crm job refuses one without a lead id."""

    def submit(self, trigger: Any, partition: Any, offset: int) -> None:
        if trigger.user_id == "u-bad":
            raise InvalidRecord("missing_lead_id", "no lead id at user.lead_id")
        super().submit(trigger, partition, offset)


def test_a_record_one_job_refuses_is_dead_lettered_for_it_and_still_reaches_the_others() -> None:
    sinks: dict[str, RecordingSink] = {"crm": RefusingSink(), "web": RecordingSink()}
    jobs = {"crm": (web_job("crm", ["aud"]), 0.0), "web": (web_job("web", ["aud"]), 0.0)}
    proc, consumer, dlq, _ = build(jobs, sinks)
    consumer.add(T, 0, [trigger(user_id="u-ok"), trigger(user_id="u-bad"), trigger(user_id="u-ok2")])
    proc.step()
    assert dlq.sent == [((T, 0), 1, "missing_lead_id")]
    assert [t.user_id for _p, _o, t in sinks["crm"].received] == ["u-ok", "u-ok2"]
    assert [t.user_id for _p, _o, t in sinks["web"].received] == ["u-ok", "u-bad", "u-ok2"]
    dlq.poll()
    assert proc.commit(asynchronous=True) == {(T, 0): 3}

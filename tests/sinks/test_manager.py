"""SinkManager: one sink per running job version; a replaced, deleted or disabled job's sink retires (still
polled, still holding the commit back) until it has finished. Jobs come from a real ``JobRegistry``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tikstream.errors import JobConfigError
from tikstream.jobs.registry import ConfigRecord, JobRegistry, JobVersion
from tikstream.metrics import Metrics
from tikstream.offsets import commit_offsets
from tikstream.records import Trigger
from tikstream.sinks.manager import SinkManager
from tikstream.testing import RecordingSink

TP = ("triggers", 0)
CREATED = "2026-01-01T00:00:00Z"
LATER = 1_800_000_000.0  # produced after CREATED


class PolledSink(RecordingSink):
    """A recording sink that owes until the test completes it, and counts its polls."""

    def __init__(self, version: JobVersion) -> None:
        super().__init__(auto_complete=False)
        self.version = version
        self.polls = 0

    def poll(self) -> None:
        self.polls += 1
        super().poll()


def web_job(job_id: str = "j", audiences: tuple[str, ...] = ("a",), **kw: Any) -> dict[str, Any]:
    return {"id": job_id, "type": "web_events", "auth": "a", "audiences": list(audiences), "triggers": ["enter"],
            "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
            "identifiers": {"user.email": "email"}, "created_at": CREATED, **kw}


class World:
    """A job registry fed config records, and a manager built from it with recording sinks."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.registry = JobRegistry(Metrics())
        self.offset = 0
        self.built: list[PolledSink] = []
        self.fallbacks: list[tuple[JobVersion, str, PolledSink]] = []
        self.fail = fail or set()
        self.manager = SinkManager(self._factory, self._fallback, Metrics())

    def _factory(self, version: JobVersion) -> PolledSink:
        if version.job.id in self.fail:
            raise JobConfigError(version.job.id, [])
        sink = PolledSink(version)
        self.built.append(sink)
        return sink

    def _fallback(self, version: JobVersion, error: str) -> PolledSink:
        sink = PolledSink(version)
        self.fallbacks.append((version, error, sink))
        return sink

    def put(self, job: dict[str, Any] | None, key: str = "j") -> None:
        value = None if job is None else orjson.dumps(job)
        self.registry.apply(ConfigRecord(key, value, 0, self.offset))
        self.offset += 1
        assert key not in self.registry.rejections, self.registry.rejections[key]

    def sync(self) -> bool:
        return self.manager.sync(self.registry.jobs, self.registry.generation)

    def apply(self, job: dict[str, Any] | None, key: str = "j") -> Any:
        """One config record, then a sync: the job's running sink afterwards (None: it runs no more)."""
        self.put(job, key)
        assert self.sync() is True
        running = self.manager.running().get(key)
        return None if running is None else running[1]

    def sink(self, job_id: str = "j") -> Any:
        return self.manager.running()[job_id][1]

    def deliver(self, offset: int, audience: str = "a") -> None:
        """Route one trigger as the poll loop does, and submit it to every route's sink."""
        trigger = Trigger(audience, "enter", f"u{offset}", LATER, {"user_id": f"u{offset}"})
        for route in self.manager.route(audience, "enter", LATER):
            route.sink.submit(trigger, TP, offset)

    def commit(self, consumed: int) -> dict[Any, int]:
        return commit_offsets({TP: consumed}, self.manager.pending(), {})


def test_a_new_version_gets_a_new_sink_at_once_and_routes_go_to_it() -> None:
    w = World()
    old = w.apply(web_job())
    w.deliver(1)
    new = w.apply(web_job(audiences=("a", "b")))
    assert new is not old and new.version.version == "0:1" and old.version.version == "0:0"
    assert [r.sink for r in w.manager.route("a", "enter", LATER)] == [new]
    assert [r.sink for r in w.manager.route("b", "enter", LATER)] == [new]  # the new version's audiences
    w.deliver(2)
    assert [o for _, o, _ in old.received] == [1] and [o for _, o, _ in new.received] == [2]
    assert w.manager.sinks() == [new, old]


def test_a_retired_sink_is_polled_and_holds_the_commit_back_until_it_finished() -> None:
    w = World()
    old = w.apply(web_job())
    w.deliver(5)
    new = w.apply(web_job(event_name="CompletePayment"))
    w.deliver(7)
    new.complete()
    for _ in range(3):
        w.manager.poll()
        assert w.commit(10) == {TP: 5}  # the old sink still owes 5: the commit cannot pass it
    assert old.polls == 3 and not old.closed and old in w.manager.sinks()
    old.complete()
    assert w.commit(10) == {TP: 10}
    w.manager.poll()
    assert old.closed and old.polls == 4 and w.manager.sinks() == [new]
    w.manager.poll()
    assert old.polls == 4  # removed: polled no more
    assert not new.closed


def test_a_retired_sink_whose_partitions_are_dropped_finishes() -> None:
    w = World()
    old = w.apply(web_job())
    w.deliver(5)
    assert w.apply(None) is None
    w.manager.poll()
    assert not old.closed
    w.manager.drop([TP])  # revoked: the new owner redoes the record
    w.manager.poll()
    assert old.closed and w.manager.sinks() == []


@pytest.mark.parametrize("change", ["deleted", "disabled"])
def test_a_deleted_or_disabled_job_retires_its_sink_the_same_way(change: str) -> None:
    w = World()
    w.put(web_job())
    w.put(web_job("other"), key="other")
    w.sync()
    old, other = w.sink(), w.sink("other")
    w.deliver(5)
    assert w.apply(None if change == "deleted" else web_job(enabled=False)) is None
    assert set(w.manager.running()) == {"other"} and w.sink("other") is other
    assert [r.sink for r in w.manager.route("a", "enter", LATER)] == [other]
    other.complete()
    w.manager.poll()
    assert old.polls == 1 and not old.closed and w.commit(10) == {TP: 5}
    old.complete()
    w.manager.poll()
    assert old.closed and w.manager.sinks() == [other] and w.commit(10) == {TP: 10}


def test_an_unchanged_job_keeps_its_sink_and_the_same_generation_changes_nothing() -> None:
    w = World()
    sink = w.apply(web_job())
    assert w.sync() is False  # same generation
    w.put(web_job("other"), key="other")
    assert w.sync() is True
    assert w.sink() is sink and len(w.built) == 2 and w.manager.sinks() == [sink, w.sink("other")]


def test_a_sink_that_cannot_be_built_gets_the_fallback_with_the_error() -> None:
    w = World(fail={"bad"})
    w.put(web_job())
    w.put(web_job("bad"), key="bad")
    w.sync()
    [(version, error, fallback)] = w.fallbacks
    assert version.job.id == "bad" and version is w.registry.jobs["bad"]
    assert error == str(JobConfigError("bad", []))
    assert w.manager.running()["bad"] == (version, fallback, error)
    assert w.manager.running()["j"][2] is None
    assert {r.job_id: r.sink for r in w.manager.route("a", "enter", LATER)} == {"j": w.sink(), "bad": fallback}


def test_close_closes_running_and_retiring_sinks() -> None:
    w = World()
    old = w.apply(web_job())
    w.deliver(5)
    new = w.apply(web_job(event_name="CompletePayment"))
    w.manager.close()
    assert old.closed and new.closed and w.manager.sinks() == []


def test_job_ids_name_running_and_retiring_sinks_until_closed() -> None:
    w = World()
    w.put(web_job())
    w.put(web_job("other"), key="other")
    w.sync()
    w.deliver(5)
    assert w.apply(None) is None  # "j" deleted: its sink retires, owing 5
    assert w.manager.job_ids() == {"j", "other"}
    w.sink("other").complete()
    w.built[0].complete()
    w.manager.poll()
    assert w.manager.job_ids() == {"other"}


def test_the_registry_knows_a_job_deleted_only_once_caught_up_and_while_its_last_record_is_a_tombstone() -> None:
    w = World()
    w.put(web_job())
    w.put(None)  # deleted
    assert w.registry.deleted == {"j": "0:1"}
    assert not w.registry.is_deleted("j")  # still reading: a new version may follow
    w.registry.caught_up = True
    assert w.registry.is_deleted("j") and not w.registry.is_deleted("never-seen")
    w.put(web_job())  # created again
    assert w.registry.deleted == {} and not w.registry.is_deleted("j")
    w.put(None)
    w.registry.apply(ConfigRecord("j", b"{not json", 0, w.offset))  # an invalid version: not deleted either
    assert not w.registry.is_deleted("j") and "j" in w.registry.rejections

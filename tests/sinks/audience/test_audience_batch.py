"""The on-disk batch and the sink around it: last trigger wins, flush triggers, offsets, back-pressure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson
import pytest

from tikstream.errors import BackPressure
from tikstream.jobs.models import AudienceExportJob
from tikstream.records import Trigger
from tikstream.sinks.audience.batch import APPEND, REMOVE, Batch, read_rows
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.sink import AudienceExportSink, Sealed

TP = ("tikstream.triggers", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ManualExecutor:
    """Runs shipped batches only when told to."""

    def __init__(self) -> None:
        self.queue: list[tuple[Future[int], Callable[..., int], Any]] = []

    def submit(self, fn: Callable[..., int], arg: Any) -> Future[int]:
        fut: Future[int] = Future()
        self.queue.append((fut, fn, arg))
        return fut

    def run_all(self) -> None:
        while self.queue:
            fut, fn, arg = self.queue.pop(0)
            try:
                fut.set_result(fn(arg))
            except Exception as exc:
                fut.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


class Recorder:
    def __init__(self, layout: FileLayout) -> None:
        self.batches: list[dict[str, list[str]]] = []

    def __call__(self, sealed: Sealed) -> int:
        got = {"APPEND": list(read_rows(sealed.path, APPEND)), "REMOVE": list(read_rows(sealed.path, REMOVE))}
        self.batches.append(got)
        return sum(len(v) for v in got.values())


def job(**kw: Any) -> AudienceExportJob:
    base = {"id": "j1", "type": "audience_export", "auth": "a", "audience": "vip", "advertiser_id": "7",
            "identifiers": {"user.email": "EMAIL_SHA256"}, "flush_interval_seconds": 60}
    return AudienceExportJob(**{**base, **kw})


def trig(user: str, event: str) -> Trigger:
    return Trigger("vip", event, user, 0.0, {"user_id": user, "user": {"email": f"{user}@example.com"}})


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Clock, ManualExecutor, Recorder, Callable[..., AudienceExportSink]]:
    clock, ex = Clock(), ManualExecutor()
    rec = Recorder(FileLayout({"user.email": "EMAIL_SHA256"}))

    def make(**kw: Any) -> AudienceExportSink:
        return AudienceExportSink(job(**kw), tmp_path, rec, executor=ex, clock=clock)  # type: ignore[arg-type]

    return clock, ex, rec, make


def test_batch_last_trigger_wins_and_exit_keeps_ids(tmp_path: Path) -> None:
    b = Batch(tmp_path / "b.sqlite", 0.0)
    b.put("u1", APPEND, "h1", 0)
    b.put("u1", REMOVE, "h1", 0)
    b.put("u1", APPEND, "h1", 0)
    b.put("u2", APPEND, "h2", 0)
    b.put("u2", REMOVE, "", 0)  # exit without a profile: keeps the hashes it entered with
    b.put("u3", APPEND, "h3", 1)
    b.drop_partitions([1])
    assert b.users == 6 and b.exact_users() == 2
    path = b.seal()
    assert list(read_rows(path, APPEND)) == ["h1"]
    assert list(read_rows(path, REMOVE)) == ["h2"]


def test_enter_exit_enter_is_one_append(parts: Any) -> None:
    clock, ex, rec, make = parts
    sink = make()
    for i, event in enumerate(["enter", "exit", "enter"]):
        sink.submit(trig("u1", event), TP, 10 + i)
    sink.submit(trig("u2", "exit"), TP, 13)
    assert sink.pending() == {TP: 10}
    clock.now += 60
    sink.poll()
    assert len(ex.queue) == 1
    assert sink.pending() == {TP: 10}  # owed until shipped
    ex.run_all()
    sink.poll()
    assert sink.pending() == {}
    assert len(rec.batches[0]["APPEND"]) == 1 and len(rec.batches[0]["REMOVE"]) == 1


def test_flush_on_interval_only_after_it(parts: Any) -> None:
    clock, ex, _, make = parts
    sink = make(flush_interval_seconds=30)
    sink.submit(trig("u1", "enter"), TP, 1)
    clock.now += 29
    sink.poll()
    assert not ex.queue
    clock.now += 1
    sink.poll()
    assert len(ex.queue) == 1


def test_flush_on_max_users(parts: Any) -> None:
    _, ex, rec, make = parts
    sink = make(flush_max_users=3)
    for i in range(7):
        sink.submit(trig(f"u{i}", "enter"), TP, i)
        ex.run_all()
    sink.poll()
    ex.run_all()
    sink.poll()
    assert [len(b["APPEND"]) for b in rec.batches] == [3, 3]
    assert sink.pending() == {TP: 6}


def test_repeated_users_do_not_count_twice(parts: Any) -> None:
    _, ex, _, make = parts
    sink = make(flush_max_users=3)
    for i in range(10):
        sink.submit(trig("u1" if i % 2 else "u2", "enter"), TP, i)
    sink.poll()
    assert not ex.queue


def test_flush_on_max_bytes(parts: Any) -> None:
    _, ex, rec, make = parts
    sink = make(flush_max_bytes=1024)
    for i in range(20):  # 65 bytes a user
        sink.submit(trig(f"u{i}", "enter"), TP, i)
    ex.run_all()
    sink.poll()
    assert rec.batches and len(rec.batches[0]["APPEND"]) * 65 >= 1024


def test_back_pressure_when_shipping_is_slow(parts: Any) -> None:
    _, ex, _, make = parts
    sink = make(flush_max_users=1)
    sink.submit(trig("u0", "enter"), TP, 0)
    sink.submit(trig("u1", "enter"), TP, 1)
    sink.submit(trig("u2", "enter"), TP, 2)
    with pytest.raises(BackPressure):
        sink.submit(trig("u3", "enter"), TP, 3)
    ex.run_all()
    sink.submit(trig("u3", "enter"), TP, 3)
    assert sink.pending() == {TP: 2}


def test_flush_ships_and_releases(parts: Any) -> None:
    _, ex, _, make = parts
    sink = make()
    sink.submit(trig("u0", "enter"), TP, 5)
    assert sink.flush(0.0) is False
    ex.run_all()
    assert sink.flush(1.0) is True
    assert sink.pending() == {}


def test_drop_forgets_partition(parts: Any) -> None:
    clock, ex, rec, make = parts
    sink = make()
    other = ("tikstream.triggers", 1)
    sink.submit(trig("u0", "enter"), TP, 5)
    sink.submit(trig("u1", "enter"), other, 7)
    sink.drop([other])
    assert sink.pending() == {TP: 5}
    clock.now += 60
    sink.poll()
    ex.run_all()
    sink.poll()
    assert len(rec.batches[0]["APPEND"]) == 1


def test_a_batch_that_failed_to_ship_stays_owed_until_its_partition_is_dropped(parts: Any, tmp_path: Path) -> None:
    clock, ex, rec, _ = parts
    fail = [True]

    def ship(sealed: Sealed) -> int:
        if fail.pop(0) if fail else False:
            raise OSError("disk full")
        return rec(sealed)

    sink = AudienceExportSink(job(), tmp_path, ship, executor=ex, clock=clock)  # type: ignore[arg-type]
    other = ("tikstream.triggers", 1)
    sink.submit(trig("u0", "enter"), TP, 5)
    sink.submit(trig("u1", "enter"), other, 8)
    assert sink.flush(0.0) is False
    ex.run_all()
    sink.poll()
    assert sink.pending() == {TP: 5, other: 8}
    assert "disk full" in (sink.status()["last_error"] or "")
    sink.submit(trig("u2", "enter"), TP, 6)  # a later batch that ships does not release the failed one
    assert sink.flush(0.0) is False
    ex.run_all()
    assert sink.flush(1.0) is False
    assert sink.pending() == {TP: 5, other: 8} and len(rec.batches) == 1
    sink.drop([TP])
    assert sink.pending() == {other: 8}
    sink.drop([other])
    assert sink.pending() == {} and sink.flush(1.0) is True


def test_a_batch_shipped_after_its_partition_was_dropped_releases_nothing_of_a_new_batch(parts: Any) -> None:
    clock, ex, _, make = parts
    sink = make()
    sink.submit(trig("u0", "enter"), TP, 5)
    clock.now += 60
    sink.poll()  # shipping
    sink.drop([TP])  # revoked, then assigned again: offset 5 is consumed once more
    assert sink.pending() == {}
    sink.submit(trig("u0", "enter"), TP, 5)
    ex.run_all()
    sink.poll()  # the old batch ships: offset 5 stays owed by the open batch
    assert sink.pending() == {TP: 5}
    clock.now += 60
    sink.poll()
    ex.run_all()
    sink.poll()
    assert sink.pending() == {}


# -- exits without a profile (resolved from the membership table) ------------------------------------------


def test_resolve_removes_takes_the_last_known_profile(tmp_path: Path) -> None:
    from tikstream.sinks.audience.batch import count_unresolved, resolve_removes

    b = Batch(tmp_path / "b.sqlite", 0.0)
    b.put("gone", REMOVE, "", 0)  # exit without a profile, entered in an earlier batch
    b.put("never", REMOVE, "", 0)  # exit of a user the table does not know
    b.put("kept", REMOVE, "h-kept", 0)  # exit with identifiers: left alone
    b.put("back", APPEND, "", 0)  # an enter without identifiers: not an exit
    b.put("x", APPEND, "h-x", 0)
    b.forget("x")
    path = b.seal()
    assert count_unresolved(path) == 2
    members = [("gone", b"old"), ("kept", b"other"), ("back", b"p"), ("gone", None), ("gone", b"newer"),
               ("gone", b"empty"), ("never", None)]
    rows = {b"old": "h-old", b"newer": "h-newer", b"other": "h-other", b"p": "h-p", b"empty": ""}
    assert resolve_removes(path, members, rows.__getitem__) == 1
    assert sorted(read_rows(path, REMOVE)) == ["h-kept", "h-newer"]
    assert list(read_rows(path, APPEND)) == []
    assert count_unresolved(path) == 1


class MembersTable:
    """``MembershipReader.scan`` over a list."""

    def __init__(self, records: list[tuple[str, dict[str, Any] | None]]) -> None:
        from tikstream.sinks.audience.members_topic import Member

        self.scans = 0
        self.records = [Member(u, None if d is None else orjson.dumps(d), 0) for u, d in records]

    def scan(self, audience: str, stop: Any = None) -> Any:
        self.scans += 1
        return iter(self.records)


def test_an_exit_without_profile_removes_the_hashes_the_user_entered_with(tmp_path: Path) -> None:
    import hashlib

    from tikstream.sinks.audience.build import _resolver
    from tikstream.sinks.audience.sink import Shipper

    class Store:
        def __init__(self) -> None:
            self.files: dict[str, list[str]] = {}

        def upload(self, calculate_type: str, path: Path) -> str:
            self.files[path.name] = path.read_text().split()
            return path.name

        def keep(self, file_id: str, path: Path) -> None:
            return None

        def put_op(self, op: Any) -> None:
            return None

    table = MembersTable([("u1", {"user": {"email": "u1@example.com"}}), ("u1", None)])
    store = Store()
    stop = threading.Event()
    shipper = Shipper(job(), FileLayout(job().identifiers), store, stop=stop,
                      resolve=_resolver(job(), table, stop, FileLayout(job().identifiers)))
    sink = AudienceExportSink(job(), tmp_path, shipper, executor=ManualExecutor(), clock=Clock())  # type: ignore[arg-type]
    sink.submit(Trigger("vip", "exit", "u1", 0.0, {"user_id": "u1"}), TP, 1)
    sink.submit(Trigger("vip", "exit", "u2", 0.0, {"user_id": "u2"}), TP, 2)
    sink.flush(0.0)
    sink._executor.run_all()  # type: ignore[attr-defined]
    assert sink.flush(1.0) is True
    (removed,) = [v for k, v in store.files.items() if "-remove-" in k]
    assert removed == [hashlib.sha256(b"u1@example.com").hexdigest()]
    assert table.scans == 1
    assert sink.status()["exits_resolved"] == 1 and sink.status()["exits_unresolved"] == 1
    sink.submit(trig("u3", "enter"), TP, 3)  # no exit without profile: the table is not read
    sink.flush(0.0)
    sink._executor.run_all()  # type: ignore[attr-defined]
    assert table.scans == 1


def test_identifier_outcomes_are_counted_in_bulk(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from tikstream.mapping.compile import IdentifierCounts
    from tikstream.metrics import Metrics

    metrics = Metrics(CollectorRegistry())
    clock = Clock()
    j = job(identifiers={"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256"})
    counts = IdentifierCounts(["EMAIL_SHA256", "PHONE_SHA256"])
    sink = AudienceExportSink(j, tmp_path, lambda s: 0, executor=ManualExecutor(), clock=clock,  # type: ignore[arg-type]
                              metrics=metrics, counts=counts,
                              layout=FileLayout(j.identifiers, None, counts))
    docs = [{"email": "a@example.com", "phone": "+12133734253"}, {"email": "not an email"}, {}]
    for i, user in enumerate(docs):
        sink.submit(Trigger("vip", "enter", f"u{i}", 0.0, {"user": user}), TP, i)

    def value(field: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value("tikstream_identifier_values_total",
                                                 {"job": "j1", "field": field, "outcome": outcome})

    sink.poll()
    assert value("EMAIL_SHA256", "hashed") is None  # not before the metrics interval
    clock.now += 5
    sink.poll()
    assert value("EMAIL_SHA256", "hashed") == 1 and value("EMAIL_SHA256", "invalid") == 1
    assert value("EMAIL_SHA256", "missing") == 1 and value("PHONE_SHA256", "hashed") == 1
    assert value("PHONE_SHA256", "missing") == 2

"""The on-disk batch and the sink around it: last trigger wins, flush triggers, offsets, back-pressure."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from tikstream.errors import BackPressure
from tikstream.jobs.models import AudienceExportJob
from tikstream.records import Trigger
from tikstream.sinks.audience import AudienceExportSink, Sealed
from tikstream.sinks.audience_batch import APPEND, REMOVE, Batch, read_rows
from tikstream.sinks.audience_files import FileLayout

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
            fut.set_result(fn(arg))

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

"""The parked reader over a fake consumer: what it hands out, what it commits, when it stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from tikstream.metrics import Metrics
from tikstream.sinks.events.parked_topic import ParkedRecord
from tikstream.sinks.events.parking import ParkedReader, parked_key
from tikstream.supervise import Supervisor

SUPERVISOR = Supervisor(Metrics(CollectorRegistry()).thread_failures_total)


class FakeConsumer:
    def __init__(self, records: list[ParkedRecord]) -> None:
        self.records = list(records)
        self.commits: list[dict[int, int]] = []
        self.closed = False
        self.lock = threading.Lock()

    def consume(self, max_records: int, timeout: float) -> list[ParkedRecord]:
        with self.lock:
            out, self.records = self.records[:max_records], self.records[max_records:]
        if not out:
            time.sleep(min(timeout, 0.01))
        return out

    def commit(self, offsets: dict[int, int]) -> bool:
        self.commits.append(dict(offsets))
        return True

    def caught_up(self) -> bool:
        return not self.records

    def close(self) -> None:
        self.closed = True


def rec(partition: int, offset: int, job: str = "job-a", value: bytes | None = b"{}") -> ParkedRecord:
    return ParkedRecord(partition, offset, parked_key(job, "t", 0, offset), value, {})


def reader_over(consumer: FakeConsumer, **kw: float) -> ParkedReader:
    interval = kw.get("commit_interval", 0.01)
    return ParkedReader(lambda: consumer, b"job-a/", supervisor=SUPERVISOR, commit_interval=interval)  # type: ignore[arg-type,return-value]


def wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def take_all(reader: ParkedReader, n: int) -> list[ParkedRecord]:
    got: list[ParkedRecord] = []
    wait(lambda: bool(got.extend(reader.take(100))) or len(got) >= n)
    return got


def test_hands_out_only_this_jobs_records_and_skips_tombstones() -> None:
    consumer = FakeConsumer([rec(0, 0), rec(0, 1, job="job-b"), rec(0, 2, value=None), rec(0, 3)])
    reader = reader_over(consumer)
    got = take_all(reader, 2)
    assert [(r.partition, r.offset) for r in got] == [(0, 0), (0, 3)]
    reader.close()


def test_commits_only_below_the_lowest_record_not_done() -> None:
    consumer = FakeConsumer([rec(0, 0), rec(0, 1), rec(0, 2), rec(1, 0)])
    reader = reader_over(consumer)
    got = take_all(reader, 4)
    reader.done(0, 0, got[0].key)
    reader.done(0, 2, got[2].key)  # 1 is not done: the commit stops there
    reader.done(1, 0, got[3].key)
    wait(lambda: bool(consumer.commits) and consumer.commits[-1].get(0) == 1)
    reader.close(wait=5)
    assert consumer.closed
    committed: dict[int, int] = {}
    for c in consumer.commits:
        committed.update(c)
    assert committed == {0: 1, 1: 1}


def test_stops_by_itself_once_caught_up_and_everything_is_done() -> None:
    consumer = FakeConsumer([rec(0, 0), rec(0, 1, job="job-b")])
    reader = reader_over(consumer)
    got = take_all(reader, 1)
    time.sleep(0.1)
    assert not reader.finished  # a record is still out
    reader.done(0, 0, got[0].key)
    wait(lambda: reader.finished)
    assert consumer.closed and consumer.commits[-1] == {0: 2}
    assert not reader.failed


def test_a_full_buffer_stops_reading_until_records_are_taken() -> None:
    consumer = FakeConsumer([rec(0, i) for i in range(50)])
    reader = ParkedReader(lambda: consumer, b"job-a/", supervisor=SUPERVISOR, max_buffered=10)  # type: ignore[arg-type,return-value]
    wait(lambda: len(consumer.records) == 40)
    time.sleep(0.05)
    assert len(consumer.records) == 40
    assert len(reader.take(100)) == 10
    wait(lambda: len(consumer.records) == 30)
    reader.close()


@pytest.mark.parametrize("fails", ["factory", "consume"])
def test_a_reader_that_fails_finishes_without_committing(fails: str) -> None:
    consumer = FakeConsumer([rec(0, 0)])

    def factory() -> FakeConsumer:
        if fails == "factory":
            raise RuntimeError("no broker")
        return consumer

    if fails == "consume":
        consumer.consume = lambda n, t: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
    reader = ParkedReader(factory, b"job-a/", supervisor=SUPERVISOR)  # type: ignore[arg-type]
    wait(lambda: reader.finished)
    assert consumer.commits == []
    assert reader.failed  # not read to the end: a deleted job's sweep must not count it as swept

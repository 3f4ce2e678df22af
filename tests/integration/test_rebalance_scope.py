"""A rebalance on the real broker costs only what is revoked: when a second member joins, the first gives up
one partition (cooperative-sticky), flushes only the sink that owes on it, commits it, and goes on with the
partition it keeps without ever having it revoked or paused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from conftest import produce
from fakes import FakeDeadLetters

from tikstream.jobs.models import parse_job
from tikstream.jobs.registry import JobVersion
from tikstream.kafka.consumer import TriggerConsumer
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.records import Partition
from tikstream.sinks.manager import SinkManager
from tikstream.testing import RecordingSink


def _job(job_id: str, audience: str) -> Any:
    return parse_job({"id": job_id, "type": "web_events", "auth": "a", "audiences": [audience],
                      "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
                      "identifiers": {"user.email": "email"}, "created_at": "2020-01-01T00:00:00Z"})


class Member:
    """One poll loop with a sink per audience (``a`` is fed by partition 0, ``b`` by partition 1)."""

    def __init__(self, kafka_config: dict[str, str], group: str, topic: str) -> None:
        self.sinks = {"a": RecordingSink(auto_complete=False), "b": RecordingSink(auto_complete=False)}
        manager = SinkManager(lambda v: self.sinks[v.job.audiences[0]], lambda v, r: RecordingSink(), Metrics())
        manager.sync({a: JobVersion(_job(f"job-{a}", a), "0:1", 0.0) for a in self.sinks}, 1)
        self.consumer = TriggerConsumer(kafka_config, group, "earliest")
        self.paused: list[list[Partition]] = []
        pause = self.consumer.pause

        def recording_pause(partitions: Any) -> None:
            self.paused.append(list(partitions))
            pause(partitions)

        self.consumer.pause = recording_pause  # type: ignore[method-assign]
        self.processor = Processor(self.consumer, FakeDeadLetters(), manager, Metrics())
        self.revoked: list[list[Partition]] = []
        self.assigned: list[list[Partition]] = []

        def on_revoke(partitions: list[Partition]) -> None:
            self.revoked.append(list(partitions))
            self.processor.on_revoke(partitions)

        def on_assign(partitions: list[Partition]) -> None:
            self.assigned.append(list(partitions))
            self.processor.on_assign(partitions)

        self.consumer.subscribe([topic], on_assign, on_revoke, self.processor.on_lost)

    def received(self, audience: str) -> int:
        return len(self.sinks[audience].received)


def _until(condition: Callable[[], bool], *members: Member, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        for m in members:
            m.processor.step(0.05)


def _records(audience: str, n: int, tag: str) -> list[tuple[bytes, bytes]]:
    return [(f"{tag}{i}".encode(), orjson.dumps({"audience": audience, "event": "enter", "user_id": f"{tag}{i}",
                                                 "ts": 1_900_000_000, "user": {"email": f"{tag}{i}@x.io"}}))
            for i in range(n)]


def test_a_join_revokes_one_partition_flushes_only_its_sink_and_the_kept_one_flows(kafka_config: dict[str, str],
                                                                                  new_topic: Any) -> None:
    topic, group = new_topic(2, "scope"), f"scope-{uuid.uuid4().hex[:8]}"
    produce(kafka_config, topic, _records("a", 20, "a"), partition=0)
    produce(kafka_config, topic, _records("b", 20, "b"), partition=1)
    first = Member(kafka_config, group, topic)
    second = None
    try:
        _until(lambda: first.received("a") == 20 and first.received("b") == 20, first)
        second = Member(kafka_config, group, topic)
        _until(lambda: bool(second.consumer.assignment) and len(first.consumer.assignment) == 1, first, second)

        assert len(first.revoked) == 1 and len(first.revoked[0]) == 1, f"one partition moves: {first.revoked}"
        (gone,) = first.revoked[0]
        (kept,) = first.consumer.assignment
        moved, stayed = ("a", "b") if gone[1] == 0 else ("b", "a")
        assert first.sinks[moved].flushes == 1, "the sink owing on the revoked partition is flushed"
        assert first.sinks[stayed].flushes == 0, "the sink owing only on the kept partition is not"
        assert first.sinks[stayed].pending() == {kept: 0}, "its work is still owed, undisturbed"
        assert first.paused == [], "nothing was paused"
        assert second.consumer.assignment == {gone}

        produce(kafka_config, topic, _records(stayed, 5, "k"), partition=kept[1])
        produce(kafka_config, topic, _records(moved, 5, "m"), partition=gone[1])
        _until(lambda: first.received(stayed) == 25 and second.received(moved) == 5, first, second)
        assert first.received(moved) == 20, "the revoked partition's new records go to the new owner only"
        assert second.received(moved) == 5, "the flush committed the revoked partition: nothing is redone"
    finally:
        for m in (first, second):
            if m is not None:
                m.consumer.close()

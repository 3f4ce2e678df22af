"""The to-the-end reader: partitions read in log order up to the end seen at start; stop, timeout, commits."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tikstream.errors import ConfigError
from tikstream.kafka.producer import TrackedProducer, produce_and_wait
from tikstream.kafka.reader import Committed, EndReader


class ReadFailed(Exception):
    pass


def reader(config: dict[str, str], group: str = "reader-test", timeout: float = 10.0) -> EndReader:
    return EndReader(config, group, error=ReadFailed, timeout=timeout)


def test_kafka_that_does_not_answer_raises_the_callers_error(nowhere: dict[str, str]) -> None:
    with reader(nowhere, timeout=0.3) as r:
        with pytest.raises(ReadFailed):
            r.partitions("t")
        with pytest.raises(ReadFailed, match="no record at 5 in time"):
            list(r.read("t", {0: 5}, ends={0: 9}))


def put(config: dict[str, str], topic: str, records: list[tuple[bytes | None, bytes | None, int]]) -> None:
    deliveries = produce_and_wait(TrackedProducer(config), topic, records, 30)
    assert all(d is not None and d.error is None for d in deliveries)


@pytest.mark.integration
def test_reads_every_partition_in_log_order_up_to_the_end_seen_at_start(kafka_config: dict[str, str],
                                                                        new_topic: Callable[..., str]) -> None:
    topic = new_topic(2)
    put(kafka_config, topic, [(b"a%d" % i, b"%d" % i, i % 2) for i in range(10)] + [(b"t", None, 0)])
    with reader(kafka_config) as r:
        assert r.partitions(topic) == [0, 1] and r.ends(topic) == {0: 6, 1: 5}
        got = []
        for rec in r.read(topic, dict.fromkeys(r.partitions(topic))):
            if not got:
                put(kafka_config, topic, [(b"late", b"late", 0), (b"late", b"late", 1)])  # after the start
            got.append(rec)
    for p in (0, 1):
        assert [x.offset for x in got if x.partition == p] == list(range(6 if p == 0 else 5))
    assert b"late" not in {x.key for x in got}
    tombstone = next(x for x in got if x.key == b"t")
    assert tombstone.value is None and tombstone.topic == topic and tombstone.timestamp_ms


@pytest.mark.integration
def test_reads_from_an_offset_to_a_given_end_and_the_caller_may_stop_early(kafka_config: dict[str, str],
                                                                           new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    put(kafka_config, topic, [(b"k", b"%d" % i, 0) for i in range(10)])
    with reader(kafka_config) as r:
        assert [x.offset for x in r.read(topic, {0: 3}, ends={0: 6})] == [3, 4, 5]
        assert [x.offset for x in r.read(topic, {0: 8}, ends={0: 100})] == [8, 9], "the partition's end ends it"
        first = next(iter(r.read(topic, {0: None})))
        assert first.offset == 0
        assert list(r.read(topic, {0: 10})) == []


@pytest.mark.integration
def test_a_stop_event_interrupts_a_read(kafka_config: dict[str, str], new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    put(kafka_config, topic, [(b"k", b"v", 0)] * 3)
    stop = threading.Event()
    stop.set()
    with reader(kafka_config) as r, pytest.raises(InterruptedError):
        list(r.read(topic, {0: None}, stop=stop))


@pytest.mark.integration
def test_a_missing_topic_has_no_partitions(kafka_config: dict[str, str]) -> None:
    with EndReader(kafka_config, "reader-test", error=ConfigError, settings={"allow.auto.create.topics": False}) as r:
        assert r.partitions("tikstream-no-such-topic") == []


@pytest.mark.integration
def test_commits_with_metadata_round_trip(kafka_config: dict[str, str], new_topic: Callable[..., str]) -> None:
    topic, group = new_topic(2), f"reader-commit-{id(object())}"
    with reader(kafka_config, group) as r:
        assert r.committed([(topic, 0), (topic, 1)]) == {(topic, 0): Committed(None, None),
                                                          (topic, 1): Committed(None, None)}
        put(kafka_config, topic, [(b"k", b"v", 0)] * 3)
        r.commit({(topic, 0): Committed(2, "replayed:7"), (topic, 1): Committed(None)})
    with reader(kafka_config, group) as r:
        got = r.committed([(topic, 0), (topic, 1)])
    assert got[(topic, 0)] == Committed(2, "replayed:7") and got[(topic, 1)].offset is None

"""`tikstream dlq replay` on the real broker: letters written by the real DLQ writer go back to their source
topic with their original key and value, filtered by job, once each across successive replays."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from tikstream.kafka import dlq_replay
from tikstream.kafka.config_topic import publish
from tikstream.kafka.dlq import DeadLetterWriter
from tikstream.kafka.dlq_replay import decode_progress, encode_progress, read_dead_letters, replay_dead_letters
from tikstream.metrics import Metrics

Letter = tuple[str | None, bytes, bytes | None]  # job, key, value


def _write_letters(kafka: dict[str, str], dlq: str, source: str, letters: list[Letter]) -> None:
    writer = DeadLetterWriter(kafka, dlq, Metrics())
    for offset, (job, key, value) in enumerate(letters):
        writer.send((source, 0), offset, key, value, error_class="job_unavailable" if job else "invalid_json",
                    error="test", job=job)
    assert writer.flush(30)
    writer.close()


def _read_all(kafka: dict[str, str], topic: str, expect: int, timeout: float = 30.0) -> list[Any]:
    consumer = Consumer({**kafka, "group.id": f"read-{uuid.uuid4().hex}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        got += [m for m in consumer.consume(100, 0.5) if m.error() is None]
    time.sleep(0.5)  # and nothing more arrives
    got += [m for m in consumer.consume(100, 0.5) if m.error() is None]
    consumer.close()
    return got


LETTERS: list[Letter] = [
    ("a", b"u-1", b'{"n": 1}'), ("b", b"u-2", b'{"n": 2}'), (None, b"u-3", b"{bad json"),
    ("a", b"u-4", b'{"n": 4}'), ("b", b"u-5", b'{"n": 5}'), ("a", b"u-6", b'{"n": 6}'),
]


@pytest.fixture
def topics(kafka_config: dict[str, str], new_topic: Callable[..., str]) -> tuple[str, str, str]:
    source, dlq = new_topic(1, "source"), new_topic(1, "dlq")
    _write_letters(kafka_config, dlq, source, LETTERS)
    return source, dlq, f"g-{uuid.uuid4().hex[:8]}"


def test_replay_by_job_then_the_rest_replays_each_letter_once(kafka_config: dict[str, str],
                                                              topics: tuple[str, str, str]) -> None:
    source, dlq, group = topics
    first = replay_dead_letters(kafka_config, dlq, group, job="a")
    assert (first.replayed_total, first.left_for_later, first.selected) == (3, 3, 3)
    replayed = _read_all(kafka_config, source, 3)
    assert [(m.key(), m.value()) for m in replayed] == [(k, v) for j, k, v in LETTERS if j == "a"]
    assert all(dict(m.headers())["replayed_from"].startswith(f"{dlq}/0/".encode()) for m in replayed)

    again = replay_dead_letters(kafka_config, dlq, group, job="a")  # offset 0 is behind the committed offset
    assert (again.replayed_total, again.already_replayed, again.scanned) == (0, 2, 5)

    rest = replay_dead_letters(kafka_config, dlq, group)
    assert rest.replayed_total == 3 and rest.already_replayed == 2
    assert rest.replayed == {(source, "b"): 2, (source, "-"): 1}
    everything = _read_all(kafka_config, source, 6)
    assert sorted(m.key() for m in everything) == sorted(k for _, k, _ in LETTERS)

    assert replay_dead_letters(kafka_config, dlq, group).replayed_total == 0


def test_dry_run_changes_nothing(kafka_config: dict[str, str], topics: tuple[str, str, str]) -> None:
    source, dlq, group = topics
    for _ in range(2):
        report = replay_dead_letters(kafka_config, dlq, group, job="b", dry_run=True)
        assert report.replayed == {(source, "b"): 2}
    assert _read_all(kafka_config, source, 0, timeout=1.0) == []
    assert replay_dead_letters(kafka_config, dlq, group, job="b").replayed_total == 2


def test_new_letters_after_a_replay_are_replayed_next_time(kafka_config: dict[str, str],
                                                           topics: tuple[str, str, str]) -> None:
    source, dlq, group = topics
    assert replay_dead_letters(kafka_config, dlq, group, job="a").replayed_total == 3
    _write_letters(kafka_config, dlq, source, [("a", b"u-7", b'{"n": 7}')])
    report = replay_dead_letters(kafka_config, dlq, group, job="a")
    assert report.replayed_total == 1 and report.already_replayed == 2


def test_letters_without_a_value_or_source_are_reported_not_replayed(kafka_config: dict[str, str],
                                                                    new_topic: Callable[..., str]) -> None:
    dlq = new_topic(1, "dlq")
    from confluent_kafka import Producer

    producer = Producer(kafka_config)
    producer.produce(dlq, key=b"k", value=None, headers=[("error_class", b"too_large"), ("job", b"a"),
                                                         ("source_topic", b"x"), ("value_omitted", b"9 MB")])
    producer.produce(dlq, key=b"k", value=b"v", headers=[("error_class", b"invalid_json")])
    assert producer.flush(30) == 0
    report = replay_dead_letters(kafka_config, dlq, f"g-{uuid.uuid4().hex[:8]}")
    assert (report.replayed_total, report.unreplayable) == (0, 2)


def test_interleaved_letters_beyond_the_progress_limit_are_deferred(kafka_config: dict[str, str],
                                                                    topics: tuple[str, str, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source, dlq, group = topics
    monkeypatch.setattr(dlq_replay, "MAX_PROGRESS_CHARS", len("replayed:") + 4)  # room for one offset
    report = replay_dead_letters(kafka_config, dlq, group, job="a")
    assert (report.replayed_total, report.deferred) == (2, 1)  # offset 0 moves the commit, 3 fits, 5 does not
    monkeypatch.undo()
    assert replay_dead_letters(kafka_config, dlq, group, job="a").replayed_total == 1
    assert len(_read_all(kafka_config, source, 3)) == 3


def test_cli_replay(kafka_config: dict[str, str], topics: tuple[str, str, str]) -> None:
    source, dlq, group = topics
    config = f"jobs-{uuid.uuid4().hex[:8]}"
    publish(kafka_config, config, [("a", b"{}")])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tikstream.cli", "dlq", "replay", *args, "--bootstrap-servers",
                               kafka_config["bootstrap.servers"], "--dlq-topic", dlq, "--group-id", group,
                               "--config-topic", config], capture_output=True, text=True, timeout=60)

    dry = cli("--job", "a", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would replay 3 dead letter(s)") and source in dry.stdout
    done = cli("--job", "a")
    assert done.returncode == 0 and done.stdout.startswith("replayed 3 dead letter(s)")
    assert "3 not selected, kept for a later replay" in done.stdout
    unknown = cli("--job", "nope")
    assert unknown.returncode == 1 and "unknown job 'nope'" in unknown.stderr


def test_read_dead_letters_sees_every_letter_with_its_headers(kafka_config: dict[str, str],
                                                              topics: tuple[str, str, str]) -> None:
    source, dlq, _ = topics
    letters = read_dead_letters(kafka_config, dlq)
    assert [(d.job, d.key, d.value) for d in letters] == LETTERS
    assert all(d.source_topic == source and d.replayable for d in letters)
    assert {d.error_class for d in letters} == {"job_unavailable", "invalid_json"}


@pytest.mark.parametrize(("offsets", "text"), [
    pytest.param([], "", id="none"),
    pytest.param([7], "replayed:7", id="one"),
    pytest.param([3, 4, 5, 9, 11, 12], "replayed:3-5,9,11-12", id="ranges"),
    pytest.param([5, 3, 4, 4], "replayed:3-5", id="unsorted-with-duplicates"),
])  # fmt: skip
def test_progress_round_trip(offsets: list[int], text: str) -> None:
    assert encode_progress(offsets) == text
    assert decode_progress(text) == set(offsets)


@pytest.mark.parametrize("text", [None, "", "something else", "replayed:x-3", "replayed:1-"])
def test_unreadable_progress_is_no_progress(text: str | None) -> None:
    assert decode_progress(text) == set()

"""The dead-letter writer never blocks the poll loop: a full producer queue keeps letters owed, not lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tikstream.kafka.dlq import DeadLetterWriter
from tikstream.kafka.dlq_replay import read_dead_letters
from tikstream.metrics import Metrics

TP = ("src", 0)


def test_send_with_a_full_queue_returns_at_once_and_the_letters_stay_owed(nowhere: dict[str, str]) -> None:
    writer = DeadLetterWriter(nowhere, "dlq", Metrics(), producer_settings={"queue.buffering.max.messages": 1})
    started = time.monotonic()
    for offset in range(5):
        writer.send(TP, offset, b"k", b"v", error_class="invalid_json", error="bad")
        writer.poll()
    assert time.monotonic() - started < 0.5, "never blocks the poll loop"
    assert writer.pending() == {TP: 0}
    assert writer.flush(0.2) is False, "nothing acknowledged: still owed"
    writer.drop([TP])
    assert writer.pending() == {}


@pytest.mark.integration
def test_letters_that_waited_for_room_are_all_written_in_order(kafka_config: dict[str, str],
                                                                new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    writer = DeadLetterWriter(kafka_config, topic, Metrics(),
                              producer_settings={"queue.buffering.max.messages": 2, "linger.ms": 50})
    for offset in range(20):
        writer.send(TP, offset, b"k", b"v%d" % offset, error_class="invalid_json", error="bad")
    assert writer.pending() == {TP: 0}
    deadline = time.monotonic() + 30
    while writer.pending() and time.monotonic() < deadline:
        writer.poll()
        time.sleep(0.01)
    assert writer.pending() == {}
    letters = read_dead_letters(kafka_config, topic)
    assert [(int(x.headers["source_offset"]), x.value) for x in letters] == [(o, b"v%d" % o) for o in range(20)]


@pytest.mark.integration
def test_a_value_the_producer_refuses_is_written_without_it(kafka_config: dict[str, str],
                                                             new_topic: Callable[..., str]) -> None:
    topic = new_topic()
    writer = DeadLetterWriter(kafka_config, topic, Metrics(), producer_settings={"message.max.bytes": 2000})
    writer.send(TP, 3, b"k", b"x" * 5000, error_class="too_big", error="big")
    assert writer.pending() == {TP: 3} and writer.flush(30) and writer.pending() == {}
    (letter,) = read_dead_letters(kafka_config, topic)
    assert letter.value is None and letter.headers["value_omitted"].startswith("5000 bytes")

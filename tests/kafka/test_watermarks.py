"""Watermark requests retry what a broker says for a moment after a topic is created or a leader moves."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tikstream.kafka.watermarks import watermarks

TP = TopicPartition("t", 0)


class _Consumer:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, int):
            raise KafkaException(KafkaError(answer))
        return answer  # type: ignore[no-any-return]


def test_not_leader_then_leader_is_retried() -> None:
    slept: list[float] = []
    consumer = _Consumer([KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, (3, 9)])
    assert watermarks(consumer, TP, 5.0, sleep=slept.append) == (3, 9)
    assert consumer.calls == 3 and slept == [0.05, 0.1]


def test_other_errors_are_raised_at_once() -> None:
    consumer = _Consumer([KafkaError.TOPIC_AUTHORIZATION_FAILED, (0, 1)])
    with pytest.raises(KafkaException):
        watermarks(consumer, TP, 5.0, sleep=lambda s: None)
    assert consumer.calls == 1


def test_a_transient_error_that_outlasts_the_timeout_is_raised() -> None:
    consumer = _Consumer([KafkaError.NOT_LEADER_FOR_PARTITION] * 100)
    with pytest.raises(KafkaException):
        watermarks(consumer, TP, 0.3, sleep=lambda s: None)

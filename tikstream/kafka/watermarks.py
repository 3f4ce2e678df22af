"""Partition watermarks, asked again while the broker says "not yet".

Right after a topic is created, or while a partition changes leader (a broker restart), the broker answers a
watermark request with NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PART for a moment.
``watermarks()`` retries those (and librdkafka's retriable errors) with a short backoff until ``timeout``; any
other error, or one that outlasts the timeout, is raised as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, TopicPartition

TRANSIENT: Final = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,  # librdkafka's own codes start with an underscore
        KafkaError._TIMED_OUT,
    }
)


def is_transient(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and (err.code() in TRANSIENT or err.retriable())


def watermarks(
    consumer: Any,
    tp: TopicPartition,
    timeout: float,
    *,
    cached: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, int]:
    """``(low, high)`` of ``tp``, retrying transient errors for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        left = deadline - time.monotonic()
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=max(left, 0.1), cached=cached)
        except KafkaException as exc:
            if not is_transient(exc) or left <= delay:
                raise
            sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        return int(low), int(high)

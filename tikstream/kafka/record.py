"""A consumed record as plain values, for the readers and group consumers that hand records out of the package."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Record", "record_of"]


class Record(NamedTuple):
    """One consumed record; ``value`` None is a tombstone, ``timestamp_ms`` None a record without a time."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes | None], ...]


def record_of(msg: Any) -> Record:
    """A confluent-kafka message (without error) as a ``Record``."""
    ts_type, ts = msg.timestamp()
    headers = msg.headers()
    return Record(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), ts if ts_type else None,
                  tuple(headers) if headers else ())

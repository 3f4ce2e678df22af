"""Honest in-memory stand-ins for the poll loop's collaborators (a consumer, the dead-letter writer)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tikstream.offsets import OwedOffsets

Partition = tuple[str, int]


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None
    _ts: int = 1_800_000_000_000

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def error(self) -> None:
        return None


@dataclass
class FakeConsumer:
    """Partitions as queues; paused partitions return nothing, as in Kafka; resumed ones continue in order."""

    logs: dict[Partition, deque[FakeMessage]] = field(default_factory=dict)
    paused: set[Partition] = field(default_factory=set)
    commits: list[dict[Partition, int]] = field(default_factory=list)
    assignment: set[Partition] = field(default_factory=set)
    ends: dict[Partition, int] = field(default_factory=dict)  # next offset of each partition

    def add(self, topic: str, partition: int, values: Iterable[bytes | None]) -> None:
        log = self.logs.setdefault((topic, partition), deque())
        start = self.ends.get((topic, partition), 0)
        for i, v in enumerate(values):
            log.append(FakeMessage(topic, partition, start + i, v, b"k"))
        self.ends[(topic, partition)] = start + len(values)
        self.assignment.add((topic, partition))

    def consume(self, max_records: int, timeout: float) -> list[Any]:
        out: list[Any] = []
        for tp, log in self.logs.items():
            while log and tp not in self.paused and len(out) < max_records:
                out.append(log.popleft())
        return out

    def pause(self, partitions: list[Partition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: list[Partition]) -> None:
        self.paused.difference_update(partitions)

    def commit(self, offsets: Mapping[Partition, int], *, asynchronous: bool) -> bool:
        self.commits.append(dict(offsets))
        return True

    def lag(self, partition: Partition, position: int) -> int | None:
        return len(self.logs.get(partition, ()))


@dataclass
class FakeDeadLetters:
    """Acknowledges a dead letter on the poll after it was sent, like a producer's delivery report."""

    sent: list[tuple[Partition, int, str]] = field(default_factory=list)
    _owed: OwedOffsets = field(default_factory=OwedOffsets)

    def send(self, partition: Partition, offset: int, key: bytes | None, value: bytes | None, *,
             error_class: str, error: str, job: str | None = None) -> None:
        self.sent.append((partition, offset, error_class))
        self._owed.add(partition, offset)

    def poll(self) -> None:
        self._owed = OwedOffsets()  # every letter sent so far is acknowledged

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: list[Partition]) -> None:
        self._owed.drop(partitions)

    def flush(self, timeout: float) -> bool:
        self.poll()
        return True


def trigger(audience: str = "aud", event: str = "enter", user_id: str = "u", **extra: Any) -> bytes:
    return orjson.dumps({"audience": audience, "event": event, "user_id": user_id, "ts": 1_800_000_000, **extra})

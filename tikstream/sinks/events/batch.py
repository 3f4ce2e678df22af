"""The pieces the events sink is made of: items, batches, request bodies, rejection hints.

An ``Item`` is one event already serialised (orjson, once, when it was submitted) with what it owes: a
trigger-topic offset (counted in the sink's ``tikstream.offsets.OwedOffsets``, released to the poll loop's
commit rule) or a parked record (released to the parked reader). A ``Batch`` is at most ``batch_max_events``
items; its request body is the items' bytes joined inside a fixed envelope, so splitting a rejected batch
never serialises anything again.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

import orjson

from tikstream.offsets import OwedOffsets
from tikstream.records import Partition, Trigger

__all__ = ["Batch", "Item", "ParkedOrigin", "RetryQueue", "body_envelope", "join_ready", "rejected_index",
           "release_items", "split", "without"]

_INDEX: Final = re.compile(r"\b(?:data|batch)\.(\d+)\b", re.IGNORECASE)


class ParkedOrigin(Protocol):
    """Where an item re-read from the parked topic goes when it is done (``tikstream.sinks.events.parking``)."""

    def done(self, partition: int, offset: int, key: bytes | None) -> None: ...


class Item:
    """One event: its JSON bytes, the offset it owes, and the trigger (kept for the DLQ and for parking)."""

    __slots__ = ("body", "key", "offset", "origin", "partition", "trigger")

    def __init__(self, body: bytes, partition: Partition, offset: int, trigger: Trigger,
                 origin: ParkedOrigin | None = None, key: bytes | None = None) -> None:
        self.body = body
        self.partition = partition
        self.offset = offset
        self.trigger = trigger
        self.origin = origin  # None: a trigger-topic record; else the parked reader it came from
        self.key = key  # the parked record's key (parked items only)


class Batch:
    """Items sent in one request. ``attempts`` counts requests that ended in a retryable failure."""

    __slots__ = ("attempts", "items", "not_before", "opened", "solo")

    def __init__(self, items: list[Item], opened: float, *, solo: bool = False) -> None:
        self.items = items
        self.opened = opened
        self.attempts = 0
        self.not_before = 0.0
        self.solo = solo  # a part of a rejected batch: sent alone, never joined again (see ``join_ready``)

    def __len__(self) -> int:
        return len(self.items)


def join_ready(ready: deque[Batch], limit: int) -> Batch:
    """Take the first ready batch, joined with those behind it while the whole fits in one request of ``limit``
    events. Batches pile up only while TikTok answers slower than the load comes (throttling, a slow
    endpoint); fewer and fuller requests then drain them sooner. Parts of a rejected batch are never joined
    (they would be rejected together again)."""
    batch = ready.popleft()
    if batch.solo:
        return batch
    while ready and not ready[0].solo and len(batch) + len(ready[0]) <= limit:
        after = ready.popleft()
        joined = Batch(batch.items + after.items, min(batch.opened, after.opened))
        joined.attempts = max(batch.attempts, after.attempts)
        batch = joined
    return batch


def body_envelope(source: str, source_id: str, test_event_code: str | None) -> tuple[bytes, bytes]:
    """The bytes before and after the joined items of a ``/event/track/`` body (docs/tiktok-api.md §3.1):
    ``event_source``, ``event_source_id``, and ``test_event_code`` at the top level when set."""
    top: dict[str, Any] = {"event_source": source, "event_source_id": source_id}
    if test_event_code is not None:
        top["test_event_code"] = test_event_code
    head = orjson.dumps(top)
    return head[:-1] + b',"data":[', b"]}"


def build_body(envelope: tuple[bytes, bytes], items: Sequence[Item]) -> bytes:
    return b"".join((envelope[0], b",".join([i.body for i in items]), envelope[1]))


def rejected_index(message: str, size: int) -> int | None:
    """The item a rejection names (``"data.3.event_id: ..."``, or TikTok's ``"Batch.3..."``), if any."""
    found = _INDEX.search(message)
    if found is None:
        return None
    index = int(found.group(1))
    return index if 0 <= index < size else None


def split(items: list[Item], hint: int | None) -> list[list[Item]]:
    """How to resend a rejected batch: around the named item (it alone, then the rest), else in halves."""
    if hint is not None and len(items) > 1:
        parts = [[items[hint]], items[:hint], items[hint + 1:]]
    else:
        half = len(items) // 2
        parts = [items[:half], items[half:]]
    return [p for p in parts if p]


class RetryQueue:
    """Batches the client gave up on, each waiting out a backoff (doubling per attempt, jittered, capped)."""

    def __init__(self, base: float, cap: float, rand: Callable[[], float]) -> None:
        self._base, self._cap, self._rand = base, cap, rand
        self._batches: list[Batch] = []

    def add(self, batch: Batch, now: float) -> float:
        """Queue ``batch``; returns the nominal delay before it is due."""
        batch.attempts += 1
        delay = min(self._cap, self._base * 2.0 ** (batch.attempts - 1))
        batch.not_before = now + delay * (0.5 + self._rand() / 2)
        self._batches.append(batch)
        return delay

    def due(self, now: float) -> list[Batch]:
        """Take the batches whose backoff is over, oldest first."""
        due = [b for b in self._batches if b.not_before <= now]
        if due:
            self._batches = [b for b in self._batches if b.not_before > now]
        return due

    def expedite(self) -> None:
        for batch in self._batches:
            batch.not_before = 0.0

    def take_all(self) -> list[Batch]:
        batches, self._batches = self._batches, []
        return batches

    def prune(self) -> None:
        self._batches = [b for b in self._batches if b.items]

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)

    def __bool__(self) -> bool:
        return bool(self._batches)


def without(items: list[Item], partitions: set[Partition]) -> list[Item]:
    """``items`` less those owing an offset of ``partitions`` (items read back from parking owe none)."""
    return [i for i in items if i.origin is not None or i.partition not in partitions]


def release_items(owed: OwedOffsets, items: Iterable[Item]) -> list[Item]:
    """``owed.release`` the offset of each item that owes one; returns the others (read back from parking)."""
    release = owed.release
    others: list[Item] = []
    for item in items:
        if item.origin is None:
            release(item.partition, item.offset)
        else:
            others.append(item)
    return others

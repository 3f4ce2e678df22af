"""Events received by ``/event/track/``, deduplicated as TikTok does (TIKTOK_API.md §3.6).

The key is (``event_source_id``, ``event``, ``event_id``); a second copy within 48 hours of the first is a
duplicate: TikTok still answers code 0, the emulator counts it and flags it. Events without an ``event_id``
are never duplicates. Counters cover every event; for inspection the store keeps the most recent batches as
the bytes received (cheap to hold, and nothing for the garbage collector to walk), covering at least the last
``max_kept`` events, and decodes them only when asked.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final, NamedTuple

import orjson

from tikstream.emulator.clock import Clock
from tikstream.emulator.events import Checked

DEDUP_WINDOW_SECONDS: Final = 48 * 3600.0


class KeptBatch(NamedTuple):
    source: str
    source_id: str
    test_event_code: str | None
    received_at: float
    body: bytes
    size: int
    duplicates: frozenset[int]


class EventStore:
    def __init__(self, clock: Clock, max_kept: int) -> None:
        self._clock = clock
        self._max_kept = max_kept
        self._first_seen: dict[str, dict[tuple[str, str | None], float]] = {}
        self._kept: deque[KeptBatch] = deque()
        self._kept_events = 0
        self.accepted = 0
        self.duplicates = 0
        self.requests = 0

    def add(self, checked: Checked, body: bytes) -> int:
        """Record a valid batch (and the body it came in); returns how many events were duplicates."""
        now = self._clock.now()
        first_seen = self._first_seen.setdefault(checked.source_id, {})
        duplicates: list[int] = []
        for index, key in enumerate(checked.keys):
            if not key[1]:
                continue
            seen = first_seen.get(key)
            if seen is not None and now - seen < DEDUP_WINDOW_SECONDS:
                duplicates.append(index)
            else:
                first_seen[key] = now
        batch = KeptBatch(
            checked.source,
            checked.source_id,
            checked.test_event_code,
            now,
            body,
            checked.size,
            frozenset(duplicates),
        )
        self._keep(batch)
        self.requests += 1
        self.accepted += checked.size
        self.duplicates += len(duplicates)
        return len(duplicates)

    def _keep(self, batch: KeptBatch) -> None:
        self._kept.append(batch)
        self._kept_events += batch.size
        while self._kept and self._kept_events - self._kept[0].size >= self._max_kept:
            self._kept_events -= self._kept.popleft().size

    def summary(self) -> dict[str, Any]:
        return {
            "received": self.accepted,
            "unique": self.accepted - self.duplicates,
            "duplicates": self.duplicates,
            "requests": self.requests,
            "kept": self._kept_events,
        }

    def listing(self, source_id: str | None = None) -> list[dict[str, Any]]:
        """Kept events, oldest first: each item as sent plus ``source``, ``source_id`` and receipt facts."""
        listed: list[dict[str, Any]] = []
        for batch in self._kept:
            if source_id is not None and batch.source_id != source_id:
                continue
            extra = {
                "source": batch.source,
                "source_id": batch.source_id,
                "test_event_code": batch.test_event_code,
                "received_at": batch.received_at,
            }
            for index, item in enumerate(orjson.loads(batch.body)["data"]):
                listed.append({**item, **extra, "duplicate": index in batch.duplicates})
        return listed

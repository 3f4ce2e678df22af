"""Events received by ``/event/track/``, deduplicated as TikTok does (docs/tiktok-api.md §3.6).

The key is (``event_source_id``, ``event``, ``event_id``); a second copy within 48 hours of the first is a
duplicate: TikTok still answers code 0, the emulator counts it and flags it. Events without an ``event_id``
are never duplicates. Counters cover every event; for inspection the store keeps the most recent batches as
the bytes received (cheap to hold, and nothing for the garbage collector to walk), covering at least the last
``max_kept`` events, and decodes them only when asked.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final, NamedTuple, cast

import orjson

from tikstream.emulator.clock import Clock
from tikstream.emulator.events import Checked

DEDUP_WINDOW_SECONDS: Final = 48 * 3600.0
_NO_DUPLICATES: Final = frozenset[int]()


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
        self._first_seen: dict[tuple[str, str], dict[str, float]] = {}  # (source id, event) -> id -> time
        self._kept: deque[KeptBatch] = deque()
        self._kept_events = 0
        self.accepted = 0
        self.duplicates = 0
        self.requests = 0

    def add(self, checked: Checked, body: bytes) -> int:
        """Record a valid batch (and the body it came in); returns how many events were duplicates."""
        now = self._clock.now()
        duplicates = self._fresh_batch(checked, now)
        if duplicates is None:
            duplicates = self._one_by_one(checked, now)
        source, source_id, test_code = checked.source, checked.source_id, checked.test_event_code
        self._keep(KeptBatch(source, source_id, test_code, now, body, checked.size, duplicates))
        self.requests += 1
        self.accepted += checked.size
        self.duplicates += len(duplicates)
        return len(duplicates)

    def _fresh_batch(self, checked: Checked, now: float) -> frozenset[int] | None:
        """The common case in a few C-level steps: one event name, every event with an id, none seen before,
        none twice. None when the batch is not that simple."""
        ids = checked.event_ids
        if len(set(checked.events)) != 1 or None in ids or "" in ids:
            return None
        seen = self._first_seen.setdefault((checked.source_id, checked.events[0]), {})
        fresh = dict.fromkeys(cast(tuple[str, ...], ids), now)  # no None: checked above
        if len(fresh) != len(ids) or not seen.keys().isdisjoint(fresh):
            return None
        seen.update(fresh)
        return _NO_DUPLICATES

    def _one_by_one(self, checked: Checked, now: float) -> frozenset[int]:
        duplicates: list[int] = []
        for index, (event, event_id) in enumerate(zip(checked.events, checked.event_ids, strict=True)):
            if not event_id:
                continue
            seen = self._first_seen.setdefault((checked.source_id, event), {})
            first = seen.get(event_id)
            if first is not None and now - first < DEDUP_WINDOW_SECONDS:
                duplicates.append(index)
            else:
                seen[event_id] = now
        return frozenset(duplicates)

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
            "unique_by_source": self.unique_by_source(),
        }

    def unique_by_source(self) -> dict[str, int]:
        """Distinct event ids received per ``event_source_id`` (what a loss check compares with what was sent)."""
        out: dict[str, int] = {}
        for (source_id, _event), seen in self._first_seen.items():
            out[source_id] = out.get(source_id, 0) + len(seen)
        return out

    def listing(self, source_id: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
        """Kept events, oldest first: each item as sent plus ``source``, ``source_id`` and receipt facts. With
        ``since``, only the batches received after that time (the newest are found without decoding the rest)."""
        listed: list[dict[str, Any]] = []
        for batch in self._kept if since is None else self._received_after(since):
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

    def _received_after(self, since: float) -> list[KeptBatch]:
        newer: list[KeptBatch] = []
        for batch in reversed(self._kept):
            if batch.received_at <= since:
                break
            newer.append(batch)
        newer.reverse()
        return newer

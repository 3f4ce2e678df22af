"""A log of API requests (path, outcome, number of events, times) and counters by path and outcome.

Outcome: ``ok`` for code 0, the code as text for an application error (``"40002"``), ``http_<status>`` for an
HTTP error (404, 500, 504). The log keeps the last ``max_entries`` requests; counters cover all.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple


class Entry(NamedTuple):
    seq: int
    method: str
    path: str
    http_status: int
    code: int | None
    events: int
    received_at: float
    duration_ms: float


def outcome(http_status: int, code: int | None) -> str:
    if http_status != 200 or code is None:
        return f"http_{http_status}"
    return "ok" if code == 0 else str(code)


class RequestLog:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._seq = 0
        self.counters: dict[str, dict[str, int]] = {}

    def record(
        self,
        method: str,
        path: str,
        http_status: int,
        code: int | None,
        events: int,
        received_at: float,
        duration_ms: float,
    ) -> None:
        self._seq += 1
        entry = Entry(self._seq, method, path, http_status, code, events, received_at, duration_ms)
        self._entries.append(entry)
        by_outcome = self.counters.setdefault(path, {})
        key = outcome(http_status, code)
        by_outcome[key] = by_outcome.get(key, 0) + 1

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Entries with a sequence number above ``seq``, oldest first."""
        return [entry._asdict() for entry in self._entries if entry.seq > seq]

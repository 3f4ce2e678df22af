"""A log of API requests (path, outcome, number of events, times) and counters by path and outcome; and
``MappingLog``, the accepted ``/segment/mapping/`` bodies.

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


class MappingLog:
    """The accepted ``/segment/mapping/`` bodies as received, oldest first, bounded by their rows: the oldest
    go once more than ``max_rows`` rows are kept (a body always stays until a newer one pushes it out)."""

    def __init__(self, max_rows: int = 100_000) -> None:
        self._bodies: deque[tuple[int, dict[str, Any]]] = deque()
        self._rows = 0
        self._max = max_rows

    def add(self, body: dict[str, Any], rows: int) -> None:
        self._bodies.append((rows, body))
        self._rows += rows
        while self._rows > self._max and len(self._bodies) > 1:
            self._rows -= self._bodies.popleft()[0]

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self._bodies]

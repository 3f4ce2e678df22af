"""One audience job's open batch, on disk: a user's last trigger wins (docs/architecture.md §4.1).

The batch is a SQLite file under the state dir with one row per user: (user_id, action, file rows, partition
index). A new trigger of a user replaces the old row, so enter→exit→enter in one batch is one APPEND. An exit
without usable identifiers keeps the identifiers an earlier trigger of the same batch gave; one whose profile
came in an earlier batch gets it from the membership table when the batch ships (``resolve_removes``). A
backfill uses the same table of rows (``forget`` drops a user). Memory stays small
whatever the number of users (SQLite's page cache is capped at ``CACHE_KIB``).

The file is scratch, not a source of truth: its triggers stay owed to Kafka until the batch was shipped
(``audience.py``), so a crash loses nothing and the next start removes stale batch files.

Counting is cheap: ``users`` and ``size`` are upper bounds (every put counts); ``exact_users`` and
``exact_size`` ask SQLite. Thread use: one thread at a time (the poll loop while open, the shipper after
``seal``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final, Protocol

__all__ = ["APPEND", "CACHE_KIB", "REMOVE", "Batch", "RowLayout", "count_unresolved", "count_users", "drop_sealed",
           "read_rows", "resolve_removes"]

APPEND: Final = 1
REMOVE: Final = 0
CACHE_KIB: Final = 8192



class RowLayout(Protocol):
    """What one user contributes to a batch (its ``rows`` text, "" when none): ``files.FileLayout`` or
    ``segment.SegmentLayout``."""

    def rows(self, doc: dict[str, object]) -> str: ...


_UPSERT: Final = (
    "INSERT INTO batch(user_id, action, rows, tp) VALUES (?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
    "action = excluded.action, tp = excluded.tp, "
    "rows = CASE WHEN excluded.action = 0 AND excluded.rows = '' THEN batch.rows ELSE excluded.rows END"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA temp_store = FILE")
    return conn


class Batch:
    """An open batch at ``path`` (created empty; an old file there is replaced)."""

    def __init__(self, path: Path, opened_at: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.path = path
        self.opened_at = opened_at
        self._conn = _connect(path)
        self._conn.execute(
            "CREATE TABLE batch (user_id TEXT PRIMARY KEY, action INTEGER NOT NULL, rows TEXT NOT NULL, "
            "tp INTEGER NOT NULL) WITHOUT ROWID"
        )
        self._conn.execute("BEGIN")
        self.users = 0
        self.size = 0
        self.puts = 0

    def put(self, user_id: str, action: int, rows: str, tp: int) -> None:
        """Record ``user_id``'s latest trigger: ``action`` APPEND or REMOVE, its file ``rows``, and the index of
        its partition (for ``drop_partitions``)."""
        self._conn.execute(_UPSERT, (user_id, action, rows, tp))
        self.users += 1
        self.size += len(rows) + 1
        self.puts += 1

    def forget(self, user_id: str) -> None:
        """Remove ``user_id``'s row (a backfill's member who left, or who is the job's own business)."""
        self._conn.execute("DELETE FROM batch WHERE user_id = ?", (user_id,))

    def exact_users(self) -> int:
        self.users = int(self._conn.execute("SELECT count(*) FROM batch").fetchone()[0])
        return self.users

    def exact_size(self) -> int:
        """Bytes of the rows the batch would write (both actions), without headers."""
        value = self._conn.execute("SELECT coalesce(sum(length(rows) + 1), 0) FROM batch").fetchone()[0]
        self.size = int(value)
        return self.size

    def drop_partitions(self, indices: Iterable[int]) -> None:
        """Forget the users whose latest trigger came from these partitions (they will be consumed again)."""
        wanted = list(indices)
        if wanted:
            marks = ",".join("?" * len(wanted))
            self._conn.execute(f"DELETE FROM batch WHERE tp IN ({marks})", wanted)

    def seal(self) -> Path:
        """Finish the batch: commit and close; returns the file for ``read_rows``. The object is done."""
        self._conn.execute("COMMIT")
        self._conn.close()
        return self.path

    def discard(self) -> None:
        self._conn.close()
        self.path.unlink(missing_ok=True)


def read_rows(path: Path, action: int) -> Iterator[str]:
    """The non-empty rows of one action in a sealed batch, in user order."""
    conn = _connect(path)
    try:
        cursor = conn.execute("SELECT rows FROM batch WHERE action = ? AND rows != '' ORDER BY user_id", (action,))
        for (rows,) in cursor:
            yield rows
    finally:
        conn.close()


def count_users(path: Path, action: int) -> int:
    """Users of one action with identifiers in a sealed batch."""
    conn = _connect(path)
    try:
        row = conn.execute("SELECT count(*) FROM batch WHERE action = ? AND rows != ''", (action,)).fetchone()
        return int(row[0])
    finally:
        conn.close()


def drop_sealed(path: Path, indices: Iterable[int]) -> None:
    """``Batch.drop_partitions`` for a sealed batch."""
    wanted = list(indices)
    if not wanted:
        return
    conn = _connect(path)
    try:
        conn.execute(f"DELETE FROM batch WHERE tp IN ({','.join('?' * len(wanted))})", wanted)
    finally:
        conn.close()


def count_unresolved(path: Path) -> int:
    """REMOVE users of a sealed batch without identifiers: exits whose profile was never in this batch."""
    conn = _connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM batch WHERE action = 0 AND rows = ''").fetchone()[0])
    finally:
        conn.close()


def resolve_removes(path: Path, members: Iterable[tuple[str, bytes | None]], rows_of: Callable[[bytes], str]) -> int:
    """Give the unresolved REMOVE users of a sealed batch the rows of their last known profile.

    ``members`` are (user id, value) records of the audience's membership table in log order (a None value is
    an exit); for each unresolved user the last value whose ``rows_of`` is not empty wins. Returns how many
    users were resolved. The lookups and the results stay in SQLite, so memory does not grow with the batch.
    """
    conn = _connect(path)
    try:
        conn.execute("CREATE TEMP TABLE found (user_id TEXT PRIMARY KEY, rows TEXT NOT NULL) WITHOUT ROWID")
        conn.execute("BEGIN")
        wanted = "SELECT 1 FROM batch WHERE user_id = ? AND action = 0 AND rows = ''"
        for user_id, value in members:
            if value is None or conn.execute(wanted, (user_id,)).fetchone() is None:
                continue
            rows = rows_of(value)
            if rows:
                conn.execute("INSERT OR REPLACE INTO found(user_id, rows) VALUES (?, ?)", (user_id, rows))
        conn.execute("UPDATE batch SET rows = (SELECT f.rows FROM found f WHERE f.user_id = batch.user_id) "
                     "WHERE action = 0 AND rows = '' AND user_id IN (SELECT user_id FROM found)")
        resolved = int(conn.execute("SELECT count(*) FROM found").fetchone()[0])
        conn.execute("COMMIT")
        return resolved
    finally:
        conn.close()

"""Merging a job's queued audience operations into their net effect, so one wait for the audience covers them.

Every ``update`` needs the audience to be ready again (``is_valid``) after the last one (docs/tiktok-api.md
§2.4-§2.6), and the writer can only send operations of one action per call. Several instances shipping every
few seconds queue APPEND, REMOVE, APPEND, REMOVE, ... so applying them one by one costs one processing wait
each, and a backlog of *n* operations takes *n* waits. When the head of a job's queue alternates more than
once, ``plan`` reads the files' content back from Kafka and computes the net effect, row by row in queue
order (a row's last action wins): at most one REMOVE and one APPEND, sent as new files.

The net effect equals applying the operations in order, because TikTok matches each identifier (hash) on its
own: a hash ends where the last operation naming it left it. With one ``calculate_type`` a row is one hash.
With ``MULTIPLE_TYPES`` a row holds several; when one hash is in a removed row and in an appended row, the
order would matter, so nothing is merged (``plan`` returns None) and the writer applies them one by one.
Nothing is merged either across a change of ``calculate_type`` or file header, over operations without stored
content, or for backfill operations (they have their own bookkeeping).

The merged operations are not stored: their files' content lives only in this process. If TikTok says a
merged file expired (40910), the writer puts the original operations back and applies them one by one. A
crash after a merged update replays the originals from the last commit, which is harmless (same end state).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from tikstream.sinks.audience.files import MAX_FILE_BYTES
from tikstream.sinks.audience.ops import Op, UploadedFile
from tikstream.sinks.audience.state import FileRef

__all__ = ["MERGED_PREFIX", "MIN_RUNS", "Merged", "Merging", "plan", "runs"]

log = logging.getLogger(__name__)

MERGED_PREFIX: Final = "merged-"
MIN_RUNS: Final = 3
"""Merge only when the head alternates at least this often: two runs (APPEND then REMOVE) take two calls
either way."""
MAX_MERGE_FILES: Final = 200
"""At most this many files are read back for one merge (the rest waits for the next)."""
MAX_MERGE_USERS: Final = 1_000_000
"""... and the files of at most this many users (about 70 MB of hashes held in memory)."""
RETRY_AFTER: Final = 30.0
"""After stored files could not be read, or a merged file expired, operations go one by one this long."""


@dataclass(frozen=True, slots=True)
class Merged:
    """A plan: the originals it replaces (in queue order) and the net content per action, each a list of file
    contents ready to upload (header included), REMOVE first."""

    originals: tuple[Op, ...]
    files: tuple[tuple[str, tuple[bytes, ...]], ...]  # (action, contents)
    rows: dict[str, int]  # action -> rows sent


def runs(ops: Iterable[Op]) -> int:
    """How many runs of one action ``ops`` hold (A A R A: 3)."""
    count, last = 0, None
    for op in ops:
        if op.action != last:
            count, last = count + 1, op.action
    return count


def candidates(queue: Sequence[Op], backfill_prefix: str | None = None) -> list[Op]:
    """The leading operations that may be merged: from the ops topic (offset set), not merged already, not a
    backfill's, every file with stored content, one ``calculate_type``, within the file limit."""
    out: list[Op] = []
    files = users = 0
    for op in queue:
        if (op.offset < 0 or op.batch_id.startswith(MERGED_PREFIX)
                or (backfill_prefix is not None and op.batch_id.startswith(backfill_prefix))
                or any(f.ref is None for f in op.files) or op.action not in ("APPEND", "REMOVE")
                or (out and op.calculate_type != out[0].calculate_type)
                or files + len(op.files) > MAX_MERGE_FILES or (out and users + op.users > MAX_MERGE_USERS)):
            break
        out.append(op)
        files, users = files + len(op.files), users + op.users
    return out


def plan(ops: Sequence[Op], read: Callable[[list[FileRef]], dict[str, bytes]],
         max_file_bytes: int) -> Merged | None:
    """The net effect of ``ops`` (``candidates``), or None when merging would not help or is not exact.

    ``read`` returns the content of stored files by file id (``KafkaStoreError`` when one is gone)."""
    if runs(ops) < MIN_RUNS:
        return None
    refs = [f.ref for op in ops for f in op.files if f.ref is not None]
    contents = read(refs)
    header: bytes | None = None
    last: dict[bytes, str] = {}  # row -> its last action
    for op in ops:
        for f in op.files:
            assert f.ref is not None
            data = contents.get(f.ref.file_id)
            if data is None:
                return None
            lines = data.split(b"\n")
            head = lines[0] if op.calculate_type == "MULTIPLE_TYPES" else b""
            if header is None:
                header = head
            elif head != header:  # another layout (a job change): not merged with the earlier files
                return None
            for row in lines[1:] if head else lines:
                row = row.strip()
                if row:
                    last[row] = op.action
    by_action: dict[str, list[bytes]] = {"REMOVE": [], "APPEND": []}
    for row, action in last.items():
        by_action[action].append(row)
    if header and _shared_hash(by_action["REMOVE"], by_action["APPEND"]):
        return None
    prefix = header + b"\n" if header else b""
    files = tuple((action, _split(rows, prefix, max_file_bytes)) for action, rows in by_action.items() if rows)
    return Merged(tuple(ops), files, {action: len(rows) for action, rows in by_action.items()})


def _shared_hash(removed: list[bytes], appended: list[bytes]) -> bool:
    """True when a hash is in a removed row and in an appended row (multiple types only)."""
    gone = {h for row in removed for h in row.split(b",") if h}
    return any(h in gone for row in appended for h in row.split(b",") if h)


def _split(rows: list[bytes], prefix: bytes, max_bytes: int) -> tuple[bytes, ...]:
    out: list[bytes] = []
    current: list[bytes] = []
    size = len(prefix)
    for row in rows:
        if current and size + len(row) + 1 > max_bytes:
            out.append(prefix + b"\n".join(current) + b"\n")
            current, size = [], len(prefix)
        current.append(row)
        size += len(row) + 1
    if current:
        out.append(prefix + b"\n".join(current) + b"\n")
    return tuple(out)


def merged_batch_id() -> str:
    return MERGED_PREFIX + uuid.uuid4().hex[:12]


class Merging:
    """One job writer's merged operations (owned by the writer's thread): which originals each stands for."""

    def __init__(self, job_id: str, read: Callable[[list[FileRef]], dict[str, bytes]], backfill_prefix: str,
                 wall: Callable[[], float] = time.time) -> None:
        self._job_id, self._read, self._backfill_prefix, self._wall = job_id, read, backfill_prefix, wall
        self._originals: dict[str, tuple[Op, ...]] = {}  # merged batch id -> the originals it stands for
        self._after = 0.0

    def merge(self, queue: deque[Op], upload: Callable[[str, bytes, str], str], now: float) -> list[Op]:
        """Replace the head of ``queue`` by its net effect when it alternates often enough (``plan``); the new
        files go through ``upload(calculate_type, content, filename) -> file_path``. Returns originals that are
        done without a call (the net effect had no row). Reading stored files may fail (content gone): then
        nothing is merged for ``RETRY_AFTER``. Upload errors propagate (the writer retries)."""
        if now < self._after:
            return []
        ops = candidates(queue, self._backfill_prefix)
        if runs(ops) < MIN_RUNS:
            return []
        try:
            merged = plan(ops, self._read, MAX_FILE_BYTES)
        except Exception as exc:
            log.warning("stored audience files unreadable; operations applied one by one",
                        extra={"job": self._job_id, "error": str(exc)})
            self.pause(now)
            return []
        if merged is None:
            return []
        ctype = ops[0].calculate_type
        suffix = ".csv" if ctype == "MULTIPLE_TYPES" else ".txt"
        new: list[Op] = []
        for action, contents in merged.files:
            batch = merged_batch_id()
            names = [f"{batch}-{n}{suffix}" for n in range(len(contents))]
            files = tuple(UploadedFile(upload(ctype, data, name), name, None) for name, data in zip(names, contents,
                                                                                                   strict=True))
            new.append(Op(self._job_id, batch, action, ctype, ops[0].advertiser_id, files, merged.rows[action],
                          self._wall()))
        for _ in merged.originals:
            queue.popleft()
        if not new:
            return list(merged.originals)
        self._originals[new[-1].batch_id] = merged.originals
        queue.extendleft(reversed(new))
        log.info("audience operations merged", extra={"job": self._job_id, "operations": len(merged.originals),
                                                      "merged": [op.action for op in new]})
        return []

    def unmerge(self, queue: deque[Op]) -> None:
        """Put the originals of every merged operation back at the head of ``queue`` (in their order)."""
        originals: list[Op] = []
        for op in [op for op in queue if op.batch_id.startswith(MERGED_PREFIX)]:
            queue.remove(op)
            originals.extend(self._originals.pop(op.batch_id, ()))
        queue.extendleft(reversed(originals))

    def expand(self, ops: list[Op], queue: deque[Op]) -> list[Op]:
        """Applied ``ops`` with merged ones replaced by the originals they stood for; a merged operation counts
        once its last part left ``queue`` (the writer splits one with too many files)."""
        out: list[Op] = []
        for op in ops:
            if not op.batch_id.startswith(MERGED_PREFIX):
                out.append(op)
            elif not any(q.batch_id == op.batch_id for q in queue):
                out.extend(self._originals.pop(op.batch_id, ()))
        return out

    def pause(self, now: float) -> None:
        self._after = now + RETRY_AFTER

    def clear(self) -> None:
        self._originals.clear()

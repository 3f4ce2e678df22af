"""The single writer of one job's audience: applies the job's pending operations to TikTok, in order.

Only the instance that owns the job's ops partition (``WriterService``) runs a job's writer, so one audience is
created per job: before ``create`` the intended name is stored in ``{group_id}.audience-state``; a writer that
finds a name without an id (a crash between the two) looks the name up with ``list_audiences`` before creating.

``step(now)`` does at most one TikTok call sequence and never sleeps; it returns when it wants to run again.
Rules (docs/architecture.md §4.1, docs/tiktok-api.md §2.4-§2.6):

- no audience yet: leading REMOVEs are done (nobody to remove); the leading APPENDs (≤ 50 file paths)
  create the audience;
- otherwise, before each update, ``get`` must report the audience valid (polled every 0.5 s at first, then
  less often, at least every ``READY_POLL_CAP`` seconds); then the leading operations of one action (≤ 50 file
  paths) go in one ``update``;
- with ``read_files``, a head of the queue that alternates between APPEND and REMOVE more than once is first
  merged into its net effect (``merge``): one processing wait for the whole backlog instead of one each;
- ``AudienceBusyError``: poll again later; ``AudienceTooSmallError``: state ``failing``, retried after
  ``too_small_retry`` seconds, never dropped; 40910 (expired ``file_path``): the files are uploaded again from
  their content in Kafka and the call is repeated; other errors: ``failing`` and retried with backoff.

Operations are applied at least once; applying a suffix again after a crash gives the same members (APPEND and
REMOVE of fixed sets are idempotent in sequence).

With ``existing_users`` the writer has a ``Backfill`` (``backfill``): until it is done, the job's own
operations wait, and the backfill's APPENDs go first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from tikstream.errors import ConfigError
from tikstream.sinks.audience.backfill import BATCH_PREFIX, Backfill
from tikstream.sinks.audience.merge import MERGED_PREFIX, Merging
from tikstream.sinks.audience.ops import AudienceRecord, Op, UploadedFile
from tikstream.sinks.audience.single_writer import (
    GATED_RETRY,
    Backoff,
    SingleWriter,
    WriterStore,
    delivery_changed,
)
from tikstream.sinks.audience.state import FileRef
from tikstream.tiktok.errors import (
    AudienceBusyError,
    AudienceTooSmallError,
    ReauthorizeError,
    TikTokError,
)

log = logging.getLogger(__name__)

__all__ = ["MAX_PATHS_PER_CALL", "AudienceApi", "JobWriter"]

MAX_PATHS_PER_CALL: Final = 50  # TikTok recommends fewer than 50 file paths per request (§2.1)
FILE_EXPIRED: Final = 40910
READY_POLL_CAP: Final = 5.0
"""Longest wait between two ``get`` calls while the audience processes: TikTok's processing takes minutes
and the emulator's seconds; a poll every few seconds keeps the wait short without flooding ``get``."""


class AudienceApi(Protocol):
    """TikTok calls for one job (token and advertiser bound). Methods block; they raise ``TikTokError``s."""

    def create(self, name: str, calculate_type: str, file_paths: Sequence[str]) -> str: ...
    def update(self, audience_id: str, action: str, file_paths: Sequence[str]) -> None: ...
    def is_valid(self, audience_id: str) -> bool: ...
    def find_by_name(self, name: str) -> str | None: ...
    def upload(self, calculate_type: str, data: bytes, filename: str) -> str: ...


class JobWriter(SingleWriter):
    """Applies one job's operations (``SingleWriter``: not thread-safe except ``status``)."""

    def __init__(self, job_id: str, name_prefix: str, audience: str, api: Callable[[], AudienceApi],
                 store: WriterStore, on_applied: Callable[[list[Op]], None], *,
                 wall: Callable[[], float] = time.time, too_small_retry: float = 300.0,
                 on_state: Callable[[str], None] | None = None, backfill: Backfill | None = None,
                 read_files: Callable[[list[FileRef]], dict[str, bytes]] | None = None) -> None:
        super().__init__(job_id, name_prefix, audience, store, on_applied, wall=wall, on_state=on_state,
                         backfill=backfill)
        self._api, self._too_small_retry = api, too_small_retry
        self._valid_seen = False
        self._poll = Backoff(0.5, READY_POLL_CAP, factor=1.5)  # waiting for the audience to be ready
        self._merging = None if read_files is None else Merging(job_id, read_files, BATCH_PREFIX, wall)

    # -- feeding --------------------------------------------------------------------------------------------
    def load(self, record: AudienceRecord | None, backfill: bytes | None = None) -> None:
        super().load(record, backfill)
        self._valid_seen = False

    def forget(self) -> None:
        super().forget()
        if self._merging is not None:
            self._merging.clear()

    @property
    def pending_files(self) -> int:
        return sum(len(op.files) for op in self.queue)

    # -- work -----------------------------------------------------------------------------------------------
    def step(self, now: float) -> float | None:
        """Do what is due; returns the time of the next attempt, or None when there is nothing to do."""
        if self._held(now):
            return now + GATED_RETRY
        if not self.queue:
            return self._settle(now)
        if now < self._next_at:
            return self._next_at
        try:
            self._work(now)
        except ReauthorizeError as exc:
            self._fail(now, exc, self._backoff.cap)
        except AudienceBusyError as exc:
            self._valid_seen = False
            self._set_state("processing")
            self.last_error = str(exc)
            self._next_at = now + self._poll.next()
        except _MergedExpired:  # the originals are back in the queue: go on with them, one by one for a while
            self._next_at = now
            if self._merging is not None:
                self._merging.pause(now)
        except AudienceTooSmallError as exc:
            self._fail(now, exc, self._too_small_retry)
        except TikTokError as exc:
            self._fail(now, exc, self._backoff.next())
        except Exception as exc:  # Kafka or file trouble: keep the operations, try later
            log.exception("audience writer step failed", extra={"job": self.job_id})
            self._fail(now, exc, self._backoff.next())
        return self._next_at if self.queue or self.state == "processing" else None

    def _settle(self, now: float) -> float | None:
        """Nothing queued: watch a processing audience until it is ready, for ``status`` and metrics."""
        if self.state != "processing" or self.record is None or self.record.audience_id is None:
            return None
        if now < self._next_at:
            return self._next_at
        try:
            ready = self._api().is_valid(self.record.audience_id)
        except TikTokError:
            ready = False
        if ready:
            self._valid_seen = True
            self._poll.reset()
            self._set_state("ready")
            return None
        self._next_at = now + self._poll.next()
        return self._next_at

    def _work(self, now: float) -> None:
        if self.queue[0].action not in ("APPEND", "REMOVE"):  # a streaming job's request: kept, never skipped
            self._fail(now, ConfigError(delivery_changed(self.job_id, self.queue[0].action)), self._backoff.cap)
            return
        if self.record is None or self.record.audience_id is None:
            self._merge(now)
            self._create(now)
            return
        if not self._valid_seen:
            if not self._api().is_valid(self.record.audience_id):
                self._set_state("processing")
                self._next_at = now + self._poll.next()
                return
            self._valid_seen = True
            self._poll.reset()
            self._set_state("ready")
        self._merge(now)
        ops = self._leading(self.queue[0].action)
        audience_id = self.record.audience_id
        self._with_fresh_files(ops, lambda paths: self._api().update(audience_id, ops[0].action, paths))
        self._valid_seen = False
        self._applied(ops, now)

    def _create(self, now: float) -> None:
        while self.queue and self.queue[0].action != "APPEND":  # nobody to remove from an audience not made yet
            self._applied([self.queue[0]], now, count=False)
        if not self.queue:
            return
        self._set_state("creating")
        ops = self._leading("APPEND")
        record = self.record
        if record is not None:  # an earlier owner chose a name and may have created it
            found = self._api().find_by_name(record.name)
            if found is not None:
                self.record = AudienceRecord(record.name, found, record.calculate_type)
                self._store.put_audience(self.job_id, self.record)
                self._next_at = 0.0
                return
        else:
            record = AudienceRecord(self._new_name(), None, ops[0].calculate_type)
            self._store.put_audience(self.job_id, record)  # the intent, before TikTok hears of it
            self.record = record
        name = record.name
        audience_id = self._with_fresh_files(
            ops, lambda paths: self._api().create(name, ops[0].calculate_type, paths))
        self.record = AudienceRecord(name, audience_id, ops[0].calculate_type)
        self._store.put_audience(self.job_id, self.record)
        log.info("audience created", extra={"job": self.job_id, "audience_id": audience_id})
        self._valid_seen = False
        self._applied(ops, now)

    def _leading(self, action: str) -> list[Op]:
        """The first operations of ``action`` in the queue, with at most ``MAX_PATHS_PER_CALL`` files in all
        (at least one operation, split if it alone has more files)."""
        ops: list[Op] = []
        paths = 0
        for op in self.queue:
            if op.action != action or (ops and paths + len(op.files) > MAX_PATHS_PER_CALL):
                break
            ops.append(op)
            paths += len(op.files)
        if paths > MAX_PATHS_PER_CALL:  # one operation with more files than a call takes: split it in place
            head = ops[0]
            first, rest = head.files[:MAX_PATHS_PER_CALL], head.files[MAX_PATHS_PER_CALL:]
            self.queue[0] = head.with_files(rest)
            self.queue.appendleft(head.with_files(first))
            return [self.queue[0]]
        return ops

    def _merge(self, now: float) -> None:
        if self._merging is not None:
            done = self._merging.merge(self.queue, lambda *a: self._api().upload(*a), now)
            if done:  # nothing left to send of them (no rows)
                self._on_applied(done)

    def _with_fresh_files(self, ops: list[Op], call: Callable[[list[str]], Any]) -> Any:
        """Run ``call`` with the operations' file paths; when TikTok says a path expired (40910), upload the
        files again from Kafka once and repeat (a merged operation's files are not stored: its originals are
        put back instead)."""
        try:
            return call([f.file_path for op in ops for f in op.files])
        except TikTokError as exc:
            if exc.code != FILE_EXPIRED:
                raise
        if any(op.batch_id.startswith(MERGED_PREFIX) for op in ops):
            log.info("merged file paths expired; applying the original operations", extra={"job": self.job_id})
            if self._merging is not None:
                self._merging.unmerge(self.queue)
            raise _MergedExpired
        log.info("file paths expired; uploading again", extra={"job": self.job_id})
        for i, op in enumerate(list(ops)):
            fresh = tuple(self._reupload(op.calculate_type, f) for f in op.files)
            ops[i] = op.with_files(fresh)
            self.queue[self.queue.index(op)] = ops[i]
        return call([f.file_path for op in ops for f in op.files])

    def _reupload(self, calculate_type: str, file: UploadedFile) -> UploadedFile:
        if file.ref is None:
            raise RuntimeError(f"file {file.name} expired and its content was not kept")
        data = self._store.read_file(file.ref)
        return UploadedFile(self._api().upload(calculate_type, data, file.name), file.name, file.ref)

    def _applied(self, ops: list[Op], now: float, *, count: bool = True) -> None:
        for op in ops:
            self.queue.remove(op)
            if count and op.action == "APPEND":
                self.appended += op.users
            elif count:
                self.removed += op.users
        self.last_error = None
        self._backoff.reset()
        self._poll.reset()
        self._next_at = now + self._poll.next()  # the audience processes what it just got
        self.last_success = self._wall()
        self._set_state("processing")
        self._done(ops if self._merging is None else self._merging.expand(ops, self.queue))


class _MergedExpired(Exception):
    """A merged operation's file expired; its originals are back in the queue."""

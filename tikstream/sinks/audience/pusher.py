"""The single writer of one streaming job (``delivery: streaming``): its segment audience and its requests.

The twin of ``writer.JobWriter`` for ``/segment/audience/`` and ``/segment/mapping/`` (docs/tiktok-api.md §2.9),
run by the same ``WriterService``: only the instance that owns the job's ops partition runs it, so one job's
requests leave one process, one at a time, in the order of the ops topic.

- The audience is created once, on the first ``add``: the intended name (``segment_audience_name``, the form
  TikTok keeps) is stored in ``{group_id}.audience-state`` before ``create``; a writer that finds a name
  without an id (a crash between the two) looks the name up with ``list_audiences`` first. Leading
  ``delete``\\ s before that are done: nobody to delete from an audience not made yet.
- Each operation is one request, sent as stored (``segment.mapping_body``); it leaves the queue, and its
  offset may be committed, only once TikTok accepted it. Failures keep it at the head: ``failing``, retried
  with backoff (an authorization error after ``Backoff.cap``). A replay re-sends adds and deletes of the same
  rows in the same order: the same members.
- A job whose stored audience came from ``delivery: file`` is not switched over: it stays ``failing`` with a
  message saying so (a new job id gets a segment audience).

With ``existing_users`` the writer has a ``Backfill``: its ``add`` operations go first, as in ``JobWriter``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import orjson

from tikstream.sinks.audience.backfill import Backfill
from tikstream.sinks.audience.ops import AudienceRecord, Op
from tikstream.sinks.audience.segment import SEGMENT, mapping_body, segment_audience_name
from tikstream.sinks.audience.single_writer import GATED_RETRY, SingleWriter, WriterStore, delivery_changed
from tikstream.tiktok.errors import ReauthorizeError, TikTokError

log = logging.getLogger(__name__)

__all__ = ["MAX_PER_STEP", "SegmentApi", "SegmentStore", "SegmentWriter"]

MAX_PER_STEP: Final = 20


class SegmentStore(WriterStore, Protocol):
    """``WriterStore`` plus the per-job record of accepted requests the job's instances wait for."""

    def mark_applied(self, job_id: str, offset: int) -> None: ...
    def close(self) -> None: ...


class SegmentApi(Protocol):
    """TikTok calls for one job (token and advertiser bound). Methods block; they raise ``TikTokError``s."""

    def create_segment(self, name: str) -> str: ...
    def find_by_name(self, name: str) -> str | None: ...
    def mapping(self, body: dict[str, Any]) -> None: ...


class SegmentWriter(SingleWriter):
    """Sends one streaming job's operations (``SingleWriter``: not thread-safe except ``status``)."""

    FAILED = "streaming audience request failed; will retry"

    def __init__(self, job_id: str, name_prefix: str, audience: str, api: Callable[[], SegmentApi],
                 store: SegmentStore, on_applied: Callable[[list[Op]], None], *,
                 wall: Callable[[], float] = time.time, on_state: Callable[[str], None] | None = None,
                 backfill: Backfill | None = None) -> None:
        super().__init__(job_id, name_prefix, audience, store, on_applied, wall=wall, on_state=on_state,
                         backfill=backfill)
        self._api, self._segments = api, store
        self.requests = 0

    def close(self) -> None:
        super().close()
        self._segments.close()

    def step(self, now: float) -> float | None:
        """Send what is due; returns the time of the next attempt, or None when there is nothing to do."""
        if self._held(now):
            return now + GATED_RETRY
        if not self.queue:
            return None
        if now < self._next_at:
            return self._next_at
        try:
            for _ in range(MAX_PER_STEP):  # the writer thread polls between steps: send a run at once
                self._work(now)
                if not self.queue or self.state == "failing":
                    break
        except ReauthorizeError as exc:
            self._fail(now, str(exc), self._backoff.cap)
        except TikTokError as exc:
            self._fail(now, str(exc), self._backoff.next())
        except Exception as exc:  # Kafka trouble: keep the operation, try later
            log.exception("streaming audience step failed", extra={"job": self.job_id})
            self._fail(now, str(exc), self._backoff.next())
        return self._next_at if self.queue else None

    def _work(self, now: float) -> None:
        op = self.queue[0]
        if op.action not in ("add", "delete"):  # a file operation: kept, never skipped
            self._fail(now, delivery_changed(self.job_id, op.action), self._backoff.cap)
            return
        record = self.record
        if (record is None or record.audience_id is None) and op.action != "add":
            self._applied(op, now, count=False)  # nobody to delete from an audience not made yet
            return
        if record is not None and record.audience_id is not None and record.calculate_type != SEGMENT:
            self._fail(now, f"audience {record.audience_id} of job {self.job_id} is a customer-file audience "
                       "(delivery 'file'); a streaming job needs a new job id", self._backoff.cap)
            return
        audience_id = self._audience_id()
        payload = op.segment if op.segment is not None else self._stored_rows(op)
        self._api().mapping(mapping_body(op.advertiser_id, op.action, payload["id_schema"], payload["rows"],
                                         audience_id))
        self._applied(op, now)

    def _stored_rows(self, op: Op) -> dict[str, Any]:
        ref = op.files[0].ref if op.files else None
        if ref is None:
            raise RuntimeError(f"operation {op.batch_id} has neither rows nor stored rows")
        doc = orjson.loads(self._store.read_file(ref))
        if not isinstance(doc, dict):
            raise RuntimeError(f"operation {op.batch_id}: stored rows are not an object")
        return doc

    def _audience_id(self) -> str:
        record = self.record
        if record is not None and record.audience_id is not None:
            return record.audience_id
        self._set_state("creating")
        if record is None:
            record = AudienceRecord(segment_audience_name(self._new_name()), None, SEGMENT)
            self._store.put_audience(self.job_id, record)  # the intent, before TikTok hears of it
            self.record = record
            audience_id = None
        else:  # an earlier owner chose the name and may have created it
            audience_id = self._api().find_by_name(record.name)
        if audience_id is None:
            audience_id = self._api().create_segment(record.name)
            log.info("segment audience created", extra={"job": self.job_id, "audience_id": audience_id})
        self.record = AudienceRecord(record.name, audience_id, SEGMENT)
        self._store.put_audience(self.job_id, self.record)
        return audience_id

    def _applied(self, op: Op, now: float, *, count: bool = True) -> None:
        if op.offset >= 0:  # a backfill operation has none: nobody waits for it
            self._segments.mark_applied(self.job_id, op.offset)  # raises: the op stays and is sent again
        self.queue.popleft()
        if count:
            self.requests += 1
            if op.action == "add":
                self.appended += op.users
            else:
                self.removed += op.users
            self.last_success = self._wall()
        self.last_error = None
        self._backoff.reset()
        self._next_at = now
        self._set_state("ready")
        self._done([op])

    def status(self) -> dict[str, Any]:
        status = super().status()
        status.update(pending_files=None, pending_requests=len(self.queue), requests=self.requests)
        return status

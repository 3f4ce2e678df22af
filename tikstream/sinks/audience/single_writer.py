"""What a job's two kinds of single writer share (docs/architecture.md §4.1): ``writer.JobWriter`` (a
customer-file audience) and ``pusher.SegmentWriter`` (a streaming segment audience).

``SingleWriter`` holds the job's queue of operations, its audience record as the state topic knows it, the
writer's state (``STATES``) with its report (``status``), and the hand-off with the job's ``Backfill``:
``_held`` is True while the backfill keeps the queue waiting (its own operations are then put in front of the
queue), ``_done`` tells the backfill which operations were applied and then hands them to ``on_applied``.
The TikTok calls are each subclass's own.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tikstream.sinks.audience.backfill import Backfill
from tikstream.sinks.audience.ops import AudienceRecord, Op
from tikstream.sinks.audience.state import FileRef

__all__ = ["GATED_RETRY", "STATES", "Backoff", "SingleWriter", "WriterStore", "delivery_changed"]

STATES: Final = ("creating", "processing", "ready", "failing")
GATED_RETRY: Final = 0.5
"""Seconds between two looks at a backfill that holds the queue."""


class WriterStore(Protocol):
    """Durable state in Kafka. Methods block until acknowledged."""

    def put_audience(self, job_id: str, record: AudienceRecord) -> None: ...
    def read_file(self, ref: FileRef) -> bytes: ...


def delivery_changed(job_id: str, action: str) -> str:
    """What a writer says when handed an operation of the other delivery (``delivery`` changed under one id)."""
    return (f"job {job_id} has a {action!r} operation of the other delivery: its delivery changed under the same "
            "id, which is not supported; apply the new delivery under a new job id")


@dataclass(slots=True)
class Backoff:
    first: float = 0.5
    cap: float = 30.0
    current: float = 0.0
    factor: float = 2.0

    def next(self) -> float:
        self.current = self.first if self.current == 0 else min(self.cap, self.current * self.factor)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class SingleWriter:
    """The shared part of a job's writer. Not thread-safe: one thread calls ``enqueue``/``step``; ``status``
    may be read from another thread (it copies simple fields)."""

    FAILED: str = "audience operation failed; will retry"
    """The warning logged by ``_fail``."""

    def __init__(self, job_id: str, name_prefix: str, audience: str, store: WriterStore,
                 on_applied: Callable[[list[Op]], None], *, wall: Callable[[], float] = time.time,
                 on_state: Callable[[str], None] | None = None, backfill: Backfill | None = None) -> None:
        self.job_id, self._prefix, self._audience = job_id, name_prefix, audience
        self._store, self._on_applied = store, on_applied
        self._wall, self._on_state = wall, on_state
        self.queue: deque[Op] = deque()
        self.record: AudienceRecord | None = None
        self.state = "ready"
        self.last_error: str | None = None
        self.appended = self.removed = 0
        self.last_success: float | None = None
        self._next_at = 0.0
        self._backoff = Backoff()  # after a failure
        self.backfill = backfill

    # -- feeding --------------------------------------------------------------------------------------------
    def load(self, record: AudienceRecord | None, backfill: bytes | None = None) -> None:
        """The job's audience and backfill as the state topic knows them (on taking the job's partition)."""
        self.record = record
        if self.backfill is not None:
            self.backfill.load(backfill)

    def enqueue(self, op: Op) -> None:
        self.queue.append(op)

    def forget(self) -> None:
        """This instance no longer owns the job: drop queued operations (the new owner reads them again)."""
        self.queue.clear()
        self._next_at = 0.0
        if self.backfill is not None:
            self.backfill.forget()

    def close(self) -> None:
        """The job is gone from this process: stop a running backfill."""
        if self.backfill is not None:
            self.backfill.close()

    @property
    def pending_files(self) -> int:
        """What waits (the name the writer service and ``audience_pending_files`` use): the operations here,
        their files in ``JobWriter``."""
        return len(self.queue)

    # -- for the subclasses ---------------------------------------------------------------------------------
    def _held(self, now: float) -> bool:
        """Whether the backfill keeps the queue waiting (``Backfill.gate``: it may put its operations in front)."""
        return self.backfill is not None and not self.backfill.gate(now, self.queue)

    def _done(self, ops: list[Op]) -> None:
        """Operations applied (and off the queue): the backfill counts its own, then ``on_applied``."""
        if self.backfill is not None:
            self.backfill.applied(ops, self.queue)
        if ops:
            self._on_applied(ops)

    def _new_name(self) -> str:
        """The audience name a first creation intends: the prefix, the audience and the time now (UTC)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self._wall()))
        return f"{self._prefix} {self._audience} {stamp}"

    def _fail(self, now: float, error: Exception | str, delay: float) -> None:
        self._set_state("failing")
        self.last_error = str(error)
        self._next_at = now + delay
        logging.getLogger(type(self).__module__).warning(self.FAILED, extra={"job": self.job_id,
                                                                            "error": self.last_error})

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                self._on_state(state)

    def status(self) -> dict[str, Any]:
        record = self.record
        status: dict[str, Any] = {"audience_id": None if record is None else record.audience_id,
                                  "audience_name": None if record is None else record.name,
                                  "pending_files": self.pending_files, "state": self.state,
                                  "last_error": self.last_error, "appended": self.appended, "removed": self.removed}
        if self.backfill is not None:
            status["backfill"] = self.backfill.status()
        return status

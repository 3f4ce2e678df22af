"""``existing_users``: a job's backfill from the audience membership table (docs/architecture.md §4.1).

Who is sent. The membership table (``tikstream.sinks.audience.members_topic``) holds each user's latest trigger, stamped
with the trigger's Kafka timestamp. A job handles the triggers produced from its ``created_at`` on; the
backfill sends the users whose latest record is an *enter produced before* ``created_at``. A user with a
later record is left to the job's own triggers (which the sink turns into operations), so every user is
decided exactly once, whatever the order in which things run, and doing the backfill again gives the same
set (it is a function of the records produced before ``created_at`` only).

When. The job's single writer (``writer.JobWriter`` or ``pusher.SegmentWriter``) runs the backfill
when it takes the job and the state topic has no finished backfill for this ``created_at``. A worker thread
looks up, in every trigger partition, the offset of the first record stamped at or after ``created_at`` (the
end offset when there is none yet) and waits until the trigger consumer group has committed up to it
(committed means recorded, so no trigger before ``created_at`` is still on its way into the table). It waits
for nothing the job handles itself: every record below that offset is stamped earlier, so the job does not
route it, while a streaming job's own triggers are committed only once its writer sent them, which the writer
does only after the backfill (waiting for those would deadlock). Other jobs' triggers below it may be waited
for: their writers wait at most for their own backfills, which wait only for triggers stamped before their
own, earlier ``created_at``, so the waits form no cycle. It then scans the audience's partition up to
its end offset at that moment into an on-disk ``Batch`` (bounded memory), and ships it with the sink's
``Shipper``: the same files, uploads and stored contents, but the APPEND operations are handed back instead of
going to ``{group_id}.audience-ops``.

Order. The writer puts the backfill's operations *in front of* its queue and applies nothing of the job's
own before them: a trigger the job handled is newer than anything the backfill sends, so it must land later.
(The scan may or may not see such a trigger already recorded; either way the job's own operation decides.)

Durability. ``backfill:{job}`` in ``{group_id}.audience-state`` holds ``BackfillState``: the operations still
to apply once they were built, then ``done``. A crash while scanning or uploading starts over; a crash while
applying resumes from the operations left (applying one again is harmless).

Not guaranteed: members the table never saw (who entered before this version of tikstream recorded
membership, or whose trigger reached the topic after the backfill started with a timestamp before
``created_at``) are not sent, nor is a member whose latest trigger, stamped before ``created_at``, sits in its
partition after a trigger stamped at or after it (producers' clocks out of step) and was not recorded yet
when the scan started.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from tikstream.sinks.audience.batch import APPEND, Batch, RowLayout
from tikstream.sinks.audience.members_topic import Member
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.ship import Sealed
from tikstream.supervise import Policy, Supervisor

log = logging.getLogger(__name__)

__all__ = ["BATCH_PREFIX", "Backfill", "BackfillBuild", "BackfillState", "Built", "MembershipSource", "Progress",
           "Ship", "Start", "collect_members", "run_in_thread", "state_key"]

BATCH_PREFIX: Final = "backfill-"
_NOT_STORED: Final = "backfill state not stored"
PROGRESS_EVERY: Final = 1000


def state_key(job_id: str) -> str:
    """The backfill's key in the state topic (job ids have no colon, so it never meets a job's own key)."""
    return f"backfill:{job_id}"


class MembershipSource(Protocol):
    """The membership table as the backfill reads it (``MembershipReader``). Methods block; they raise
    ``MembershipError`` when Kafka does not answer."""

    def trigger_offsets(self, created_at: float) -> Mapping[tuple[str, int], int]:
        """Per trigger partition, where its records stamped before ``created_at`` end (the first offset
        stamped at or after it, or the end offset now when there is none)."""

    def recorded(self, ends: Mapping[tuple[str, int], int]) -> bool:
        """Whether every trigger below ``ends`` is in the table."""

    def scan(self, audience: str, stop: threading.Event | None = None) -> Iterator[Member]:
        """The audience's records in log order, up to the end offset when the scan starts."""


@dataclass(frozen=True, slots=True)
class BackfillState:
    """What the state topic knows of a job's backfill for the job created at ``created_at``."""

    created_at: float
    done: bool = False
    scanned: int = 0
    users: int = 0
    sent: int = 0
    ops: tuple[Op, ...] = ()

    def to_bytes(self) -> bytes:
        return orjson.dumps({"v": 1, "created_at": self.created_at, "done": self.done, "scanned": self.scanned,
                             "users": self.users, "sent": self.sent,
                             "ops": [orjson.Fragment(op.to_bytes()) for op in self.ops]})

    @classmethod
    def from_bytes(cls, value: bytes) -> BackfillState:
        """Raises ``ValueError``, ``KeyError`` or ``TypeError`` for a value that is not a backfill state."""
        doc = orjson.loads(value)
        return cls(float(doc["created_at"]), bool(doc["done"]), int(doc["scanned"]), int(doc["users"]),
                   int(doc["sent"]), tuple(Op.from_bytes(orjson.dumps(o)) for o in doc["ops"]))


def collect_members(members: Iterable[Member], created_at: float, layout: RowLayout, batch: Batch,
                    on_scanned: Callable[[int], None]) -> int:
    """Put into ``batch`` (as APPEND rows) the users whose latest record is an enter produced before
    ``created_at``; returns the records scanned. ``on_scanned`` gets progress in steps of ``PROGRESS_EVERY``."""
    limit_ms = created_at * 1000.0
    scanned = 0
    for member in members:
        scanned += 1
        rows = _rows(layout, member.value) if member.value is not None and member.timestamp_ms < limit_ms else None
        if rows is None:
            batch.forget(member.user_id)
        else:
            batch.put(member.user_id, APPEND, rows, 0)
        if scanned % PROGRESS_EVERY == 0:
            on_scanned(PROGRESS_EVERY)
    on_scanned(scanned % PROGRESS_EVERY)
    return scanned


def _rows(layout: RowLayout, value: bytes) -> str | None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return layout.rows(doc) if isinstance(doc, dict) else None


@dataclass(frozen=True, slots=True)
class Built:
    ops: tuple[Op, ...]
    scanned: int
    users: int


@dataclass(slots=True)
class Progress:
    """Shared between the worker (writes) and ``status`` (reads simple fields)."""

    phase: str = "waiting"
    scanned: int = 0


Ship = Callable[[Sealed, Callable[[Op], None], threading.Event], int]
"""``ship(sealed, collect, stop)``: the sink's shipping of a sealed batch, its operations
handed to ``collect`` instead of the ops topic; returns the users shipped; raises ``InterruptedError`` on stop."""


@dataclass
class BackfillBuild:
    """The worker-thread part: wait, scan, ship. Calling it blocks; it raises ``InterruptedError`` once
    ``stop`` is set, or what the scan or shipping raised."""

    job_id: str
    audience: str
    created_at: float
    layout: RowLayout
    source: MembershipSource
    ship: Ship
    workdir: Path
    on_scanned: Callable[[int], None] = lambda n: None
    wait_seconds: float = 2.0
    progress: Progress = field(default_factory=Progress)
    wall: Callable[[], float] = time.time

    def __call__(self, stop: threading.Event) -> Built:
        self.progress.phase = "waiting"
        while self.wall() < self.created_at:  # a job created ahead of time: its "before" is not over yet
            if stop.wait(min(self.wait_seconds, self.created_at - self.wall())):
                raise InterruptedError("backfill stopped")
        before = self.source.trigger_offsets(self.created_at)  # not the job's own triggers: see the docstring
        while not self.source.recorded(before):
            if stop.wait(self.wait_seconds):
                raise InterruptedError("backfill stopped")
        self.progress.phase, self.progress.scanned = "scanning", 0
        shutil.rmtree(self.workdir, ignore_errors=True)
        batch_id = BATCH_PREFIX + uuid.uuid4().hex[:12]
        batch = Batch(self.workdir / "members.sqlite", 0.0)
        try:
            scanned = collect_members(self.source.scan(self.audience, stop), self.created_at, self.layout, batch,
                                      self._scanned)
        except BaseException:
            batch.discard()
            raise
        self.progress.phase = "uploading"
        ops: list[Op] = []
        users = self.ship(Sealed(batch_id, batch.seal(), self.workdir / "files"), ops.append, stop)
        return Built(tuple(ops), scanned, users)

    def _scanned(self, n: int) -> None:
        self.progress.scanned += n
        self.on_scanned(n)


Start = Callable[[threading.Event], "Future[Built]"]


class Backfill:
    """The writer-thread part, driven by ``JobWriter``: ``gate`` says whether the writer may work its queue
    (and puts the backfill's operations in front of it), ``applied`` follows their progress. Not thread-safe
    except ``status``."""

    def __init__(self, job_id: str, created_at: float, start: Start | None, persist: Callable[[bytes], None], *,
                 progress: Progress | None = None, on_sent: Callable[[int], None] = lambda n: None,
                 retry_seconds: float = 30.0) -> None:
        self.job_id, self.created_at = job_id, created_at
        self._start, self._persist, self._on_sent = start, persist, on_sent
        self._progress = progress or Progress()
        self._retry = retry_seconds
        self.state: BackfillState | None = None
        self.last_error: str | None = None
        self._loaded = self._queued = self._dirty = False
        self._future: Future[Built] | None = None
        self._stop = threading.Event()
        self._next_at = 0.0

    # -- ownership ------------------------------------------------------------------------------------------
    def load(self, value: bytes | None) -> None:
        """The state topic's record (or None) when the writer takes the job."""
        self.forget()
        state = None
        if value is not None:
            try:
                state = BackfillState.from_bytes(value)
            except (ValueError, KeyError, TypeError):
                log.error("unreadable backfill state; backfilling again", extra={"job": self.job_id})
        self.state = state if state is not None and state.created_at == self.created_at else None
        self._loaded = True

    def forget(self) -> None:
        """The writer lost the job (or closes): stop the worker; the next owner starts from the state topic."""
        self._stop.set()
        self._stop = threading.Event()
        self._future = None
        self._loaded = self._queued = self._dirty = False
        self.state = None

    close = forget

    # -- the writer's calls ---------------------------------------------------------------------------------
    def gate(self, now: float, queue: deque[Op]) -> bool:
        """Do what is due; True when the writer may work its queue (the backfill's operations, if any, are
        then at its front). Never blocks except for writing the state topic."""
        if not self._loaded:
            return False
        if self._dirty:
            self._save()
        state = self.state
        if state is not None:
            if not state.done and not self._queued:
                mine = {op.batch_id for op in state.ops}
                if not any(op.batch_id in mine for op in queue):  # not there already (a second load)
                    queue.extendleft(reversed(state.ops))
                self._queued = True
            return True
        if self._start is None:
            self.last_error = "no membership table in this process: existing users are not sent"
            return True
        return self._build(now, queue)

    def _build(self, now: float, queue: deque[Op]) -> bool:
        if self._future is None:
            if now >= self._next_at and self._start is not None:
                self._future = self._start(self._stop)
            return False
        if not self._future.done():
            return False
        future, self._future = self._future, None
        try:
            built = future.result()
        except Exception as exc:  # Kafka or TikTok trouble: start over later
            self.last_error = str(exc)
            self._next_at = now + self._retry
            log.warning("backfill failed; starting over later", extra={"job": self.job_id, "error": str(exc)})
            return False
        self.last_error = None
        self.state = BackfillState(self.created_at, not built.ops, built.scanned, built.users, 0, built.ops)
        self._dirty = True
        self._save()
        log.info("backfill built", extra={"job": self.job_id, "scanned": built.scanned, "users": built.users})
        return self.gate(now, queue)

    def applied(self, ops: list[Op], queue: deque[Op]) -> None:
        """Operations the writer applied (any job operations); the backfill's are counted once all their
        parts left the queue."""
        state = self.state
        if state is None or state.done:
            return
        mine = {op.batch_id for op in ops if op.batch_id.startswith(BATCH_PREFIX)}
        left = {op.batch_id for op in queue if op.batch_id.startswith(BATCH_PREFIX)}
        finished = {op.batch_id: op.users for op in state.ops if op.batch_id in mine - left}
        if not finished:
            return
        sent = sum(finished.values())
        remaining = tuple(op for op in queue if op.batch_id.startswith(BATCH_PREFIX))
        self.state = replace(state, sent=state.sent + sent, ops=remaining, done=not remaining)
        self._on_sent(sent)
        self._dirty = True
        self._save()

    def _save(self) -> None:
        if self.state is None:
            return
        try:
            self._persist(self.state.to_bytes())
            self._dirty = False
            if self.last_error is not None and self.last_error.startswith(_NOT_STORED):
                self.last_error = None
        except Exception as exc:  # kept dirty: written again on the next gate
            self.last_error = f"{_NOT_STORED}: {exc}"
            log.warning("backfill state not stored; will retry", extra={"job": self.job_id, "error": str(exc)})

    def status(self) -> dict[str, Any]:
        state = self.state
        if state is not None:
            phase = "done" if state.done else "applying"
            return {"state": phase, "scanned": state.scanned, "users": state.users, "sent": state.sent,
                    "done": state.done, "last_error": self.last_error}
        phase = self._progress.phase if self._future is not None else ("idle" if not self._loaded else "pending")
        return {"state": phase, "scanned": self._progress.scanned, "users": None, "sent": 0, "done": False,
                "last_error": self.last_error}


def run_in_thread(build: Callable[[threading.Event], Built], name: str, supervisor: Supervisor) -> Start:
    """A ``Start`` that runs ``build`` on a supervised thread of its own.

    Policy REPORT: a failure is recorded (``/healthz``, the thread-failures metric, the log) and handed to the
    ``Backfill`` through the future; the backfill starts over after its ``retry_seconds`` (its work is
    idempotent: the membership table is read again and a user is sent once by the writer's rules).
    """

    def start(stop: threading.Event) -> Future[Built]:
        future: Future[Built] = Future()

        def body(_stop: threading.Event) -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(build(stop))
            except BaseException as exc:
                future.set_exception(exc)
                if not isinstance(exc, InterruptedError):  # stopped on purpose: not a failure
                    raise

        supervisor.spawn(name, body, Policy.REPORT, stop)
        return future

    return start


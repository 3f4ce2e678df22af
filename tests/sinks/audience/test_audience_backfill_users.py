"""``existing_users``: who the backfill sends, its worker, and how the single writer applies it (fakes, a
manual clock, no sleeping)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from test_audience_writer import FakeApi, FakeStore, op

from tikstream.jobs.models import AudienceExportJob
from tikstream.sinks.audience.backfill import (
    BATCH_PREFIX,
    Backfill,
    BackfillBuild,
    BackfillState,
    Built,
    Progress,
    collect_members,
)
from tikstream.sinks.audience.batch import APPEND, Batch, read_rows
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.members_topic import Member
from tikstream.sinks.audience.ops import Op, UploadedFile
from tikstream.sinks.audience.sink import Sealed, Shipper
from tikstream.sinks.audience.state import FileRef
from tikstream.sinks.audience.writer import JobWriter

CREATED = 1_800_000_000.0
BEFORE, AFTER = int(CREATED * 1000) - 1, int(CREATED * 1000)
LAYOUT = FileLayout({"user.email": "EMAIL_SHA256"})


def h(user: str) -> str:
    return hashlib.sha256(f"{user}@example.com".encode()).hexdigest()


def member(user: str, ts: int = BEFORE, left: bool = False, email: bool = True) -> Member:
    doc: dict[str, Any] = {"audience": "vip", "event": "enter", "user_id": user}
    if email:
        doc["user"] = {"email": f"{user.upper()}@Example.com "}
    return Member(user, None if left else orjson.dumps(doc), ts)


# -- who is sent --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("records", "sent"), [
    pytest.param([member("a")], {"a"}, id="entered-before"),
    pytest.param([member("a", AFTER)], set(), id="entered-after: the job's own trigger"),
    pytest.param([member("a"), member("a", left=True)], set(), id="left-before"),
    pytest.param([member("a"), member("a", AFTER, left=True)], set(), id="left-after: the job removes"),
    pytest.param([member("a"), member("a", AFTER)], set(), id="entered-again-after"),
    pytest.param([member("a", left=True), member("a")], {"a"}, id="left-then-entered-before"),
    pytest.param([member("a", email=False)], set(), id="no-identifier"),
    pytest.param([Member("a", b"not json", BEFORE)], set(), id="unreadable"),
])
def test_the_latest_record_before_created_at_decides(tmp_path: Path, records: list[Member], sent: set[str]) -> None:
    batch = Batch(tmp_path / "b.sqlite", 0.0)
    progress: list[int] = []
    assert collect_members(records, CREATED, LAYOUT, batch, progress.append) == len(records)
    assert sum(progress) == len(records)
    assert set(read_rows(batch.seal(), APPEND)) == {h(u) for u in sent}


def test_progress_comes_in_steps(tmp_path: Path) -> None:
    batch = Batch(tmp_path / "b.sqlite", 0.0)
    progress: list[int] = []
    collect_members((member(f"u{i}") for i in range(2500)), CREATED, LAYOUT, batch, progress.append)
    assert progress == [1000, 1000, 500]


# -- the worker ---------------------------------------------------------------------------------------------


class FakeSource:
    """The membership table: triggers get recorded after ``lag`` calls of ``recorded``."""

    def __init__(self, members: list[Member], lag: int = 0) -> None:
        self.members, self.lag = members, lag
        self.calls: list[str] = []

    def trigger_offsets(self, created_at: float) -> Mapping[tuple[str, int], int]:
        assert created_at == CREATED
        self.calls.append("offsets")
        return {("triggers", 0): 10}

    def recorded(self, ends: Mapping[tuple[str, int], int]) -> bool:
        self.calls.append("recorded")
        self.lag -= 1
        return self.lag < 0

    def scan(self, audience: str, stop: threading.Event | None = None) -> Iterator[Member]:
        self.calls.append(f"scan {audience}")
        yield from self.members


class InFlight(FakeSource):
    """Trigger partitions as the poll loop leaves them while a job's own triggers are in flight: each is
    committed up to its first record stamped at or after ``CREATED`` (the job's first trigger) and stays
    there, as a streaming job's does until its writer sent them. ``recorded`` stops the worker after
    ``patience`` calls (a wait that would never end)."""

    STAMPS: Final = {("triggers", 0): [BEFORE, BEFORE, AFTER, AFTER + 5],  # offset -> record timestamp
                     ("triggers", 1): [BEFORE - 9, AFTER, BEFORE],  # offset 2: a producer's clock behind
                     ("triggers", 2): [BEFORE],  # nothing of the job yet
                     ("triggers", 3): []}

    def __init__(self, members: list[Member], stop: threading.Event, patience: int = 50) -> None:
        super().__init__(members)
        self.stop, self.patience = stop, patience
        self.committed = {tp: _first_at(stamps, AFTER) for tp, stamps in self.STAMPS.items()}

    def trigger_offsets(self, created_at: float) -> Mapping[tuple[str, int], int]:
        self.calls.append("offsets")
        return {tp: _first_at(stamps, int(created_at * 1000)) for tp, stamps in self.STAMPS.items()}

    def recorded(self, ends: Mapping[tuple[str, int], int]) -> bool:
        self.calls.append("recorded")
        if len(self.calls) > self.patience:
            self.stop.set()
        return all(self.committed[tp] >= end for tp, end in ends.items())


def _first_at(stamps: list[int], at_ms: int) -> int:
    """Kafka's offsets_for_times: the first offset stamped at or after ``at_ms``, else the end offset."""
    return next((offset for offset, stamp in enumerate(stamps) if stamp >= at_ms), len(stamps))


class Files:
    """``FileStore`` for the Shipper: uploads return the file's content; ``put_op`` must not be used."""

    def __init__(self) -> None:
        self.uploaded: list[str] = []

    def upload(self, calculate_type: str, path: Path) -> str:
        self.uploaded.append(path.read_text())
        return f"tt/{path.name}"

    def keep(self, file_id: str, path: Path) -> FileRef:
        return FileRef(file_id, 0, 0, 1)

    def put_op(self, op: Op) -> None:
        raise AssertionError("backfill operations do not go to the ops topic")


def job(**kw: Any) -> AudienceExportJob:
    base = {"id": "j1", "type": "audience_export", "auth": "a", "audience": "vip", "advertiser_id": "7",
            "identifiers": {"user.email": "EMAIL_SHA256"}, "existing_users": True}
    return AudienceExportJob(**{**base, **kw})


def build(tmp_path: Path, source: FakeSource, files: Files, wall: float = CREATED + 1) -> BackfillBuild:
    class Collecting:
        def __init__(self, collect: Any) -> None:
            self.put_op = collect

        def upload(self, calculate_type: str, path: Path) -> str:
            return files.upload(calculate_type, path)

        def keep(self, file_id: str, path: Path) -> FileRef:
            return files.keep(file_id, path)

    def ship(sealed: Sealed, collect: Any, stop: threading.Event) -> int:
        return Shipper(job(), LAYOUT, Collecting(collect), stop=stop, wall=lambda: 5.0)(sealed)

    return BackfillBuild("j1", "vip", CREATED, LAYOUT, source, ship, tmp_path / "bf", wait_seconds=0.0,
                         wall=lambda: wall)


def test_worker_waits_for_the_triggers_to_be_recorded_then_scans_and_ships(tmp_path: Path) -> None:
    source = FakeSource([member("a"), member("b"), member("c", AFTER)], lag=2)
    files = Files()
    built = build(tmp_path, source, files)(threading.Event())
    assert source.calls == ["offsets", "recorded", "recorded", "recorded", "scan vip"]
    assert built.scanned == 3 and built.users == 2 and len(built.ops) == 1
    (got,) = built.ops
    assert got.action == "APPEND" and got.users == 2 and got.batch_id.startswith(BATCH_PREFIX)
    assert set(files.uploaded[0].split()) == {h("a"), h("b")}
    assert not (tmp_path / "bf" / "members.sqlite").exists()


def test_worker_waits_only_for_the_triggers_before_created_at(tmp_path: Path) -> None:
    """The job's own triggers are in flight, never committed before the backfill is done (a streaming job's
    writer sends nothing of the job before it; a file job's wait for its batch to seal): the worker waits
    only for the triggers stamped before ``created_at`` (every delivery uses this worker)."""
    stop = threading.Event()
    source = InFlight([member("a"), member("b", AFTER)], stop)
    built = build(tmp_path, source, Files())(stop)
    assert source.calls == ["offsets", "recorded", "scan vip"]
    assert built.scanned == 2 and built.users == 1


def test_worker_waits_until_the_triggers_before_created_at_are_recorded(tmp_path: Path) -> None:
    stop = threading.Event()
    source = InFlight([], stop, patience=5)
    source.committed[("triggers", 2)] = 0  # the last trigger before created_at is not recorded yet
    with pytest.raises(InterruptedError):
        build(tmp_path, source, Files())(stop)
    assert "scan vip" not in source.calls


def test_worker_stops_when_told(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError):
        build(tmp_path, FakeSource([], lag=10**6), Files())(stop)
    with pytest.raises(InterruptedError):  # created ahead of time: waits for created_at first
        build(tmp_path, FakeSource([]), Files(), wall=CREATED - 60)(stop)


def test_nobody_to_send_gives_no_operation(tmp_path: Path) -> None:
    built = build(tmp_path, FakeSource([member("a", AFTER)]), Files())(threading.Event())
    assert built == Built((), 1, 0)


# -- the writer ---------------------------------------------------------------------------------------------


class Starts:
    """A ``Start`` whose futures the test completes."""

    def __init__(self) -> None:
        self.futures: list[Future[Built]] = []
        self.stops: list[threading.Event] = []

    def __call__(self, stop: threading.Event) -> Future[Built]:
        future: Future[Built] = Future()
        self.futures.append(future)
        self.stops.append(stop)
        return future


def bf_op(users: int = 3, tag: str = "bf") -> Op:
    files = (UploadedFile(f"{tag}0", f"{tag}0.txt", FileRef(f"c{tag}", 0, 0, 1)),)
    return Op("j1", f"{BATCH_PREFIX}{tag}", "APPEND", "EMAIL_SHA256", "7", files, users, 0.0)


class Parts:
    def __init__(self) -> None:
        self.api, self.store = FakeApi(), FakeStore()
        self.applied: list[Op] = []
        self.starts = Starts()
        self.saved: list[BackfillState] = []
        self.sent: list[int] = []
        self.save_fails = 0
        self.backfill = Backfill("j1", CREATED, self.starts, self.persist, progress=Progress("scanning", 7),
                                 on_sent=self.sent.append, retry_seconds=30.0)
        self.writer = JobWriter("j1", "tikstream", "vip", lambda: self.api, self.store, self.applied.extend,
                                wall=lambda: 0.0, backfill=self.backfill)

    def persist(self, value: bytes) -> None:
        if self.save_fails:
            self.save_fails -= 1
            raise RuntimeError("broker away")
        self.saved.append(BackfillState.from_bytes(value))

    def run(self, start: float = 0.0, until: float = 1000.0) -> float:
        now = start
        while now < until:
            nxt = self.writer.step(now)
            if nxt is None:
                return now
            now = max(nxt, now)
        return now

    def calls(self) -> list[tuple[str, ...]]:
        return [c for c in self.api.calls if c[0] != "get"]


def test_job_operations_wait_for_the_backfill_which_goes_first() -> None:
    parts = Parts()
    parts.writer.load(None, None)
    parts.writer.enqueue(op("REMOVE", tag="r", offset=1))
    parts.writer.enqueue(op("APPEND", tag="a", offset=2))
    for t in range(5):
        parts.writer.step(float(t))
    assert parts.api.calls == [] and len(parts.starts.futures) == 1
    assert parts.writer.status()["backfill"] == {"state": "scanning", "scanned": 7, "users": None, "sent": 0,
                                                 "done": False, "last_error": None}
    parts.starts.futures[0].set_result(Built((bf_op(3),), 10, 3))
    parts.run(5.0)
    # the backfill's APPEND creates the audience; the job's own REMOVE and APPEND follow, in order
    assert parts.calls() == [("create", "tikstream vip 1970-01-01 00:00:00", "bf0"), ("REMOVE", "r0"),
                             ("APPEND", "a0")]
    assert [(s.done, len(s.ops), s.sent) for s in parts.saved] == [(False, 1, 0), (True, 0, 3)]
    assert parts.sent == [3] and parts.writer.appended == 3 + 10
    assert parts.writer.status()["backfill"] == {"state": "done", "scanned": 10, "users": 3, "sent": 3,
                                                 "done": True, "last_error": None}


def test_a_finished_backfill_is_not_done_again() -> None:
    parts = Parts()
    parts.writer.load(None, BackfillState(CREATED, True, 10, 3, 3).to_bytes())
    parts.writer.enqueue(op("APPEND", tag="a"))
    parts.run()
    assert parts.starts.futures == [] and parts.calls()[0][0] == "create"


def test_a_backfill_of_an_earlier_job_with_the_same_id_does_not_count() -> None:
    parts = Parts()
    parts.writer.load(None, BackfillState(CREATED - 3600, True, 10, 3, 3).to_bytes())
    parts.writer.step(0.0)
    assert len(parts.starts.futures) == 1


def test_after_a_crash_while_applying_the_operations_left_are_applied_first() -> None:
    parts = Parts()
    left = BackfillState(CREATED, False, 10, 5, 2, (bf_op(3, "two"),))
    parts.writer.load(None, left.to_bytes())
    parts.writer.enqueue(op("APPEND", tag="a"))
    parts.run()
    assert parts.starts.futures == []
    assert parts.calls() == [("create", "tikstream vip 1970-01-01 00:00:00", "two0", "a0")]
    assert parts.saved[-1] == BackfillState(CREATED, True, 10, 5, 5)


def test_a_failed_build_is_started_again_later_and_shown() -> None:
    parts = Parts()
    parts.writer.load(None, None)
    parts.writer.step(0.0)
    parts.starts.futures[0].set_exception(RuntimeError("membership partition does not answer"))
    parts.writer.step(1.0)
    assert "does not answer" in str(parts.writer.status()["backfill"]["last_error"])
    parts.writer.step(20.0)
    assert len(parts.starts.futures) == 1
    parts.writer.step(31.0)
    assert len(parts.starts.futures) == 2


def test_state_that_could_not_be_stored_is_stored_on_a_later_step() -> None:
    parts = Parts()
    parts.save_fails = 2
    parts.writer.load(None, None)
    parts.writer.step(0.0)
    parts.starts.futures[0].set_result(Built((), 4, 0))
    parts.writer.step(1.0)
    assert parts.saved == [] and "not stored" in str(parts.backfill.last_error)
    parts.writer.step(2.0)
    assert parts.saved == [BackfillState(CREATED, True, 4, 0, 0)] and parts.backfill.last_error is None


def test_losing_the_job_stops_the_worker_and_the_next_owner_starts_from_the_state_topic() -> None:
    parts = Parts()
    parts.writer.load(None, None)
    parts.writer.step(0.0)
    parts.writer.forget()
    assert parts.starts.stops[0].is_set()
    assert parts.writer.step(1.0) == 1.5 and len(parts.starts.futures) == 1  # not owned: nothing runs
    parts.writer.load(None, None)
    parts.writer.step(2.0)
    assert len(parts.starts.futures) == 2 and not parts.starts.stops[1].is_set()


def test_without_a_membership_table_the_job_is_not_held() -> None:
    api, store, applied = FakeApi(), FakeStore(), list[Op]()
    backfill = Backfill("j1", CREATED, None, lambda v: None)
    writer = JobWriter("j1", "tikstream", "vip", lambda: api, store, applied.extend, backfill=backfill)
    writer.load(None, None)
    writer.enqueue(op("APPEND"))
    writer.step(0.0)
    assert applied and "no membership table" in str(writer.status()["backfill"]["last_error"])


def test_state_round_trip() -> None:
    state = BackfillState(CREATED, False, 100_000, 99_000, 0, (bf_op(99_000),))
    assert BackfillState.from_bytes(state.to_bytes()) == state

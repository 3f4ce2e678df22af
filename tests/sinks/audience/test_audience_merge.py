"""Merging queued audience operations into their net effect (``tikstream.sinks.audience.merge``), through the
writer, against a fake TikTok that keeps members per hash as the emulator does."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from tikstream.sinks.audience.merge import MERGED_PREFIX, candidates, plan, runs
from tikstream.sinks.audience.ops import AudienceRecord, Op, UploadedFile
from tikstream.sinks.audience.state import FileRef, KafkaStoreError
from tikstream.sinks.audience.writer import JobWriter
from tikstream.tiktok.errors import PermanentError

HEADER = b"EMAIL_SHA256,PHONE_SHA256"


class Tiktok:
    """Files by path, an audience as a set of hashes; ``update`` needs nothing to be ready (tests of order)."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self.paths = dict(contents)
        self.members: set[bytes] = set()
        self.calls: list[tuple[str, int]] = []
        self.expire_merged = False
        self.uploads: list[bytes] = []

    def _hashes(self, paths: Sequence[str]) -> set[bytes]:
        out = set()
        for p in paths:
            lines = self.paths[p].split(b"\n")
            body = lines[1:] if lines[0] == HEADER else lines
            out |= {h for line in body for h in line.split(b",") if h}
        return out

    def create(self, name: str, calculate_type: str, file_paths: Sequence[str]) -> str:
        self.members = self._hashes(file_paths)
        self.calls.append(("create", len(file_paths)))
        return "A1"

    def update(self, audience_id: str, action: str, file_paths: Sequence[str]) -> None:
        if self.expire_merged and any(p.startswith("up-") for p in file_paths):
            self.expire_merged = False
            raise PermanentError("file_path expired", endpoint="dmp/custom_audience/update/", code=40910)
        hashes = self._hashes(file_paths)
        self.members = self.members | hashes if action == "APPEND" else self.members - hashes
        self.calls.append((action, len(file_paths)))

    def is_valid(self, audience_id: str) -> bool:
        return True

    def find_by_name(self, name: str) -> str | None:
        return None

    def upload(self, calculate_type: str, data: bytes, filename: str) -> str:
        path = f"up-{len(self.uploads)}"
        self.uploads.append(data)
        self.paths[path] = data
        return path


class Store:
    def __init__(self, contents: dict[str, bytes]) -> None:
        self.contents = contents
        self.reads = 0
        self.broken = False

    def put_audience(self, job_id: str, record: AudienceRecord) -> None:
        pass

    def read_file(self, ref: FileRef) -> bytes:
        return self.contents[ref.file_id]

    def read_files(self, refs: list[FileRef]) -> dict[str, bytes]:
        self.reads += 1
        if self.broken:
            raise KafkaStoreError("chunks missing")
        return {r.file_id: self.contents[r.file_id] for r in refs}


def make_ops(actions_rows: list[tuple[str, list[str]]], ctype: str = "EMAIL_SHA256",
             header: bytes = b"") -> tuple[list[Op], dict[str, bytes]]:
    ops, contents = [], {}
    for i, (action, rows) in enumerate(actions_rows):
        data = (header + b"\n" if header else b"") + b"".join(r.encode() + b"\n" for r in rows)
        contents[f"p{i}"] = data
        ops.append(Op("j1", f"b{i}", action, ctype, "7", (UploadedFile(f"p{i}", f"p{i}.txt",
                                                                        FileRef(f"p{i}", 0, i, 1)),), len(rows),
                      0.0, offset=i))
    return ops, contents


def drive(ops: list[Op], contents: dict[str, bytes], *, merge: bool = True,
          tiktok: Tiktok | None = None, store: Store | None = None) -> tuple[Tiktok, list[Op], JobWriter]:
    tiktok = tiktok or Tiktok(contents)
    store = store or Store(contents)
    applied: list[Op] = []
    w = JobWriter("j1", "t", "vip", lambda: tiktok, store, applied.extend, wall=lambda: 0.0,
                  read_files=store.read_files if merge else None)
    w.load(AudienceRecord("n", "A1", ops[0].calculate_type))
    for op in ops:
        w.enqueue(op)
    now = 0.0
    for _ in range(200):
        nxt = w.step(now)
        if nxt is None and not w.queue:
            break
        now = max(now, nxt or now) + 0.01
    return tiktok, applied, w


def test_an_alternating_backlog_is_one_remove_and_one_append_with_the_sequential_result() -> None:
    ops, contents = make_ops([("APPEND", ["a", "b"]), ("REMOVE", ["a"]), ("APPEND", ["a", "c"]),
                              ("REMOVE", ["d", "b"]), ("APPEND", ["e"])])
    one_by_one, applied_plain, _ = drive(ops, contents, merge=False)
    merged, applied, w = drive(ops, contents)
    assert merged.members == one_by_one.members == {b"a", b"c", b"e"}
    assert merged.calls == [("REMOVE", 1), ("APPEND", 1)] and len(one_by_one.calls) == 5
    assert sorted(merged.uploads) == [b"a\nc\ne\n", b"b\nd\n"]
    assert applied == applied_plain == ops  # every original reported applied, in order, for the commit
    assert w.appended == 3 and w.removed == 2 and not w.queue


def test_the_originals_count_as_applied_only_after_the_last_merged_call() -> None:
    ops, contents = make_ops([("APPEND", ["a"]), ("REMOVE", ["b"]), ("APPEND", ["c"])])
    tiktok, store = Tiktok(contents), Store(contents)
    applied: list[Op] = []
    w = JobWriter("j1", "t", "vip", lambda: tiktok, store, applied.extend, wall=lambda: 0.0,
                  read_files=store.read_files)
    w.load(AudienceRecord("n", "A1", "EMAIL_SHA256"))
    for op in ops:
        w.enqueue(op)
    w.step(0.0)
    assert tiktok.calls == [("REMOVE", 1)] and applied == []
    assert [op.batch_id.startswith(MERGED_PREFIX) for op in w.queue] == [True]
    w.step(100.0)
    assert tiktok.calls == [("REMOVE", 1), ("APPEND", 1)] and applied == ops


@pytest.mark.parametrize("seed", range(40))
def test_merging_never_changes_the_end_state(seed: int) -> None:
    rng = random.Random(seed)
    multiple = seed % 2 == 1
    pool = [f"u{i}" for i in range(8)]
    steps = []
    for _ in range(rng.randrange(3, 12)):
        users = rng.sample(pool, rng.randrange(1, 5))
        rows = [f"{u},p{u}" if multiple and rng.random() < 0.8 else (f"{u}," if multiple else u) for u in users]
        steps.append((rng.choice(["APPEND", "REMOVE"]), rows))
    kw = {"ctype": "MULTIPLE_TYPES", "header": HEADER} if multiple else {}
    ops, contents = make_ops(steps, **kw)  # type: ignore[arg-type]
    plain, applied_plain, _ = drive(ops, contents, merge=False)
    merged, applied, _ = drive(ops, contents)
    assert merged.members == plain.members
    assert applied == applied_plain == ops


def test_multiple_types_with_a_hash_removed_and_appended_in_other_rows_are_not_merged() -> None:
    # the same email with another phone: the order of REMOVE and APPEND decides, so they go one by one
    ops, contents = make_ops([("APPEND", ["e1,p1"]), ("REMOVE", ["e2,p2"]), ("APPEND", ["x,y"]),
                              ("REMOVE", ["e1,p9"])], ctype="MULTIPLE_TYPES", header=HEADER)
    tiktok, _, _ = drive(ops, contents)
    # the first APPEND goes alone (original file); the three after it share no hash and are merged
    assert tiktok.calls[0] == ("APPEND", 1) and b"e1,p1" not in b"".join(tiktok.uploads)
    assert len(tiktok.uploads) == 2 and tiktok.members == {b"p1", b"x", b"y"}


def test_an_expired_merged_file_puts_the_originals_back() -> None:
    ops, contents = make_ops([("APPEND", ["a"]), ("REMOVE", ["a"]), ("APPEND", ["b"])])
    tiktok = Tiktok(contents)
    tiktok.expire_merged = True
    _, applied, _ = drive(ops, contents, tiktok=tiktok)
    assert tiktok.members == {b"b"} and applied == ops
    assert [c[0] for c in tiktok.calls] == ["APPEND", "REMOVE", "APPEND"]


def test_unreadable_stored_files_mean_one_by_one() -> None:
    ops, contents = make_ops([("APPEND", ["a"]), ("REMOVE", ["a"]), ("APPEND", ["b"])])
    store = Store(contents)
    store.broken = True
    tiktok, applied, _ = drive(ops, contents, store=store)
    assert len(tiktok.calls) == 3 and tiktok.members == {b"b"} and applied == ops and store.reads == 1


def test_what_is_not_merged() -> None:
    ops, contents = make_ops([("APPEND", ["a"]), ("REMOVE", ["a"])])
    assert plan(ops, lambda refs: {r.file_id: contents[r.file_id] for r in refs}, 1000) is None  # two runs
    backfill = [Op("j1", "backfill-1", "APPEND", "EMAIL_SHA256", "7", ops[0].files, 1, 0.0, 5), *ops]
    assert candidates(backfill, "backfill-") == []
    unstored = [Op("j1", "b", "APPEND", "EMAIL_SHA256", "7", (UploadedFile("x", "x", None),), 1, 0.0, 1), *ops]
    assert candidates(unstored) == []
    other_type = [*ops, Op("j1", "c", "APPEND", "PHONE_SHA256", "7", ops[0].files, 1, 0.0, 9)]
    assert candidates(other_type) == ops and runs(other_type) == 3


def test_a_merged_operation_split_over_calls_counts_once_its_last_part_is_applied() -> None:
    from collections import deque

    from tikstream.sinks.audience.merge import Merging

    ops, contents = make_ops([("APPEND", ["a"]), ("REMOVE", ["a"]), ("APPEND", ["b"])])
    merging = Merging("j1", lambda refs: {r.file_id: contents[r.file_id] for r in refs}, "backfill-")
    queue = deque(ops)
    assert merging.merge(queue, lambda ctype, data, name: f"up-{name}", 0.0) == []
    merged = queue[-1]  # the APPEND holds the originals; pretend the writer split it in two calls
    first, second = merged.with_files(merged.files[:1]), merged.with_files(merged.files[:1])
    queue.pop()
    queue.extend([first, second])
    queue.remove(first)
    assert merging.expand([first], queue) == [], "its other part still waits"
    queue.remove(second)
    assert merging.expand([second], queue) == ops

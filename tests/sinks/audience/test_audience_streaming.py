"""Streaming audiences (``delivery: streaming``) with fakes: segment rows and bodies, the sink's batches, the
streamer's store-then-wait, and the single writer's requests."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_audience_batch import TP, Clock, ManualExecutor, trig

from tikstream.jobs.models import AudienceExportJob
from tikstream.mapping.counts import IdentifierCounts
from tikstream.records import Trigger
from tikstream.sinks.audience.batch import APPEND, REMOVE, Batch
from tikstream.sinks.audience.ops import AudienceRecord, Op, UploadedFile
from tikstream.sinks.audience.pusher import SegmentWriter
from tikstream.sinks.audience.segment import SEGMENT, SegmentLayout, chunks, mapping_body, segment_audience_name
from tikstream.sinks.audience.ship import Sealed
from tikstream.sinks.audience.sink import AudienceExportSink
from tikstream.sinks.audience.state import FileRef
from tikstream.sinks.audience.streamer import Streamer
from tikstream.tiktok.errors import PermanentError, ReauthorizeError, TransportError

IDS = {"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256", "user.gaid": "GAID_MD5"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sjob(**kw: Any) -> AudienceExportJob:
    base = {"id": "j1", "type": "audience_export", "auth": "a", "audience": "vip", "advertiser_id": "7",
            "identifiers": {"user.email": "EMAIL_SHA256"}, "delivery": "streaming"}
    return AudienceExportJob(**{**base, **kw})


# -- rows and bodies -----------------------------------------------------------------------------------------

def test_id_schema_is_sorted_and_says_aaid_where_the_file_api_says_gaid() -> None:
    assert SegmentLayout(IDS).id_schema == ("EMAIL_SHA256", "AAID_MD5", "PHONE_SHA256")


@pytest.mark.parametrize("user, want", [
    pytest.param({"email": " A@Example.com "}, f"{sha('a@example.com')},,", id="email-only"),
    pytest.param({"phone": "+1 (213) 373-4253"}, f",,{sha('+12133734253')}", id="phone-with-plus"),
    pytest.param({"gaid": "5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25", "phone": "not a phone"},
                 f",{hashlib.md5(b'5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25').hexdigest()},", id="md5-aaid-bad-phone"),
    pytest.param({"phone": "bad"}, "", id="nothing-usable"),
])
def test_a_user_becomes_a_row_aligned_with_id_schema(user: dict[str, str], want: str) -> None:
    assert SegmentLayout(IDS).rows({"user": user}) == want


def test_two_paths_of_one_type_give_a_second_row_and_every_value_is_counted() -> None:
    counts = IdentifierCounts(["EMAIL_SHA256", "PHONE_SHA256"])
    layout = SegmentLayout({"user.email": "EMAIL_SHA256", "user.work": "EMAIL_SHA256",
                            "user.phone": "PHONE_SHA256"}, counts=counts)
    rows = layout.rows({"user": {"email": "a@x.io", "work": "b@x.io", "phone": "+12133734253"}})
    assert rows.split("\n") == [f"{sha('a@x.io')},{sha('+12133734253')}", f"{sha('b@x.io')},"]
    assert counts.take() == {("EMAIL_SHA256", "hashed"): 2, ("PHONE_SHA256", "hashed"): 1}


def test_mapping_body_puts_an_empty_object_in_each_empty_slot() -> None:
    body = mapping_body("7", "add", ["EMAIL_SHA256", "PHONE_SHA256"], ["e1,", ",p2"], "A1")
    assert body == {"advertiser_ids": ["7"], "action": "add", "id_schema": ["EMAIL_SHA256", "PHONE_SHA256"],
                    "batch_data": [[{"id": "e1", "audience_ids": ["A1"]}, {}],
                                   [{}, {"id": "p2", "audience_ids": ["A1"]}]]}
    with pytest.raises(ValueError, match="3 cells"):
        mapping_body("7", "add", ["EMAIL_SHA256", "PHONE_SHA256"], ["a,b,c"], "A1")


def test_a_name_over_70_characters_is_stored_as_tiktok_keeps_it() -> None:
    assert segment_audience_name("n" * 70) == "n" * 70
    assert segment_audience_name("n" * 71) == "n" * 67 + "..."


def _sealed(tmp_path: Path, users: dict[str, tuple[int, str, int]]) -> Sealed:
    batch = Batch(tmp_path / "b.sqlite", 0.0)
    for user, (action, rows, tp) in users.items():
        batch.put(user, action, rows, tp)
    return Sealed("b1", batch.seal(), tmp_path / "work")


def test_chunks_are_adds_then_deletes_of_at_most_max_rows(tmp_path: Path) -> None:
    sealed = _sealed(tmp_path, {"u1": (APPEND, "a1", 0), "u2": (REMOVE, "r2", 0), "u3": (APPEND, "a3\na3b", 0),
                                "u4": (APPEND, "a4", 0), "u5": (APPEND, "", 0)})
    got = [(c.action, c.lines, c.users) for c in chunks(sealed.path, 2)]
    assert got == [("add", ("a1",), 1), ("add", ("a3", "a3b"), 1), ("add", ("a4",), 1), ("delete", ("r2",), 1)]


# -- the streamer --------------------------------------------------------------------------------------------

class FakeStreamStore:
    def __init__(self, applied_after: int = 0, fail_puts: int = 0) -> None:
        self.ops: list[Op] = []
        self.kept: dict[str, bytes] = {}
        self.checks = 0
        self._after, self._fail = applied_after, fail_puts

    def put_op(self, op: Op) -> int:
        if self._fail:
            self._fail -= 1
            raise OSError("broker down")
        self.ops.append(op)
        return len(self.ops) - 1

    def keep(self, file_id: str, data: bytes) -> FileRef:
        self.kept[file_id] = data
        return FileRef(file_id, 0, 0, 1)

    def applied(self, offset: int) -> bool:
        self.checks += 1
        return self.checks > self._after

    def close(self) -> None:
        pass


def _streamer(store: FakeStreamStore, **kw: Any) -> Streamer:
    return Streamer(sjob(stream_batch_max=2), SegmentLayout({"user.email": "EMAIL_SHA256"}), store,
                    retry_first=0.0, poll_every=0.0, wall=lambda: 5.0, **kw)


def test_the_streamer_stores_each_request_and_returns_only_once_they_were_applied(tmp_path: Path) -> None:
    store = FakeStreamStore(applied_after=3, fail_puts=1)
    sealed = _sealed(tmp_path, {"u1": (APPEND, "e1", 0), "u2": (APPEND, "e2", 0), "u3": (APPEND, "e3", 0),
                                "u4": (REMOVE, "e4", 0)})
    assert _streamer(store)(sealed) == 4
    assert [(op.action, op.batch_id, op.segment) for op in store.ops] == [
        ("add", "b1-0", {"id_schema": ["EMAIL_SHA256"], "rows": ["e1", "e2"]}),
        ("add", "b1-1", {"id_schema": ["EMAIL_SHA256"], "rows": ["e3"]}),
        ("delete", "b1-2", {"id_schema": ["EMAIL_SHA256"], "rows": ["e4"]}),
    ]
    assert store.checks == 6  # 3 not yet, then each of the 3 operations applied
    assert not sealed.path.exists()


def test_rows_of_a_partition_dropped_before_storing_are_left_out(tmp_path: Path) -> None:
    store = FakeStreamStore()
    sealed = _sealed(tmp_path, {"u1": (APPEND, "e1", 0), "u2": (APPEND, "e2", 1)})
    sealed.dropped.add(1)
    assert _streamer(store)(sealed) == 1
    assert [op.segment for op in store.ops] == [{"id_schema": ["EMAIL_SHA256"], "rows": ["e1"]}]


def test_rows_too_large_for_an_ops_record_go_to_the_files_topic(tmp_path: Path) -> None:
    store = FakeStreamStore()
    sealed = _sealed(tmp_path, {"u1": (APPEND, "e" * 64, 0)})
    _streamer(store, inline_max=10)(sealed)
    (op,) = store.ops
    assert op.segment is None and op.files[0].ref is not None
    assert orjson.loads(store.kept[op.files[0].ref.file_id]) == {"id_schema": ["EMAIL_SHA256"], "rows": ["e" * 64]}


def test_a_stopped_streamer_gives_up_without_releasing(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError):
        _streamer(FakeStreamStore(applied_after=10**9), stop=stop)(_sealed(tmp_path, {"u1": (APPEND, "e1", 0)}))


# -- the sink with a streaming job ---------------------------------------------------------------------------

def _sink(tmp_path: Path, **kw: Any) -> tuple[AudienceExportSink, ManualExecutor, Clock, list[list[str]]]:
    ex, clock, shipped = ManualExecutor(), Clock(), []

    def ship(sealed: Sealed) -> int:
        shipped.append([f"{c.action}:{line}" for c in chunks(sealed.path, 100) for line in c.lines])
        return 1

    job = sjob(**kw)
    sink = AudienceExportSink(job, tmp_path, ship, executor=ex, clock=clock,  # type: ignore[arg-type]
                              layout=SegmentLayout(job.identifiers))
    return sink, ex, clock, shipped


def test_a_streaming_batch_is_sealed_at_stream_batch_max_users(tmp_path: Path) -> None:
    sink, ex, _, shipped = _sink(tmp_path, stream_batch_max=2, stream_linger_ms=60_000)
    for i, (user, event) in enumerate([("u1", "enter"), ("u1", "exit"), ("u2", "enter"), ("u3", "enter")]):
        sink.submit(trig(user, event), TP, i)
    ex.run_all()
    sink.poll()
    assert shipped == [[f"add:{sha('u2@example.com')}", f"delete:{sha('u1@example.com')}"]]  # last trigger wins
    assert sink.pending() == {TP: 3}


def test_a_streaming_batch_is_sealed_stream_linger_ms_after_its_first_trigger(tmp_path: Path) -> None:
    sink, ex, clock, shipped = _sink(tmp_path, stream_linger_ms=250)
    sink.submit(trig("u1", "enter"), TP, 7)
    clock.now += 0.2
    sink.poll()
    assert ex.queue == []
    clock.now += 0.05
    sink.poll()
    ex.run_all()
    sink.poll()
    assert shipped == [[f"add:{sha('u1@example.com')}"]] and sink.pending() == {}


def test_a_revoke_marks_the_unstored_batches(tmp_path: Path) -> None:
    sink, ex, _, _ = _sink(tmp_path, stream_batch_max=1)
    sink.submit(trig("u1", "enter"), TP, 1)
    sink.poll()
    (_, _, sealed), = [(f, fn, arg) for f, fn, arg in ex.queue]
    sink.drop([TP])
    assert sealed.dropped == {0}


# -- the single writer ---------------------------------------------------------------------------------------

class FakeSegmentApi:
    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.fail: list[Exception] = []
        self.existing: dict[str, str] = {}

    def create_segment(self, name: str) -> str:
        self.calls.append(("create", name))
        return "S1"

    def find_by_name(self, name: str) -> str | None:
        self.calls.append(("list", name))
        return self.existing.get(name)

    def mapping(self, body: dict[str, Any]) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.calls.append(body)


class FakeWriterStore:
    def __init__(self) -> None:
        self.records: list[AudienceRecord] = []
        self.files: dict[str, bytes] = {}
        self.marked: list[int] = []

    def put_audience(self, job_id: str, record: AudienceRecord) -> None:
        self.records.append(record)

    def read_file(self, ref: FileRef) -> bytes:
        return self.files[ref.file_id]

    def mark_applied(self, job_id: str, offset: int) -> None:
        self.marked.append(offset)

    def close(self) -> None:
        pass


def sop(action: str, rows: list[str], offset: int = 0) -> Op:
    return Op("j1", f"b{offset}", action, SEGMENT, "7", (), len(rows), 0.0, offset,
              segment={"id_schema": ["EMAIL_SHA256"], "rows": rows})


def _writer(api: FakeSegmentApi, store: FakeWriterStore, applied: list[Op]) -> SegmentWriter:
    return SegmentWriter("j1", "tikstream", "vip", lambda: api, store, applied.extend, wall=lambda: 0.0)


def _run(w: SegmentWriter) -> None:
    now = 0.0
    while (nxt := w.step(now)) is not None and now < 10_000:
        now = max(nxt, now + 0.001)


def test_the_writer_creates_the_audience_once_on_the_first_add_and_sends_in_order() -> None:
    api, store, applied = FakeSegmentApi(), FakeWriterStore(), []
    w = _writer(api, store, applied)
    w.load(None)
    for op in (sop("delete", ["e0"], 0), sop("add", ["e1", "e2"], 1), sop("delete", ["e1"], 2)):
        w.enqueue(op)
    _run(w)
    name = "tikstream vip 1970-01-01 00:00:00"
    assert api.calls == [("create", name), mapping_body("7", "add", ["EMAIL_SHA256"], ["e1", "e2"], "S1"),
                         mapping_body("7", "delete", ["EMAIL_SHA256"], ["e1"], "S1")]
    assert store.records == [AudienceRecord(name, None, SEGMENT), AudienceRecord(name, "S1", SEGMENT)]
    assert [op.offset for op in applied] == [0, 1, 2]
    assert store.marked == [0, 1, 2]  # what the job's instances wait for, in order (the skipped delete too)
    assert (w.appended, w.removed, w.requests) == (2, 1, 2)


def test_a_name_stored_without_an_id_is_looked_up_before_creating() -> None:
    api, store = FakeSegmentApi(), FakeWriterStore()
    api.existing["n"] = "S9"
    w = _writer(api, store, [])
    w.load(AudienceRecord("n", None, SEGMENT))
    w.enqueue(sop("add", ["e1"]))
    _run(w)
    assert api.calls[0] == ("list", "n") and api.calls[1]["batch_data"][0][0]["audience_ids"] == ["S9"]
    assert ("create", "n") not in api.calls


def test_a_failed_request_stays_at_the_head_and_is_retried_until_accepted() -> None:
    api, store, applied = FakeSegmentApi(), FakeWriterStore(), []
    api.fail = [TransportError("down", endpoint="segment/mapping/", kind="timeout"),
                ReauthorizeError("expired", endpoint="segment/mapping/", code=40102)]
    w = _writer(api, store, applied)
    w.load(AudienceRecord("n", "S1", SEGMENT))
    w.enqueue(sop("add", ["e1"], 0))
    w.enqueue(sop("delete", ["e1"], 1))
    assert w.step(0.0) is not None and w.state == "failing" and applied == []
    _run(w)
    assert [b["action"] for b in api.calls] == ["add", "delete"] and [op.offset for op in applied] == [0, 1]
    assert store.marked == [0, 1]
    assert w.state == "ready" and w.last_error is None


def test_rows_kept_in_the_files_topic_are_read_back() -> None:
    api, store = FakeSegmentApi(), FakeWriterStore()
    store.files["f1"] = orjson.dumps({"id_schema": ["EMAIL_SHA256"], "rows": ["e9"]})
    w = _writer(api, store, [])
    w.load(AudienceRecord("n", "S1", SEGMENT))
    w.enqueue(Op("j1", "backfill-b", "add", SEGMENT, "7", (UploadedFile("", "b.json", FileRef("f1", 0, 0, 1)),),
                 1, 0.0))
    _run(w)
    assert api.calls == [mapping_body("7", "add", ["EMAIL_SHA256"], ["e9"], "S1")]
    assert store.marked == []  # a backfill operation is in no topic: nobody waits for it


def test_a_customer_file_audience_is_not_switched_to_streaming() -> None:
    api, store, applied = FakeSegmentApi(), FakeWriterStore(), []
    w = _writer(api, store, applied)
    w.load(AudienceRecord("n", "A1", "EMAIL_SHA256"))
    w.enqueue(sop("add", ["e1"]))
    w.step(0.0)
    assert w.state == "failing" and "customer-file audience" in (w.last_error or "") and api.calls == []


def test_a_permanent_refusal_is_never_dropped() -> None:
    api, applied = FakeSegmentApi(), []
    api.fail = [PermanentError("bad", endpoint="segment/mapping/", code=40002)] * 3
    w = _writer(api, FakeWriterStore(), applied)
    w.load(AudienceRecord("n", "S1", SEGMENT))
    w.enqueue(sop("add", ["e1"]))
    for now in (0.0, 100.0, 200.0):
        w.step(now)
    assert applied == [] and len(w.queue) == 1 and w.state == "failing"


def test_a_trigger_without_identifiers_contributes_nothing(tmp_path: Path) -> None:
    sink, ex, _, shipped = _sink(tmp_path, stream_batch_max=1)
    sink.submit(Trigger("vip", "enter", "u1", 0.0, {"user_id": "u1", "user": {}}), TP, 1)
    sink.poll()
    ex.run_all()
    assert shipped == [[]]


# -- the preview ---------------------------------------------------------------------------------------------

def test_the_preview_shows_the_bodies_the_writer_would_send(tmp_path: Path) -> None:
    from tikstream.sinks.audience.preview import preview_streaming

    def t(user: str, event: str, audience: str = "vip", **profile: str) -> tuple[str, Trigger]:
        return user, Trigger(audience, event, user, 0.0, {"user_id": user, "user": profile})

    triggers = [t("u1", "enter", email="a@x.io"), t("u2", "enter", audience="other", email="b@x.io"),
                t("u1", "exit"), t("u3", "enter", email="c@x.io", phone="not a phone"),
                t("u4", "enter", email="d@x.io"), t("u5", "exit")]
    job = sjob(identifiers={"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256"}, stream_batch_max=2)
    got = preview_streaming(job, triggers, audience_id="A9", workdir=tmp_path)
    bodies = [r["body"] for r in got.requests]
    schema = ["EMAIL_SHA256", "PHONE_SHA256"]
    assert bodies == [  # u1's exit replaced its enter (same batch) and kept its hashes; u5 is looked up when sent
        mapping_body("7", "add", schema, [f"{sha('c@x.io')},"], "A9"),
        mapping_body("7", "delete", schema, [f"{sha('a@x.io')},"], "A9"),
        mapping_body("7", "add", schema, [f"{sha('d@x.io')},"], "A9"),
    ]
    assert {r["path"] for r in got.requests} == {"/segment/mapping/"}
    notes = {n.where: n for n in got.triggers}
    assert not notes["u2"].routed and "not routed" in notes["u2"].reason
    assert [(d.field, d.reason) for d in notes["u3"].dropped] == [("user.phone", "invalid")]
    assert "membership table" in notes["u5"].reason
    assert list(tmp_path.iterdir()) == []  # scratch removed


def test_a_revoke_waits_for_a_batch_being_stored_but_not_forever(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import tikstream.sinks.audience.sink as sink_module

    monkeypatch.setattr(sink_module, "DROP_WAIT_SECONDS", 0.01)
    sink, ex, _, _ = _sink(tmp_path, stream_batch_max=1)
    sink.submit(trig("u1", "enter"), TP, 1)
    sink.poll()
    ((_, _, sealed),) = ex.queue
    sealed.lock.acquire()  # the streamer is storing it (Kafka does not answer)
    sink.drop([TP])
    assert sealed.dropped == {0} and sealed.lock.locked()


def test_an_operation_of_the_other_delivery_is_kept_and_said_not_skipped() -> None:
    from test_audience_writer import FakeApi, FakeStore, op, writer

    api, applied = FakeApi(), []
    w = _writer(FakeSegmentApi(), FakeWriterStore(), applied)
    w.load(AudienceRecord("n", "S1", SEGMENT))
    w.enqueue(op("APPEND"))
    w.step(0.0)
    assert w.state == "failing" and "delivery changed" in (w.last_error or "") and len(w.queue) == 1
    file_writer = writer(api, FakeStore(), applied)
    file_writer.load(None)
    file_writer.enqueue(sop("add", ["e1"]))  # before the audience exists a file writer skips leading REMOVEs
    file_writer.step(0.0)
    assert file_writer.state == "failing" and "new job id" in (file_writer.last_error or "")
    assert len(file_writer.queue) == 1 and api.calls == [] and applied == []

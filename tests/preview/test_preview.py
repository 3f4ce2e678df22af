"""``tikstream.preview``: a preview's requests are the ones the sinks make for the same triggers (the events sink
with a fake client; the audience shipper's files and operations), and every trigger says what was left out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks" / "events"))
from events_fakes import FakeAuthStore, FakeClient, FakeDLQ, ManualExecutor, MemoryParking, events_token
from prometheus_client import CollectorRegistry

from tikstream.errors import ConfigError
from tikstream.jobs.models import AudienceExportJob, parse_job
from tikstream.metrics import Metrics
from tikstream.preview import PREVIEWERS, Input, preview_job
from tikstream.records import decode
from tikstream.sinks.events.sink import EventsSink

WEB: dict[str, Any] = {
    "id": "web-job", "type": "web_events", "auth": "pixel", "audiences": ["aud"], "pixel_code": "C4ABCDEF",
    "event_name": "Purchase", "page_url_field": "user.page", "batch_max_events": 2,
    "identifiers": {"user.email": "email", "user.phone": "phone", "ttclid": {"url_param": "ttclid"}},
    "properties": {"user.cart": "contents", "num_items": {"derive": "count"}, "currency": {"const": "EUR"},
                   "user.total": "value"},
}  # fmt: skip
AUDIENCE: dict[str, Any] = {
    "id": "aud-job", "type": "audience_export", "auth": "main", "audience": "vip",
    "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"},
}  # fmt: skip


def record(i: int, audience: str = "aud", event: str = "enter", **user: Any) -> bytes:
    profile = {"email": f"user{i}@example.com", "page": f"https://s.example/p?ttclid=T{i}",
               "cart": [{"content_id": f"sku-{i}", "price": 2.5, "quantity": 2}], "phone": "+12133734253",
               "total": 5.0, **user}
    return orjson.dumps({"audience": audience, "event": event, "user_id": f"u-{i}", "ts": 1_800_000_000 + i,
                         "user": profile})


def inputs(values: list[bytes]) -> list[Input]:
    return [Input(n, value) for n, value in enumerate(values, start=1)]


def sink_bodies(job_doc: dict[str, Any], values: list[bytes]) -> list[dict[str, Any]]:
    """The bodies the events sink sends for ``values``, every trigger submitted before the first poll."""
    job = parse_job(job_doc)
    assert not isinstance(job, AudienceExportJob)
    client, executor, now = FakeClient(), ManualExecutor(), [100.0]
    sink = EventsSink(job, client=client, auth=FakeAuthStore({"pixel": events_token("t")}), dlq=FakeDLQ(),
                      metrics=Metrics(CollectorRegistry()), parking=MemoryParking(), executor=executor,
                      clock=lambda: now[0])
    for offset, value in enumerate(values):
        trigger = decode(value, None)
        if trigger.audience in job.audiences and trigger.event in job.triggers:
            sink.submit(trigger, ("t", 0), offset)
    now[0] += job.linger_ms / 1000.0  # the linger of the last, partial batch passes
    sink.poll()
    while executor.run():
        sink.poll()
    return [r.body for r in client.requests]


def test_events_bodies_are_the_sinks_bodies_batch_by_batch() -> None:
    values = [record(i) for i in range(5)] + [record(9, audience="other"), record(8, event="exit")]
    report = preview_job(parse_job(WEB), inputs(values))
    assert [r.path for r in report.requests] == ["/event/track/"] * 3
    assert [r.body for r in report.requests] == sink_bodies(WEB, values)
    assert [len(r.body["data"]) for r in report.requests] == [2, 2, 1]


def test_each_trigger_says_what_was_left_out_and_why() -> None:
    values = [record(1, phone="+1 555 555 0100"), record(2, phone="", audience="aud", email="not-an-email"),
              record(3, audience="other"), record(4, event="exit"), b"{not json"]
    report = preview_job(parse_job({**WEB, "phone_policy": "valid"}), inputs(values))
    got = [(t.offset_or_line, t.routed, [(d.field, d.reason) for d in t.dropped]) for t in report.triggers]
    assert got[0] == (1, True, [("user.phone", "not_valid")])
    assert got[1] == (2, True, [("user.email", "malformed"), ("user.phone", "empty")])
    assert got[2][1:] == (False, [("audience", "not routed: audience 'other' is not the job's ('aud')")])
    assert got[3][1:] == (False, [("event", "not routed: an exit trigger; the job takes enter triggers")])
    assert got[4][1] is False and got[4][2][0][0] == "record" and "invalid_json" in got[4][2][0][1]
    assert 'properties.num_items = 1 (derive count)' in report.triggers[0].notes
    assert 'user.ttclid = "T1" (url_param ttclid)' in report.triggers[0].notes


def test_a_missing_property_is_named() -> None:
    report = preview_job(parse_job(WEB), inputs([record(1, total=None)]))
    assert [(d.field, d.reason) for d in report.triggers[0].dropped] == [("properties.value", "missing")]


def test_a_crm_trigger_without_a_lead_id_is_reported_dead_lettered_and_sends_nothing() -> None:
    crm = {"id": "crm-job", "type": "crm_events", "auth": "c", "audiences": ["aud"], "event_set_id": "7300",
           "event_name": "QualifiedLead", "lead_id_field": "user.lead_id", "lead_event_source": "HubSpot",
           "identifiers": {"user.email": "email"}}
    report = preview_job(parse_job(crm), inputs([record(1, lead_id="L-1"), record(2)]))
    assert [d["lead"] for r in report.requests for d in r.body["data"]] == [
        {"lead_id": "L-1", "lead_event_source": "HubSpot"}]
    assert report.requests[0].body["event_source"] == "crm"
    (dropped,) = report.triggers[1].dropped
    assert dropped.field == "lead.lead_id" and dropped.reason.startswith("missing_lead_id: ")
    assert dropped.reason.endswith("(dead-lettered)")


def test_a_file_audience_shows_its_lines_calculate_type_and_operations() -> None:
    values = [record(1, audience="vip"), record(2, audience="vip"), record(2, audience="vip", event="exit"),
              record(3, audience="vip", event="exit"), record(4, audience="vip", email="")]
    report = preview_job(parse_job(AUDIENCE), inputs(values))
    paths = [(r.path, r.body.get("action")) for r in report.requests]
    assert paths == [("/dmp/custom_audience/file/upload/", None), ("/dmp/custom_audience/update/", "APPEND"),
                     ("/dmp/custom_audience/file/upload/", None), ("/dmp/custom_audience/update/", "REMOVE")]
    append_file, append, remove_file, remove = (r.body for r in report.requests)
    from tikstream.mapping.normalise import audience_normaliser

    def sha(email: str) -> str:
        value, _ = audience_normaliser("EMAIL_SHA256")(email)
        assert value is not None
        return value

    assert append_file["calculate_type"] == "EMAIL_SHA256"
    assert append_file["lines"] == [sha("user1@example.com")]  # user 2's exit came last: a REMOVE
    assert sorted(remove_file["lines"]) == sorted([sha("user2@example.com"), sha("user3@example.com")])
    assert append["file_paths"] == [f"<file_path of {append_file['file_name']}>"]
    assert remove["file_paths"] == [f"<file_path of {remove_file['file_name']}>"]
    assert [(d.field, d.reason) for d in report.triggers[4].dropped] == [("user.email", "empty")]
    assert "no usable identifier" in report.triggers[4].notes[0]


def test_a_kind_without_a_previewer_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(PREVIEWERS, "delivery: file")
    with pytest.raises(ConfigError, match=r"^preview of delivery: file is not available in this build$"):
        preview_job(parse_job(AUDIENCE), [])


def test_the_json_document_has_exactly_the_documented_keys() -> None:
    doc = preview_job(parse_job(WEB), inputs([record(1), record(2, audience="x")])).to_json()
    assert set(doc) == {"requests", "triggers"}
    assert all(set(r) == {"method", "path", "body"} for r in doc["requests"])
    assert all(set(t) == {"offset_or_line", "routed", "dropped"} for t in doc["triggers"])
    assert all(set(d) == {"field", "reason"} for t in doc["triggers"] for d in t["dropped"])


def test_a_streaming_audience_is_previewed_by_the_sinks_own_preview() -> None:
    """A streaming audience gives the ``/segment/mapping/`` bodies of the audience sink's own preview, only for
    the triggers the job routes, with what each trigger left out."""
    streaming = parse_job({**AUDIENCE, "delivery": "streaming"})
    values = [record(1, audience="vip"), record(2, audience="other"), record(3, audience="vip")]
    report = preview_job(streaming, inputs(values))
    assert report.kind == "delivery: streaming"
    assert [r.path for r in report.requests] == ["/segment/mapping/"]
    body = report.requests[0].body
    assert body["action"] == "add" and len(body["batch_data"]) == 2  # users 1 and 3; user 2 is not routed
    assert [t.routed for t in report.triggers] == [True, False, True]


def test_a_disabled_job_is_previewed_with_a_note() -> None:
    report = preview_job(parse_job({**WEB, "enabled": False}), inputs([record(1)]))
    assert len(report.requests) == 1
    assert report.notes == ["the job is disabled (enabled: false): a real run sends nothing until it is enabled"]

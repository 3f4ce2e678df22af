"""A parked record that the current version of a crm job cannot use (no lead id: a newer version reads it from
another field) is dead-lettered with the reason and done for the parked reader, not retried for ever."""

from __future__ import annotations

import orjson
from events_fakes import FakeDLQ, MemoryParking

from tikstream.jobs.models import parse_job
from tikstream.mapping.compile import compile_events_job
from tikstream.sinks.events.park import ParkingDesk

CRM = {"id": "crm-job", "type": "crm_events", "auth": "c", "audiences": ["leads"], "event_set_id": "7300",
       "event_name": "QualifiedLead", "lead_id_field": "user.crm_id", "lead_event_source": "HubSpot",
       "identifiers": {"user.email": "email"}}


def test_a_parked_crm_record_without_a_lead_id_is_dead_lettered_and_done() -> None:
    mapper = compile_events_job(parse_job(CRM))  # type: ignore[arg-type]
    parking, dlq = MemoryParking(), FakeDLQ()
    desk = ParkingDesk("crm-job", parking, mapper.map, dlq, redrain_seconds=60.0, now=0.0)
    for i, user in enumerate(({"crm_id": "L-1"}, {"lead_id": "L-2"})):
        value = orjson.dumps({"audience": "leads", "event": "enter", "user_id": f"u-{i}", "ts": 1_800_000_000,
                              "user": {"email": f"u{i}@example.com", **user}})
        parking.park(f"crm-job/t/0/{i}".encode(), value, [("ts_ms", b"1800000000000")], None, lambda _t: None)
    items = desk.read(0.0, 10)
    assert [orjson.loads(item.body)["lead"]["lead_id"] for item in items] == ["L-1"]
    (letter,) = dlq.sent
    assert (letter.error_class, letter.job, letter.offset) == ("missing_lead_id", "crm-job", 1)
    assert "no lead id at user.crm_id" in letter.error
    assert parking.committed == {1}  # done for the reader; the sent one waits for TikTok


def test_the_sink_refuses_a_crm_trigger_without_a_lead_id_at_submit_and_maps_the_rest_with_their_leads() -> None:
    """The events sink maps a batch when it seals it; a crm trigger without a lead id must be refused alone,
    at ``submit`` (the poll loop dead-letters it for this job), never fail the batch it would have joined."""
    import pytest
    from events_fakes import OK, FakeAuthStore, FakeClient, ManualExecutor
    from prometheus_client import CollectorRegistry

    from tikstream.auth import EventsToken
    from tikstream.errors import InvalidRecord
    from tikstream.metrics import Metrics
    from tikstream.records import decode
    from tikstream.sinks.events.config import EventsSinkConfig
    from tikstream.sinks.events.sink import EventsSink

    job = parse_job({**CRM, "batch_max_events": 3})
    client, executor = FakeClient(lambda token, body: OK), ManualExecutor()
    auth = FakeAuthStore({"c": EventsToken(kind="events_token", access_token="tok", event_set_id="7300")})
    sink = EventsSink(job, client=client, auth=auth, dlq=FakeDLQ(), # type: ignore[arg-type]
                      metrics=Metrics(CollectorRegistry()), parking=MemoryParking(), config=EventsSinkConfig(),
                      executor=executor)
    users = [{"crm_id": "L-0"}, {"lead_id": "no crm_id"}, {"crm_id": 17}, {"crm_id": "L-3"}]
    for i, user in enumerate(users):
        trigger = decode(orjson.dumps({"audience": "leads", "event": "enter", "user_id": f"u-{i}",
                                       "ts": 1_800_000_000, "user": {"email": f"u{i}@example.com", **user}}), None)
        if i == 1:
            with pytest.raises(InvalidRecord, match=r"no lead id at user\.crm_id") as refused:
                sink.submit(trigger, ("t", 0), i)
            assert refused.value.reason == "missing_lead_id"
        else:
            sink.submit(trigger, ("t", 0), i)
    assert sink.pending() == {("t", 0): 0}  # offset 1 is not owed by this sink
    sink.poll()
    executor.run()
    sink.poll()
    (request,) = client.requests
    assert [e["lead"] for e in request.body["data"]] == [
        {"lead_id": "L-0", "lead_event_source": "HubSpot"}, {"lead_id": "17", "lead_event_source": "HubSpot"},
        {"lead_id": "L-3", "lead_event_source": "HubSpot"}]
    assert sink.pending() == {}

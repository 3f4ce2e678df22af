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

"""crm_events: the job model, the ``lead`` the mapper adds, and the trigger without a lead id (docs/architecture.md
§4.2; docs/tiktok-api.md §3.2: ``lead.lead_id`` is required for crm)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tikstream.errors import InvalidRecord, JobConfigError
from tikstream.jobs.models import CrmEventsJob, parse_job
from tikstream.mapping.compile import compile_events_job
from tikstream.records import Trigger, decode

TS = 1_735_689_600
CRM: dict[str, Any] = {
    "id": "crm-job", "type": "crm_events", "auth": "a", "audiences": ["leads"], "event_set_id": "7300",
    "event_name": "QualifiedLead", "lead_id_field": "user.lead_id", "lead_event_source": "HubSpot",
    "identifiers": {"user.email": "email"},
}  # fmt: skip


def trig(user: dict[str, Any]) -> Trigger:
    return decode(orjson.dumps({"audience": "leads", "event": "enter", "user_id": "u-1", "ts": TS, "user": user}),
                  None)


def crm_job(**overrides: Any) -> CrmEventsJob:
    job = parse_job({**CRM, **overrides})
    assert isinstance(job, CrmEventsJob)
    return job


@pytest.mark.parametrize(("raw", "sent"), [
    pytest.param("L-1", "L-1", id="string"),
    pytest.param(7301234567890, "7301234567890", id="number-in-decimal"),
    pytest.param(" L-2 ", " L-2 ", id="string-as-given"),
])  # fmt: skip
def test_the_lead_carries_the_lead_id_as_a_string_and_the_crm_name(raw: object, sent: str) -> None:
    event = compile_events_job(crm_job())(trig({"email": "a@x.co", "lead_id": raw}))
    assert event is not None
    assert event["lead"] == {"lead_id": sent, "lead_event_source": "HubSpot"}
    assert "limited_data_use" not in event  # web and app only (docs/tiktok-api.md §3.2), unless asked for


@pytest.mark.parametrize("user", [
    pytest.param({"email": "a@x.co"}, id="absent"),
    pytest.param({"lead_id": None}, id="null"),
    pytest.param({"lead_id": "  "}, id="blank"),
    pytest.param({"lead_id": True}, id="boolean"),
    pytest.param({"lead_id": {"id": 1}}, id="object"),
])  # fmt: skip
def test_a_trigger_without_a_lead_id_is_refused_with_the_reason(user: dict[str, Any]) -> None:
    mapper = compile_events_job(crm_job())
    with pytest.raises(InvalidRecord) as caught:
        mapper(trig(user))
    assert caught.value.reason == "missing_lead_id"
    assert "no lead id at user.lead_id" in caught.value.detail
    assert mapper.counts.take() == {}  # refused before any identifier was looked at


def test_limited_data_use_is_sent_when_the_job_asks() -> None:
    event = compile_events_job(crm_job(limited_data_use=True))(trig({"lead_id": "L"}))
    assert event is not None and event["limited_data_use"] is True


@pytest.mark.parametrize(("overrides", "path", "message"), [
    pytest.param({"lead_id_field": None}, "lead_id_field", "is required", id="no-lead-id-field"),
    pytest.param({"lead_event_source": None}, "lead_event_source", "is required", id="no-crm-name"),
    pytest.param({"lead_event_source": ""}, "lead_event_source", "1 to 64 printable characters", id="empty-name"),
    pytest.param({"lead_id_field": "lead id"}, "lead_id_field", "a record path", id="bad-path"),
    pytest.param({"event_set_id": 7300}, "event_set_id", "quote it", id="numeric-event-set"),
    pytest.param({"identifiers": {"user.idfa": "idfa"}}, "identifiers.user.idfa",
                 "'idfa' is not a TikTok user field of crm events", id="app-only-identifier"),
])  # fmt: skip
def test_job_errors(overrides: dict[str, Any], path: str, message: str) -> None:
    doc = {k: v for k, v in {**CRM, **overrides}.items() if v is not None}
    with pytest.raises(JobConfigError) as caught:
        parse_job(doc)
    found = {e.path: e.message for e in caught.value.errors}
    assert path in found, found
    assert message in found[path]


def test_custom_event_names_are_taken() -> None:
    assert crm_job(event_name="MeetingBooked").event_name == "MeetingBooked"
    assert crm_job().source == "crm" and crm_job().event_source_id == "7300"

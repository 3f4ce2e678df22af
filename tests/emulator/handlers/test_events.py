"""``POST /event/track/`` over real sockets: each kind of body with the answer docs/tiktok-api.md §3 documents, and
what is kept (whole batches only, deduplicated).
"""

from __future__ import annotations

import pytest
from emu_api import PIXEL, Api, Send, assert_answer, event, sha


def _app_event(**user: str) -> dict[str, object]:
    return event(0, event="InstallApp", user=user, app={"app_id": "com.example.app"})


CASES = [
    pytest.param(lambda a: a.track([event(i) for i in range(3)]), 200, 0, "OK", id="track-web-ok"),
    pytest.param(lambda a: a.track([event(i) for i in range(1000)]), 200, 0, "OK", id="track-1000-events-ok"),
    pytest.param(
        lambda a: a.track([event(i) for i in range(1001)]),
        200,
        40002,
        "data: Length must be between 1 and 1000",
        id="track-1001-events-rejected",
    ),
    pytest.param(lambda a: a.track([]), 200, 40002, "data: Length must be between 1 and 1000", id="track-empty-data"),
    pytest.param(
        lambda a: a.track([event()], source="pixel"),
        200,
        40002,
        "event_source: Must be one of",
        id="track-bad-event-source",
    ),
    pytest.param(
        lambda a: a.track([event()], source_id=""),
        200,
        40002,
        "event_source_id: Missing data",
        id="track-empty-event-source-id",
    ),
    pytest.param(
        lambda a: a.track([event(0), event(1), event(2), event(3, event_id=3)]),
        200,
        40002,
        "data.3.event_id: Not a valid string",
        id="track-numeric-event-id",
    ),
    pytest.param(
        lambda a: a.track([event(0, event_time=1735689600.0)]),
        200,
        40002,
        "data.0.event_time: Not a valid integer",
        id="track-float-event-time",
    ),
    pytest.param(
        lambda a: a.track([event(0, event_time="1735689600")]),
        200,
        40002,
        "data.0.event_time: Not a valid integer",
        id="track-string-event-time",
    ),
    pytest.param(
        lambda a: a.track([event(0, event_time=1735689600000)]),
        200,
        40002,
        "data.0.event_time: Must be a Unix timestamp in seconds",
        id="track-milliseconds-event-time",
    ),
    pytest.param(
        lambda a: a.track([event(0, user={"email": "alice@example.com"})]),
        200,
        40002,
        "data.0.user.email: Not a valid SHA-256 hash",
        id="track-raw-email",
    ),
    pytest.param(
        lambda a: a.track([event(0, user={"phone": [sha("+12133734253").upper()]})]),
        200,
        40002,
        "data.0.user.phone.0: Not a valid SHA-256 hash",
        id="track-upper-case-hash",
    ),
    pytest.param(
        lambda a: a.track([event(0), event(1, user={"external_id": [sha("u"), "u-2"]})]),
        200,
        40002,
        "data.1.user.external_id.1: Not a valid SHA-256 hash",
        id="track-one-raw-value-in-list",
    ),
    pytest.param(
        lambda a: a.track(
            [_app_event(idfa="5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25", att_status="AUTHORIZED")],
            source="app",
            source_id="7123456789",
        ),
        200,
        0,
        "OK",
        id="track-app-raw-idfa-ok",
    ),
    pytest.param(
        lambda a: a.track(
            [_app_event(idfa="5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25")], source="app", source_id="7123456789"
        ),
        200,
        40002,
        "data.0.user.idfa: Not a valid IDFA",
        id="track-app-lower-case-raw-idfa",
    ),
    pytest.param(
        lambda a: a.track([event(0, event="LoyaltyTierUp")], source="offline", source_id="1616318632825"),
        200,
        40002,
        "data.0.event: Offline events must be standard events",
        id="track-offline-custom-event",
    ),
    pytest.param(
        lambda a: a.track([event(0)], source="crm", source_id="77"),
        200,
        40002,
        "data.0.lead: Missing data for required field",
        id="track-crm-without-lead",
    ),
    pytest.param(
        lambda a: a.track([event(0, lead={"lead_event_source": "HubSpot"})], source="crm", source_id="77"),
        200,
        40002,
        "data.0.lead.lead_id: Missing data for required field",
        id="track-crm-lead-without-lead-id",
    ),
    pytest.param(
        lambda a: a.track([event(0, lead={"lead_id": 7301234567890})], source="crm", source_id="77"),
        200,
        40002,
        "data.0.lead.lead_id: Not a valid string",
        id="track-crm-numeric-lead-id",
    ),
    pytest.param(
        lambda a: a.track([event(0, lead={"lead_id": ""})], source="crm", source_id="77"),
        200,
        40002,
        "data.0.lead.lead_id: Missing data for required field",
        id="track-crm-empty-lead-id",
    ),
    pytest.param(
        lambda a: a.track([event(0, lead={"lead_id": "L-1", "lead_event_source": "HubSpot"})], source="crm",
                          source_id="77"),
        200,
        0,
        "OK",
        id="track-crm-ok",
    ),
    pytest.param(
        lambda a: a.track([event(0, lead={"lead_id": "L-1", "lead_event_source": 7})], source="crm", source_id="77"),
        200,
        40002,
        "data.0.lead.lead_event_source: Not a valid string",
        id="track-crm-numeric-lead-event-source",
    ),
    pytest.param(
        lambda a: a.track([event(0, event_id=12345)]),
        200,
        40002,
        "data.0.event_id: Not a valid string",
        id="track-numeric-event-id",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"contents": [{"content_id": "sku-1", "price": "4.00"}]})]),
        200,
        40002,
        "data.0.properties.contents.0.price: Not a valid number",
        id="track-string-price",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"contents": [{"content_id": "sku-1", "quantity": 1.5}]})]),
        200,
        40002,
        "data.0.properties.contents.0.quantity: Not a valid integer",
        id="track-fractional-quantity",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"contents": {"content_id": "sku-1"}})]),
        200,
        40002,
        "data.0.properties.contents: Not a valid list",
        id="track-contents-not-a-list",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"content_ids": [1077218]})]),
        200,
        40002,
        "data.0.properties.content_ids.0: Not a valid string",
        id="track-numeric-content-ids",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"value": "$12.50"})]),
        200,
        40002,
        "data.0.properties.value: Not a valid number",
        id="track-value-with-a-currency-symbol",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"num_items": 2.5})]),
        200,
        40002,
        "data.0.properties.num_items: Not a valid integer",
        id="track-fractional-num-items",
    ),
    pytest.param(
        lambda a: a.track([event(0, properties={"contents": [{"content_id": 1077218}]})]),
        200,
        40002,
        "data.0.properties.contents.0.content_id: Not a valid string",
        id="track-numeric-content-id",
    ),
    pytest.param(
        lambda a: a.call("POST", "/event/track/", content=b"{not json"), 200, 40002, "Invalid JSON", id="track-not-json"
    ),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_track_answer(api: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    assert_answer(send(api), http_status, code, message)


def test_replayed_events_are_accepted_and_counted_as_duplicates(api: Api) -> None:
    batch = [event(i) for i in range(5)]
    assert api.track(batch).json()["code"] == 0
    assert api.track(batch).json()["code"] == 0
    assert api.track(batch, source_id="COTHERPIXEL").json()["code"] == 0  # the key includes the source id
    events = api.admin("state", events=1)["events"]
    assert (events["received"], events["duplicates"], events["unique"]) == (15, 5, 10)
    assert [e["duplicate"] for e in events["list"]] == [False] * 5 + [True] * 5 + [False] * 5
    assert events["list"][0]["source_id"] == PIXEL and events["list"][0]["event_id"] == "order-0"


def test_duplicates_expire_after_48_hours(api: Api) -> None:
    api.track([event(0)])
    api.advance(48 * 3600 + 1)
    api.track([event(0)])
    assert api.admin("state")["events"]["duplicates"] == 0


def test_events_without_event_id_are_never_duplicates(api: Api) -> None:
    item = event(0)
    del item["event_id"]
    api.track([item, item])
    assert api.admin("state")["events"]["duplicates"] == 0


def test_a_rejected_batch_keeps_nothing(api: Api) -> None:
    reply = api.track([event(0), event(1, event_id=1)])
    assert reply.json()["code"] == 40002
    assert api.admin("state")["events"]["received"] == 0

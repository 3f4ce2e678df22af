"""Every validation error names the offending value and, where one is close, the valid value it probably meant;
one row per enum-like or patterned field of the job models and the authorization file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tikstream.auth import load_authorizations
from tikstream.errors import AuthConfigError, JobConfigError
from tikstream.jobs.models import parse_job

WEB: dict[str, Any] = {
    "id": "web", "type": "web_events", "auth": "a", "audiences": ["vip"], "pixel_code": "C4ABCDEF",
    "event_name": "Purchase", "page_url_field": "user.url", "identifiers": {"user.email": "email"},
}  # fmt: skip
APP: dict[str, Any] = {
    "id": "app", "type": "app_events", "auth": "a", "audiences": ["vip"], "app_id": "720", "app_name": "Shop",
    "event_name": "Purchase", "identifiers": {"user.idfa": "idfa"},
}  # fmt: skip
OFFLINE: dict[str, Any] = {
    "id": "off", "type": "offline_events", "auth": "a", "audiences": ["vip"], "event_set_id": "16",
    "event_name": "Purchase", "identifiers": {"user.email": "email"},
}  # fmt: skip
AUDIENCE: dict[str, Any] = {
    "id": "aud", "type": "audience_export", "auth": "a", "audience": "vip", "advertiser_id": "7000",
    "identifiers": {"user.email": "EMAIL_SHA256"},
}  # fmt: skip


@pytest.mark.parametrize(("doc", "path", "message"), [
    pytest.param({**WEB, "type": "web_event"}, "type",
                 "'web_event' is not a known type; expected one of 'audience_export', 'app_events', 'web_events', "
                 "'offline_events', 'crm_events'; did you mean 'web_events'?", id="type"),
    pytest.param({**WEB, "identifiers": {"user.email": "emial"}}, "identifiers.user.email",
                 "'emial' is not a TikTok user field of web events; did you mean 'email'?", id="events-identifier"),
    pytest.param({**AUDIENCE, "identifiers": {"user.email": "email_sha256"}}, "identifiers.user.email",
                 "'email_sha256' is not one of 'EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256', 'IDFA_MD5', "
                 "'GAID_SHA256' or 'GAID_MD5'; did you mean 'EMAIL_SHA256'?", id="calculate-type-case"),
    pytest.param({**AUDIENCE, "identifiers": {"user.phone": "PHONE"}}, "identifiers.user.phone",
                 "did you mean 'PHONE_SHA256'?", id="calculate-type-prefix"),
    pytest.param({**WEB, "triggers": ["entr"]}, "triggers.0", "'entr' is not one of 'enter' or 'exit'; did you mean "
                 "'enter'?", id="triggers"),
    pytest.param({**WEB, "phone_policy": "E.164"}, "phone_policy", "'E.164' is not one of 'valid', 'possible' or "
                 "'e164'; did you mean 'e164'?", id="phone-policy"),
    pytest.param({**APP, "device_id_policy": "uuids"}, "device_id_policy", "'uuids' is not one of 'uuid' or 'any'; "
                 "did you mean 'uuid'?", id="device-id-policy"),
    pytest.param({**WEB, "event_name": "purchase"}, "event_name", "'purchase': event names are case-sensitive; did "
                 "you mean 'Purchase'?", id="event-name-case"),
    pytest.param({**OFFLINE, "event_name": "Purchse"}, "event_name", "'Purchse' is not a standard event name, and "
                 "offline events take standard names only; did you mean 'Purchase'?", id="offline-event-name"),
    pytest.param({**OFFLINE, "event_name": "CompletePayment"}, "event_name", "'CompletePayment' is a legacy name: use "
                 "'Purchase'", id="offline-legacy-event-name"),
    pytest.param({**WEB, "pixel_code": "c4abcdef"}, "pixel_code", "must be a pixel code: 4 to 64 uppercase letters "
                 "and digits, not 'c4abcdef'; did you mean 'C4ABCDEF'?", id="pixel-code-case"),
    pytest.param({**WEB, "default_phone_region": "us"}, "default_phone_region", "not 'us'; did you mean 'US'?",
                 id="region-case"),
    pytest.param({**WEB, "audiences": ["VIP"]}, "audiences.0", "not 'VIP'; did you mean 'vip'?", id="slug-case"),
    pytest.param({**WEB, "id": "Web Job"}, "id", "not 'Web Job'", id="id"),
    pytest.param({**WEB, "batch_max_events": 5000}, "batch_max_events",
                 "must be less than or equal to 1000, not 5000", id="number-range"),
    pytest.param({**WEB, "limited_data_use": "yes"}, "limited_data_use", "must be a valid boolean, not 'yes'",
                 id="boolean"),
    pytest.param({**WEB, "properties": {"content_type": {"const": "prodct"}}}, "properties.content_type",
                 "const 'prodct' is not one of 'product', 'product_group', 'hotel', 'flight', 'destination', "
                 "'vehicle'; did you mean 'product'?", id="const-enum"),
    pytest.param({**WEB, "properties": {"travel_class": {"const": "economy"}}}, "properties.travel_class",
                 "const 'economy' is not one of 'eco', 'prem', 'bus', 'first'", id="travel-enum"),
    pytest.param({**WEB, "properties": {"user.cart": "contents", "num_items": {"derive": "cont"}}},
                 "properties.num_items", "'cont' is not a derivation; did you mean 'count'?", id="derive"),
    pytest.param({**WEB, "properties": {"value": {"pth": "user.total"}}}, "properties.value.pth",
                 "unknown key 'pth'; did you mean 'path'?", id="source-key"),
    pytest.param({**WEB, "pixel_cod": "C4ABCDEF"}, "pixel_cod", "unknown field; did you mean 'pixel_code'?",
                 id="unknown-field"),
])  # fmt: skip
def test_the_error_names_the_value_and_what_it_probably_meant(doc: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job(doc)
    found = {e.path: e.message for e in caught.value.errors}
    assert path in found, found
    assert message in found[path]


def test_an_unknown_authorization_kind_gets_a_hint_but_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_bytes(orjson.dumps({"authorizations": {"a": {"kind": "event_token", "access_token": "t"}}}))
    with pytest.raises(AuthConfigError) as caught:
        load_authorizations(path)
    message = str(caught.value)
    assert "authorizations.a.kind: is not a known value; expected one of" in message
    assert "did you mean 'events_token'?" in message and "'event_token'" not in message

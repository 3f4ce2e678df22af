"""Every request class against the emulator over real sockets, each with the answer TIKTOK_API.md documents.

Each case sends one request (after any setup it needs) and checks the HTTP status, the envelope ``code`` and a
fragment of the message. Setup uses the same client, so a broken setup fails loudly in its own assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emu_api import ADVERTISER, Api, answer, event, file_bytes, hashes, md5, sha

Send = Callable[[Api], httpx.Response]
LENIENT = {"min_audience_size": 0, "audience_ready_seconds": 0}


def lenient(api: Api) -> Api:
    api.admin("settings", LENIENT)
    return api


def _app_event(**user: str) -> dict[str, object]:
    return event(0, event="InstallApp", user=user, app={"app_id": "com.example.app"})


def _auth_code(api: Api, state: str = "xyz") -> str:
    params = {"app_id": "emulator-app", "redirect_uri": "http://127.0.0.1:9/cb", "state": state}
    reply = api.client.get(f"{api.root}/portal/auth", params=params, follow_redirects=False)
    assert reply.status_code == 302, reply.text
    return parse_qs(urlsplit(reply.headers["location"]).query)["auth_code"][0]


def _exchange(api: Api, code: str, secret: str = "emulator-secret") -> httpx.Response:
    body = {"app_id": "emulator-app", "secret": secret, "auth_code": code}
    return api.call("POST", "/oauth2/access_token/", token=None, json=body)


def _used_twice(api: Api) -> httpx.Response:
    code = _auth_code(api)
    assert _exchange(api, code).json()["code"] == 0
    return _exchange(api, code)


def _advertisers_of_minted(api: Api) -> httpx.Response:
    token = _exchange(api, _auth_code(api)).json()["data"]["access_token"]
    query = {"app_id": "emulator-app", "secret": "emulator-secret"}
    return api.call("GET", "/oauth2/advertiser/get/", token=token, params=query)


def _update_before_ready(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(3))
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(2, "more"))])


def _update_after_ready(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(3))
    api.advance(3.0)
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(2, "more"))])


def _append_below_minimum(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(5))
    api.admin("settings", {"min_audience_size": 1000, "audience_ready_seconds": 0})
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(5, "more"))])


def _list(api: Api) -> httpx.Response:
    lenient(api).audience(hashes(2))
    params = {"advertiser_id": ADVERTISER, "page": "1", "page_size": "10"}
    return api.call("GET", "/dmp/custom_audience/list/", params=params)


def _deleted_then_get(api: Api) -> httpx.Response:
    audience_id = lenient(api).audience(hashes(2))
    body = {"advertiser_id": ADVERTISER, "custom_audience_ids": [audience_id]}
    assert api.call("POST", "/dmp/custom_audience/delete/", json=body).json()["code"] == 0
    return api.get([audience_id])


MULTI = ["Email_SHA256,PHONE_SHA256,maid_md5", f"{sha('a')},,{md5('x')}", f",{sha('+12133734253')},"]

CASES = [
    # transport, envelope, tokens (TIKTOK_API.md §1)
    pytest.param(
        lambda a: a.client.post(a.base + "/event/track", json={}),
        404,
        None,
        "page not found",
        id="path-without-trailing-slash-404",
    ),
    pytest.param(
        lambda a: a.track([event()], token=None), 200, 40104, "Access token is null", id="missing-token-40104"
    ),
    pytest.param(lambda a: a.call("GET", "/event/track/"), 405, None, "", id="wrong-method-405"),
    # events (§3)
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
        lambda a: a.track([event(0, properties={"contents": [{"content_id": 1077218}]})]),
        200,
        40002,
        "data.0.properties.contents.0.content_id: Not a valid string",
        id="track-numeric-content-id",
    ),
    pytest.param(
        lambda a: a.call("POST", "/event/track/", content=b"{not json"), 200, 40002, "Invalid JSON", id="track-not-json"
    ),
    # customer files (§2.1-§2.3)
    pytest.param(lambda a: a.upload(file_bytes(hashes(3))), 200, 0, "OK", id="upload-ok"),
    pytest.param(
        lambda a: a.upload(file_bytes(["EMAIL_SHA256", *hashes(3)])),
        200,
        0,
        "OK",
        id="upload-single-type-header-tolerated",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), signature=md5("other")),
        200,
        40900,
        "file_signature",
        id="upload-md5-mismatch-40900",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), filename="users.xlsx"),
        200,
        40908,
        ".csv or .txt",
        id="upload-wrong-extension-40908",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), calculate_type="EMAIL"),
        200,
        40909,
        "calculate_type",
        id="upload-unknown-calculate-type-40909",
    ),
    pytest.param(lambda a: a.upload(b""), 200, 40906, "empty", id="upload-empty-file-40906"),
    pytest.param(
        lambda a: a.upload(file_bytes([*hashes(2), "bob@example.com"])),
        200,
        40915,
        "line 3",
        id="upload-raw-value-40915",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(2)), calculate_type="IDFA_MD5"),
        200,
        40915,
        "MD5",
        id="upload-sha256-lines-in-md5-file-40915",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(MULTI), calculate_type="MULTIPLE_TYPES"),
        200,
        0,
        "OK",
        id="upload-multiple-types-ok",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(["Email", "a@example.com"]), calculate_type="MULTIPLE_TYPES"),
        200,
        40915,
        "raw values",
        id="upload-multiple-types-raw-column-40915",
    ),
    # audiences (§2.4-§2.8)
    pytest.param(lambda a: lenient(a).create([a.file_path(hashes(3))]), 200, 0, "OK", id="create-ok"),
    pytest.param(lambda a: a.create([a.file_path(hashes(1000))]), 200, 0, "OK", id="create-1000-members-ok"),
    pytest.param(
        lambda a: a.create([a.file_path(hashes(999))]), 200, 40002, "at least 1000", id="create-below-1000-members"
    ),
    pytest.param(
        lambda a: lenient(a).create([a.file_path(hashes(3), "MAID_SHA256")], "MAID_SHA256"),
        200,
        40002,
        "calculate_type: Must be one of",
        id="create-maid-key-not-in-create-enum",
    ),
    pytest.param(
        lambda a: lenient(a).create([a.file_path(hashes(3))], "PHONE_SHA256"),
        200,
        40002,
        "does not match",
        id="create-file-of-other-type",
    ),
    pytest.param(
        lambda a: lenient(a).create(["emulator/nope"]),
        200,
        40007,
        "does not exist",
        id="create-unknown-file-path-40007",
    ),
    pytest.param(_update_before_ready, 200, 40002, "under processing", id="update-while-processing"),
    pytest.param(_update_after_ready, 200, 0, "OK", id="update-append-once-ready"),
    pytest.param(_append_below_minimum, 200, 40002, "at least 1000", id="update-leaving-fewer-than-1000"),
    pytest.param(
        lambda a: a.update(lenient(a).audience(hashes(2)), action="DELETE", file_paths=[a.file_path(hashes(1))]),
        200,
        40002,
        "action: Must be one of: APPEND, REMOVE, REPLACE",
        id="update-delete-is-not-an-action",
    ),
    pytest.param(lambda a: a.get([lenient(a).audience(hashes(2))]), 200, 0, "OK", id="get-ok"),
    pytest.param(lambda a: a.get(["123"]), 200, 40007, "does not exist", id="get-unknown-audience-40007"),
    pytest.param(_list, 200, 0, "OK", id="list-ok"),
    pytest.param(_deleted_then_get, 200, 40007, "does not exist", id="delete-then-get-40007"),
    # OAuth (§4)
    pytest.param(lambda a: _exchange(a, _auth_code(a)), 200, 0, "OK", id="oauth-exchange-ok"),
    pytest.param(_used_twice, 200, 40110, "auth_code", id="oauth-code-single-use-40110"),
    pytest.param(
        lambda a: _exchange(a, _auth_code(a), secret="wrong"), 200, 40101, "secret", id="oauth-wrong-secret-40101"
    ),
    pytest.param(_advertisers_of_minted, 200, 0, "OK", id="oauth-advertiser-get-ok"),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_request_answer(api: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    got_status, got_code, got_message = answer(send(api))
    assert (got_status, got_code) == (http_status, code), got_message
    assert message in got_message


def _signin_other_advertiser(a: Api) -> httpx.Response:
    return a.upload(file_bytes(hashes(2)), advertiser_id="7999999999999999999", token="signin-token")


def _revoked(a: Api) -> httpx.Response:
    a.admin("tokens", {"revoke": ["pixel-token"]})
    return a.track([event()], token="pixel-token")


def _added(a: Api) -> httpx.Response:
    a.admin("tokens", {"add": {"new-token": {"kind": "offline_token", "event_set_id": "42"}}})
    return a.track([event()], source="offline", source_id="42", token="new-token")


def _minted_token_uploads(a: Api) -> httpx.Response:
    token = _exchange(a, _auth_code(a)).json()["data"]["access_token"]
    return a.upload(file_bytes(hashes(2)), token=token)


def _listing_with_events_token(a: Api) -> httpx.Response:
    query = {"app_id": "emulator-app", "secret": "emulator-secret"}
    return a.call("GET", "/oauth2/advertiser/get/", token="events-token", params=query)


TOKEN_CASES = [
    pytest.param(_minted_token_uploads, 200, 0, "OK", id="oauth-minted-token-accepted"),
    pytest.param(_listing_with_events_token, 200, 40001, "not a Marketing API", id="advertiser-get-events-token"),
    pytest.param(lambda a: a.track([event()], token="nobody"), 200, 40105, "", id="unknown-token-40105"),
    pytest.param(lambda a: a.track([event()], token="pixel-token"), 200, 0, "OK", id="pixel-token-own-pixel"),
    pytest.param(
        lambda a: a.track([event()], source_id="COTHER", token="pixel-token"),
        200,
        40001,
        "No permission",
        id="pixel-token-other-pixel-40001",
    ),
    pytest.param(
        lambda a: a.track([event()], source="app", source_id="7123456789", token="pixel-token"),
        200,
        40001,
        "No permission",
        id="pixel-token-app-events-40001",
    ),
    pytest.param(
        lambda a: a.track([event()], source="app", source_id="7123456789", token="app-token"),
        200,
        0,
        "OK",
        id="app-token-own-app",
    ),
    pytest.param(
        lambda a: a.track([event()], source_id="CANY", token="events-token"),
        200,
        0,
        "OK",
        id="unscoped-events-token-any-pixel",
    ),
    pytest.param(
        lambda a: a.track([event()], source="offline", source_id="1616318632825", token="offline-token"),
        200,
        0,
        "OK",
        id="offline-token-own-set",
    ),
    pytest.param(
        lambda a: a.track([event()], source="offline", source_id="999", token="offline-token"),
        200,
        40001,
        "No permission",
        id="offline-token-other-set-40001",
    ),
    pytest.param(
        lambda a: a.track([event()], token="offline-token"),
        200,
        40001,
        "No permission",
        id="offline-token-web-events-40001",
    ),
    pytest.param(
        lambda a: a.track([event()], source="offline", source_id="1616318632825", token="signin-token"),
        200,
        0,
        "OK",
        id="signin-token-any-event",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(2)), token="events-token"),
        200,
        40001,
        "No permission",
        id="events-token-dmp-40001",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(2)), token="signin-token"), 200, 0, "OK", id="signin-token-own-advertiser"
    ),
    pytest.param(_signin_other_advertiser, 200, 40001, "admin or operator", id="signin-token-other-advertiser"),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(2)), advertiser_id="1", token="signin-any"),
        200,
        0,
        "OK",
        id="unscoped-signin-any-advertiser",
    ),
    pytest.param(_revoked, 200, 40105, "revoked", id="revoked-token-40105"),
    pytest.param(_added, 200, 0, "OK", id="token-added-at-run-time"),
    pytest.param(
        lambda a: a.track([event(0, event_id=7)], token="offline-token"),
        200,
        40001,
        "No permission",
        id="permission-checked-before-items",
    ),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), TOKEN_CASES)
def test_token_answer(tapi: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    got_status, got_code, got_message = answer(send(tapi))
    assert (got_status, got_code) == (http_status, code), got_message
    assert message in got_message

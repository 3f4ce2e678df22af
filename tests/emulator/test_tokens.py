"""Access tokens over real sockets: each kind within its scope (``tapi``: an emulator started with ``--tokens``
and the YAML auth file of conftest), tokens added and revoked at run time; and the auth file in JSON.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from emu_api import Api, Send, assert_answer, auth_code, event, exchange, file_bytes, hashes

from tikstream.emulator.tokens import EVENTS, OFFLINE, SIGNIN, load_auth_file


def _signin_other_advertiser(a: Api) -> httpx.Response:
    return a.upload(file_bytes(hashes(2)), advertiser_id="7999999999999999999", token="signin-token")


def _revoked(a: Api) -> httpx.Response:
    a.admin("tokens", {"revoke": ["pixel-token"]})
    return a.track([event()], token="pixel-token")


def _added(a: Api) -> httpx.Response:
    a.admin("tokens", {"add": {"new-token": {"kind": "offline_token", "event_set_id": "42"}}})
    return a.track([event()], source="offline", source_id="42", token="new-token")


def _crm_token(event_set_id: str, source: str = "crm") -> Send:
    def send(a: Api) -> httpx.Response:
        a.admin("tokens", {"add": {"crm-token": {"kind": "events_token", "event_set_id": "7300"}}})
        lead = {"lead": {"lead_id": "L-1", "lead_event_source": "HubSpot"}}
        return a.track([event(**lead)], source=source, source_id=event_set_id, token="crm-token")

    return send


def _minted_token_uploads(a: Api) -> httpx.Response:
    token = exchange(a, auth_code(a)).json()["data"]["access_token"]
    return a.upload(file_bytes(hashes(2)), token=token)


def _listing_with_events_token(a: Api) -> httpx.Response:
    query = {"app_id": "emulator-app", "secret": "emulator-secret"}
    return a.call("GET", "/oauth2/advertiser/get/", token="events-token", params=query)


def test_a_request_without_a_token_is_refused_even_by_the_open_emulator(api: Api) -> None:
    assert_answer(api.track([event()], token=None), 200, 40104, "Access token is null")


CASES = [
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
    pytest.param(_crm_token("7300"), 200, 0, "OK", id="crm-events-token-own-event-set"),
    pytest.param(_crm_token("7301"), 200, 40001, "No permission to operate crm event source: 7301",
                 id="crm-events-token-other-event-set-40001"),
    pytest.param(_crm_token("7300", source="web"), 200, 40001, "No permission to operate web event source",
                 id="crm-events-token-web-events-40001"),
    pytest.param(
        lambda a: a.track([event(0, event_id=7)], token="offline-token"),
        200,
        40001,
        "No permission",
        id="permission-checked-before-items",
    ),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_token_answer(tapi: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    assert_answer(send(tapi), http_status, code, message)


def test_auth_file_in_json(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(
        '{"authorizations": {'
        '"a": {"kind": "tiktok_signin", "access_token": "t1", "app_id": "x", "secret": "y"},'
        '"b": {"kind": "events_token", "access_token": "t2", "pixel_code": "C1"},'
        '"c": {"kind": "offline_token", "access_token": "t3", "event_set_id": 16}}}'
    )
    grants = load_auth_file(path)
    assert {token: g.kind for token, g in grants.items()} == {"t1": SIGNIN, "t2": EVENTS, "t3": OFFLINE}
    assert grants["t3"].event_set_id == "16" and grants["t2"].pixel_code == "C1"

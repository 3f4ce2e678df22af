"""OAuth over real sockets (docs/tiktok-api.md §4): the consent page's redirect, the code exchange, the
advertiser list."""

from __future__ import annotations

import httpx
import pytest
from emu_api import Api, Send, assert_answer, auth_code, exchange


def _used_twice(api: Api) -> httpx.Response:
    code = auth_code(api)
    assert exchange(api, code).json()["code"] == 0
    return exchange(api, code)


def _advertisers_of_minted(api: Api) -> httpx.Response:
    token = exchange(api, auth_code(api)).json()["data"]["access_token"]
    query = {"app_id": "emulator-app", "secret": "emulator-secret"}
    return api.call("GET", "/oauth2/advertiser/get/", token=token, params=query)


CASES = [
    pytest.param(lambda a: exchange(a, auth_code(a)), 200, 0, "OK", id="oauth-exchange-ok"),
    pytest.param(_used_twice, 200, 40110, "auth_code", id="oauth-code-single-use-40110"),
    pytest.param(
        lambda a: exchange(a, auth_code(a), secret="wrong"), 200, 40101, "secret", id="oauth-wrong-secret-40101"
    ),
    pytest.param(_advertisers_of_minted, 200, 0, "OK", id="oauth-advertiser-get-ok"),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_oauth_answer(api: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    assert_answer(send(api), http_status, code, message)


def test_oauth_redirect_carries_code_and_state(api: Api) -> None:
    params = {"app_id": "emulator-app", "redirect_uri": "http://127.0.0.1:9/cb?x=1", "state": "s-1"}
    reply = api.client.get(f"{api.root}/portal/auth", params=params, follow_redirects=False)
    query = httpx.URL(reply.headers["location"]).params
    assert reply.status_code == 302
    assert query["auth_code"] == query["code"] and query["state"] == "s-1" and query["x"] == "1"

"""The application around the handlers, over real sockets: bare HTTP errors, TikTok's envelope, faults dealt
first (a faulted request changes nothing).
"""

from __future__ import annotations

import httpx
import pytest
from emu_api import Api, Send, assert_answer, event

CASES = [
    pytest.param(
        lambda a: a.client.post(a.base + "/event/track", json={}),
        404,
        None,
        "page not found",
        id="path-without-trailing-slash-404",
    ),
    pytest.param(lambda a: a.call("GET", "/event/track/"), 405, None, "", id="wrong-method-405"),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_transport_answer(api: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    assert_answer(send(api), http_status, code, message)


def test_envelope_carries_a_request_id_and_tiktok_headers(api: Api) -> None:
    reply = api.track([event(0)])
    body = reply.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["request_id"] and reply.headers["x-tt-logid"] == body["request_id"]


def test_throttled_request_changes_nothing(api: Api) -> None:
    api.admin("faults", {"throttle_rate": 1.0})
    reply = api.track([event(0)])
    assert (reply.status_code, reply.json()["code"]) == (200, 40100)
    assert reply.json()["message"] == "Too many requests. Please retry in some time."
    api.admin("faults", {"throttle_rate": 0.0})
    assert api.admin("state")["events"]["received"] == 0


def test_errors_alternate_http_500_and_code_50000(api: Api) -> None:
    api.admin("faults", {"error_rate": 1.0})
    first, second = api.track([event(0)]), api.track([event(1)])
    assert first.status_code == 500
    assert (second.status_code, second.json()["code"]) == (200, 50000)
    assert api.admin("state")["events"]["received"] == 0


def test_timeout_fault_hangs_past_the_client_timeout(api: Api) -> None:
    api.admin("faults", {"timeout_rate": 1.0, "timeout_seconds": 2.0})
    with pytest.raises(httpx.ReadTimeout):
        api.client.post(api.base + "/event/track/", json={}, headers={"Access-Token": "t"}, timeout=0.3)
    api.admin("faults", {"timeout_rate": 0.0})
    assert api.admin("state")["events"]["received"] == 0


def test_latency_is_added(api: Api) -> None:
    api.admin("faults", {"latency_ms": 150})
    reply = api.track([event(0)])
    assert reply.json()["code"] == 0
    assert reply.elapsed.total_seconds() >= 0.15

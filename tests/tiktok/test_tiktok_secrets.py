"""No error path puts the access token or the app secret in str(exc), repr(exc), a log line or a metric label.

TikTok (or a proxy, or httpx) is made to echo the credentials back in every way it could, so the test proves
the scrubbing, not only that the happy path never formats a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import generate_latest
from tiktok_fakes import APP_SECRET, TOKEN, Script, envelope

from tikstream.metrics import Metrics
from tikstream.tiktok import PermanentError, RetryPolicy, TikTokClient, TikTokError

MakeClient = Callable[..., tuple[TikTokClient, Script]]
ECHO = f"token {TOKEN} secret {APP_SECRET} code auth-code-1"

FAULTS = [
    pytest.param(envelope(40105, f"Access token {TOKEN} is invalid"), id="reauthorize"),
    pytest.param(envelope(40001, ECHO), id="permanent"),
    pytest.param(envelope(40002, f"audience under processing ({TOKEN})"), id="audience-busy"),
    pytest.param(envelope(40002, f"fewer than 1000 members for {TOKEN}"), id="audience-too-small"),
    pytest.param(envelope(40100, ECHO), id="throttled"),
    pytest.param(envelope(50000, ECHO), id="server-code"),
    pytest.param(envelope(20001, ECHO), id="partial-success-log"),
    pytest.param(httpx.Response(500, text=ECHO), id="http-500"),
    pytest.param(httpx.Response(404, text=ECHO), id="http-404"),
    pytest.param(httpx.Response(200, text=ECHO), id="not-json"),
    pytest.param(httpx.ReadTimeout(ECHO), id="timeout"),
    pytest.param(httpx.ConnectError(ECHO), id="connection"),
    pytest.param(httpx.RemoteProtocolError(ECHO), id="protocol"),
    pytest.param(httpx.DecodingError(ECHO), id="other-httpx-error"),
]

CALLS: dict[str, Callable[[TikTokClient], object]] = {
    "track_events": lambda c: c.track_events(TOKEN, {"data": []}),
    "upload": lambda c: c.upload_audience_file(TOKEN, "700", "EMAIL_SHA256", b"h\n", "f.txt"),
    "create": lambda c: c.create_audience(TOKEN, "700", "n", "EMAIL_SHA256", ["fp"]),
    "update": lambda c: c.update_audience(TOKEN, "700", "a", "REMOVE", ["fp"]),
    "get": lambda c: c.get_audiences(TOKEN, "700", ["a"]),
    "list": lambda c: list(c.list_audiences(TOKEN, "700")),
    "delete": lambda c: c.delete_audiences(TOKEN, "700", ["a"]),
    "exchange": lambda c: c.exchange_auth_code("app", APP_SECRET, "auth-code-1"),
    "advertisers": lambda c: c.list_advertisers(TOKEN, "app", APP_SECRET),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("fault", FAULTS)
def test_credentials_never_leak(make_client: MakeClient, metrics: Metrics, caplog: pytest.LogCaptureFixture,
                                fault: httpx.Response | Exception, call: str) -> None:
    client, _ = make_client(fault, retry=RetryPolicy(max_attempts=2, base_seconds=0.1))
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    texts: list[str] = []
    try:
        CALLS[call](client)
    except TikTokError as exc:
        texts += [str(exc), repr(exc), exc.message, repr(exc.args)]
    partial = isinstance(fault, httpx.Response) and b"20001" in fault.content
    assert texts or partial, "every fault but a partial success raises a TikTokError"
    texts += [caplog.text] + [repr(r.__dict__) for r in caplog.records]
    texts.append(generate_latest(metrics.registry).decode())
    held = {"exchange": (APP_SECRET, "auth-code-1"), "advertisers": (TOKEN, APP_SECRET)}.get(call, (TOKEN,))
    for text in texts:
        for secret in held:
            assert secret not in text


def test_the_scrubbed_message_still_says_what_happened(make_client: MakeClient) -> None:
    client, _ = make_client(envelope(40105, f"Access token {TOKEN} is invalid"))
    with pytest.raises(TikTokError) as caught:
        client.track_events(TOKEN, {"data": []})
    assert caught.value.message == "Access token *** is invalid"


def test_client_repr_shows_no_credentials(make_client: MakeClient) -> None:
    client, _ = make_client()
    assert TOKEN not in repr(client)


@pytest.mark.parametrize("bad_token", ["tok-SECRET\nX-Evil: 1", "tök-SECRET-ünïcode"])
def test_a_token_that_is_no_valid_header_is_permanent_and_not_echoed(make_client: MakeClient,
                                                                      bad_token: str) -> None:
    client, script = make_client()
    with pytest.raises(PermanentError) as caught:
        client.track_events(bad_token, {"data": []})
    assert script.count == 0
    for text in (str(caught.value), repr(caught.value)):
        assert "SECRET" not in text

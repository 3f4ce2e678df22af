"""``TikTokClient`` over ``httpx.MockTransport`` and a manual clock: requests, envelopes, retries, limiter."""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import urllib.parse
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import httpx
import orjson
import pytest
from tiktok_fakes import APP_SECRET, TOKEN, ManualClock, Script, envelope, sample

from tikstream.metrics import Metrics
from tikstream.tiktok import (
    ENDPOINTS,
    AudienceBusyError,
    AudienceTooSmallError,
    PermanentError,
    RateLimiter,
    ReauthorizeError,
    RetryableError,
    RetryPolicy,
    ThrottledError,
    TikTokClient,
    TransportError,
    token_fingerprint,
)

MakeClient = Callable[..., tuple[TikTokClient, Script]]
EVENTS = {"event_source": "web", "event_source_id": "PIX", "data": [{"event": "Purchase", "event_id": "e1"}]}
BUSY = "The audience is currently being updated or under processing, please try again later."


def multipart(request: httpx.Request, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart body: name -> (filename, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields[name] = (part.get_filename(), payload)
    return fields


# -- requests as TikTok wants them --------------------------------------------------------------------------


def test_track_events_sends_token_header_and_json(make_client: MakeClient) -> None:
    client, script = make_client(envelope(data={}))
    env = client.track_events(TOKEN, EVENTS)
    request = script.requests[0]
    assert env.code == 0
    assert request.method == "POST"
    assert request.url.path == "/open_api/v1.3/event/track/"
    assert request.headers["Access-Token"] == TOKEN
    assert "authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(script.bodies[0]) == EVENTS


def test_track_events_passes_bytes_through_unchanged(make_client: MakeClient) -> None:
    client, script = make_client()
    raw = orjson.dumps(EVENTS) + b" "
    client.track_events(TOKEN, raw)
    assert script.bodies[0] == raw


def test_upload_sends_multipart_with_md5_and_filename(make_client: MakeClient, tmp_path: Path) -> None:
    content = b"\n".join(hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(50)) + b"\n"
    path = tmp_path / "batch-1.csv"
    path.write_bytes(content)
    client, script = make_client(envelope(data={"file_path": "fp-1"}))
    assert client.upload_audience_file(TOKEN, "700", "EMAIL_SHA256", path) == "fp-1"
    request = script.requests[0]
    assert request.url.path == "/open_api/v1.3/dmp/custom_audience/file/upload/"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    fields = multipart(request, script.bodies[0])
    assert fields["advertiser_id"] == (None, b"700")
    assert fields["calculate_type"] == (None, b"EMAIL_SHA256")
    assert fields["file_signature"] == (None, hashlib.md5(content).hexdigest().encode())
    assert fields["file"] == ("batch-1.csv", content)


def test_upload_from_bytes_is_resent_whole_on_retry(make_client: MakeClient, tmp_path: Path) -> None:
    content = b"a" * 64 + b"\n"
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    for source, name in ((content, "mem.txt"), (path, None)):
        client, script = make_client(envelope(50000, "System error"), envelope(data={"file_path": "fp"}))
        assert client.upload_audience_file(TOKEN, "700", "PHONE_SHA256", source, name) == "fp"
        first, second = (multipart(r, b) for r, b in zip(script.requests, script.bodies, strict=True))
        assert first == second
        assert first["file"][1] == content
        assert first["file_signature"][1] == hashlib.md5(content).hexdigest().encode()


@pytest.mark.parametrize("name", ["audience.json", "audience", "audience.csv.gz", ""])
def test_upload_rejects_other_file_names_before_sending(make_client: MakeClient, name: str) -> None:
    client, script = make_client()
    with pytest.raises(ValueError, match=r"\.csv or \.txt"):
        client.upload_audience_file(TOKEN, "700", "EMAIL_SHA256", b"x\n", name)
    assert script.count == 0


def test_create_audience(make_client: MakeClient) -> None:
    client, script = make_client(envelope(data={"custom_audience_id": "aud-1"}))
    assert client.create_audience(TOKEN, "700", "tikstream vip", "EMAIL_SHA256", ["fp-1"], 30) == "aud-1"
    assert orjson.loads(script.bodies[0]) == {
        "advertiser_id": "700", "custom_audience_name": "tikstream vip", "calculate_type": "EMAIL_SHA256",
        "file_paths": ["fp-1"], "retention_in_days": 30}
    client.create_audience(TOKEN, "700", "n", "EMAIL_SHA256", ["fp-1"])
    assert "retention_in_days" not in orjson.loads(script.bodies[1])


def test_create_audience_without_id_in_answer_is_permanent(make_client: MakeClient) -> None:
    client, _ = make_client(envelope(data={}))
    with pytest.raises(PermanentError, match="custom_audience_id"):
        client.create_audience(TOKEN, "700", "n", "EMAIL_SHA256", ["fp"])


@pytest.mark.parametrize(
    "kwargs",
    [{"name": ""}, {"name": "x" * 129}, {"file_paths": []}, {"file_paths": ["f"] * 501},
     {"file_paths": "fp"}, {"retention_in_days": 0}, {"retention_in_days": 366}],
)
def test_create_audience_checks_arguments(make_client: MakeClient, kwargs: dict[str, object]) -> None:
    client, script = make_client()
    args: dict[str, object] = {"name": "n", "file_paths": ["fp"], **kwargs}
    with pytest.raises(ValueError):
        client.create_audience(TOKEN, "700", calculate_type="EMAIL_SHA256", **args)  # type: ignore[arg-type]
    assert script.count == 0


@pytest.mark.parametrize("action", ["APPEND", "REMOVE", "REPLACE"])
def test_update_audience_always_sends_action(make_client: MakeClient, action: str) -> None:
    client, script = make_client()
    client.update_audience(TOKEN, "700", "aud-1", action, ["fp-1", "fp-2"])  # type: ignore[arg-type]
    assert orjson.loads(script.bodies[0]) == {"advertiser_id": "700", "custom_audience_id": "aud-1",
                                              "action": action, "file_paths": ["fp-1", "fp-2"]}


def test_update_audience_rejects_delete(make_client: MakeClient) -> None:
    client, script = make_client()
    with pytest.raises(ValueError):
        client.update_audience(TOKEN, "700", "a", "DELETE", ["fp"])  # type: ignore[arg-type]
    assert script.count == 0


def test_get_audiences_sends_ids_as_json_array_100_at_a_time(make_client: MakeClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        ids = orjson.loads(request.url.params["custom_audience_ids"])
        items = [{"audience_details": {"audience_id": i, "is_valid": True}} for i in ids]
        return envelope(data={"list": items})

    client, script = make_client(answer)
    ids = [str(7_000_000_000_000_000_000 + i) for i in range(250)]
    found = client.get_audiences(TOKEN, "700", ids)
    assert [a.audience_id for a in found] == ids
    assert script.count == 3
    first = script.requests[0]
    assert first.method == "GET"
    assert first.url.path == "/open_api/v1.3/dmp/custom_audience/get/"
    raw = urllib.parse.parse_qs(first.url.query.decode())["custom_audience_ids"][0]
    assert raw == orjson.dumps(ids[:100]).decode()  # ["7000...","7000..."]: strings, no spaces
    assert first.url.params["advertiser_id"] == "700"
    assert script.bodies[0] == b""


def test_list_audiences_follows_page_info(make_client: MakeClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        items = [{"audience_id": f"{page}-{i}"} for i in range(2 if page < 3 else 1)]
        return envelope(data={"list": items, "page_info": {"page": page, "page_size": 2, "total_number": 5,
                                                          "total_page": 3}})

    client, script = make_client(answer)
    ids = [a.audience_id for a in client.list_audiences(TOKEN, "700", page_size=2)]
    assert ids == ["1-0", "1-1", "2-0", "2-1", "3-0"]
    assert [r.url.params["page"] for r in script.requests] == ["1", "2", "3"]


def test_list_audiences_stops_on_an_empty_page(make_client: MakeClient) -> None:
    client, script = make_client(envelope(data={"list": [], "page_info": {"total_page": 9}}))
    assert list(client.list_audiences(TOKEN, "700")) == []
    assert script.count == 1


def test_delete_audiences(make_client: MakeClient) -> None:
    client, script = make_client()
    client.delete_audiences(TOKEN, "700", [str(i) for i in range(150)])
    bodies = [orjson.loads(b) for b in script.bodies]
    assert [len(b["custom_audience_ids"]) for b in bodies] == [100, 50]
    assert bodies[0]["advertiser_id"] == "700"


def test_exchange_auth_code_sends_no_token_header(make_client: MakeClient) -> None:
    data = {"access_token": "new-long-lived", "advertiser_ids": ["700", 701], "scope": [4, 5]}
    client, script = make_client(envelope(data=data))
    grant = client.exchange_auth_code("app-1", APP_SECRET, "code-1")
    request = script.requests[0]
    assert request.url.path == "/open_api/v1.3/oauth2/access_token/"
    assert "access-token" not in request.headers
    assert orjson.loads(script.bodies[0]) == {"app_id": "app-1", "secret": APP_SECRET, "auth_code": "code-1"}
    assert grant.access_token.get_secret_value() == "new-long-lived"
    assert grant.advertiser_ids == ("700", "701")
    assert grant.scope == (4, 5)


def test_list_advertisers(make_client: MakeClient) -> None:
    data = {"list": [{"advertiser_id": "700", "advertiser_name": "Acme"}]}
    client, script = make_client(envelope(data=data))
    advertisers = client.list_advertisers(TOKEN, "app-1", APP_SECRET)
    assert [(a.advertiser_id, a.advertiser_name) for a in advertisers] == [("700", "Acme")]
    request = script.requests[0]
    assert request.url.path == "/open_api/v1.3/oauth2/advertiser/get/"
    assert request.headers["Access-Token"] == TOKEN
    assert dict(request.url.params) == {"app_id": "app-1", "secret": APP_SECRET}


def test_every_endpoint_ends_with_a_slash_and_is_relative() -> None:
    assert len(ENDPOINTS) == 11
    for endpoint in ENDPOINTS:
        assert endpoint.endswith("/") and not endpoint.startswith("/")


def test_every_request_path_ends_with_a_slash(make_client: MakeClient) -> None:
    data = {"file_path": "fp", "custom_audience_id": "a", "access_token": "t", "list": [], "audience_id": "s"}
    client, script = make_client(envelope(data=data))
    client.track_events(TOKEN, EVENTS)
    client.upload_audience_file(TOKEN, "700", "EMAIL_SHA256", b"x\n", "f.txt")
    client.create_audience(TOKEN, "700", "n", "EMAIL_SHA256", ["fp"])
    client.update_audience(TOKEN, "700", "a", "APPEND", ["fp"])
    client.get_audiences(TOKEN, "700", ["a"])
    list(client.list_audiences(TOKEN, "700"))
    client.delete_audiences(TOKEN, "700", ["a"])
    client.create_segment_audience(TOKEN, "700", "n")
    client.segment_mapping(TOKEN, {"advertiser_ids": ["700"], "action": "add", "id_schema": ["EMAIL_SHA256"],
                                   "batch_data": [[{}]]})
    client.exchange_auth_code("app", APP_SECRET, "code")
    client.list_advertisers(TOKEN, "app", APP_SECRET)
    paths = [r.url.path for r in script.requests]
    assert {p.removeprefix("/open_api/v1.3/") for p in paths} == set(ENDPOINTS)
    assert all(p.endswith("/") and p.startswith("/open_api/v1.3/") for p in paths)


# -- envelopes and classification ---------------------------------------------------------------------------


def test_partial_success_returns_the_envelope_and_logs(make_client: MakeClient, metrics: Metrics,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    client, script = make_client(envelope(20001, "data.3.event_id: Not a valid string", {"failed": [3]}))
    with caplog.at_level(logging.WARNING, logger="tikstream.tiktok"):
        env = client.track_events(TOKEN, EVENTS)
    assert (env.code, dict(env.data)) == (20001, {"failed": [3]})
    assert script.count == 1
    assert "partial success" in caplog.text and "data.3.event_id" in caplog.text
    assert sample(metrics, "tikstream_tiktok_requests_total", endpoint="event/track/", outcome="partial") == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [pytest.param(envelope(40105, "Access token is incorrect or has been revoked."), ReauthorizeError,
                  id="40105"),
     pytest.param(envelope(40102, "expired"), ReauthorizeError, id="40102"),
     pytest.param(envelope(40104, "Access token is null"), ReauthorizeError, id="40104"),
     pytest.param(envelope(40106, "core user"), ReauthorizeError, id="40106"),
     pytest.param(envelope(40002, "data.0.event_id: Not a valid string"), PermanentError, id="40002"),
     pytest.param(envelope(40001, "no permission"), PermanentError, id="40001"),
     pytest.param(httpx.Response(404, text="page not found"), PermanentError, id="http-404"),
     pytest.param(envelope(40002, BUSY), AudienceBusyError, id="audience-busy"),
     pytest.param(envelope(40002, "fewer than 1000 members"), AudienceTooSmallError, id="too-small")],
)
def test_not_retried(make_client: MakeClient, clock: ManualClock, reply: httpx.Response,
                     error: type[Exception]) -> None:
    client, script = make_client(reply, envelope())
    with pytest.raises(error) as caught:
        client.update_audience(TOKEN, "700", "a", "APPEND", ["fp"])
    assert script.count == 1
    assert clock.sleeps == []
    assert caught.value.attempts == 1  # type: ignore[attr-defined]
    assert caught.value.endpoint == "dmp/custom_audience/update/"  # type: ignore[attr-defined]


def test_error_carries_code_message_request_id(make_client: MakeClient) -> None:
    client, _ = make_client(envelope(40002, "data.0.event: bad", request_id="20260101ABC"))
    with pytest.raises(PermanentError) as caught:
        client.track_events(TOKEN, EVENTS)
    err = caught.value
    assert (err.code, err.message, err.request_id, err.endpoint, err.http_status) == (
        40002, "data.0.event: bad", "20260101ABC", "event/track/", 200)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [pytest.param(envelope(40100, "Too many requests"), "throttled", id="40100"),
     pytest.param(envelope(40133, "advertiser qps"), "throttled", id="40133"),
     pytest.param(httpx.Response(429), "throttled", id="http-429"),
     pytest.param(envelope(50000, "System error"), "retryable", id="50000"),
     pytest.param(envelope(51003, "dmp"), "retryable", id="51003"),
     pytest.param(envelope(60001, "maintenance"), "retryable", id="60001"),
     pytest.param(envelope(40202, "conflict"), "retryable", id="40202"),
     pytest.param(httpx.Response(500, text="oops"), "retryable", id="http-500"),
     pytest.param(httpx.Response(503, json={"code": 0}), "retryable", id="http-503-code-0"),
     pytest.param(httpx.Response(200, text="<html>"), "retryable", id="200-not-json"),
     pytest.param(httpx.ReadTimeout("timed out"), "timeout", id="read-timeout"),
     pytest.param(httpx.ConnectTimeout("timed out"), "timeout", id="connect-timeout"),
     pytest.param(httpx.ConnectError("refused"), "connection", id="connect-error"),
     pytest.param(httpx.RemoteProtocolError("peer closed"), "connection", id="protocol-error")],
)
def test_retried_then_delivered(make_client: MakeClient, clock: ManualClock, metrics: Metrics,
                                fault: httpx.Response | Exception, reason: str) -> None:
    client, script = make_client(fault, fault, envelope(request_id="ok-3"))
    env = client.track_events(TOKEN, EVENTS)
    assert env.request_id == "ok-3"
    assert script.count == 3
    assert clock.sleeps == [0.25, 0.5]  # rand 0.5 x ceilings 0.5 and 1.0
    assert sample(metrics, "tikstream_tiktok_retries_total", endpoint="event/track/", reason=reason) == 2
    assert sample(metrics, "tikstream_tiktok_requests_total", endpoint="event/track/", outcome="ok") == 1
    assert sample(metrics, "tikstream_tiktok_request_duration_seconds_count", endpoint="event/track/") == 3


def test_outcome_labels(make_client: MakeClient, metrics: Metrics) -> None:
    client, _ = make_client(httpx.ReadTimeout("t"), httpx.ConnectError("c"), envelope(50000),
                            envelope(40105))
    with pytest.raises(ReauthorizeError):
        client.track_events(TOKEN, EVENTS)
    for outcome in ("timeout", "connection", "retryable", "reauthorize"):
        assert sample(metrics, "tikstream_tiktok_requests_total", endpoint="event/track/",
                      outcome=outcome) == 1, outcome


def test_gives_up_after_max_attempts(make_client: MakeClient, clock: ManualClock) -> None:
    client, script = make_client(envelope(50000, "System error", request_id="r-last"),
                                 retry=RetryPolicy(max_attempts=4, base_seconds=1, cap_seconds=2,
                                                   max_total_seconds=1e6))
    with pytest.raises(RetryableError) as caught:
        client.track_events(TOKEN, EVENTS)
    assert script.count == 4
    assert len(clock.sleeps) == 3
    assert caught.value.attempts == 4
    assert caught.value.request_id == "r-last"
    assert caught.value.code == 50000


def test_gives_up_within_the_time_budget(make_client: MakeClient, clock: ManualClock) -> None:
    def slow_failure(request: httpx.Request) -> httpx.Response:
        clock.advance(2.0)  # every attempt takes 2 s
        return envelope(50000)

    start = clock.now
    policy = RetryPolicy(max_attempts=1000, base_seconds=1, cap_seconds=4, max_total_seconds=20)
    client, script = make_client(slow_failure, retry=policy, rand=lambda: 0.999)
    with pytest.raises(RetryableError) as caught:
        client.track_events(TOKEN, EVENTS)
    # the budget bounds the start of the last attempt; it may then take its own time (2 s here)
    assert clock.now - start <= 20 + 2.0
    assert 3 <= script.count < 1000
    assert caught.value.attempts == script.count


def test_transport_error_has_no_code(make_client: MakeClient) -> None:
    client, _ = make_client(httpx.ReadTimeout("timed out"), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransportError) as caught:
        client.track_events(TOKEN, EVENTS)
    assert (caught.value.kind, caught.value.code, caught.value.http_status) == ("timeout", None, None)
    assert caught.value.__cause__ is None  # the httpx exception holds the request (and its headers)


def test_unsupported_protocol_is_permanent(clock: ManualClock) -> None:
    limiter = RateLimiter(1000.0, clock=clock, sleep=clock.sleep)
    client = TikTokClient("ftp://nowhere/open_api/v1.3", sleep=clock.sleep, clock=clock, limiter=limiter)
    with client, pytest.raises(PermanentError):
        client.track_events(TOKEN, EVENTS)


# -- rate limiting ------------------------------------------------------------------------------------------


def test_throttling_slows_the_token_and_it_recovers(make_client: MakeClient, clock: ManualClock) -> None:
    limiter = RateLimiter(40.0, floor=2.0, step=5.0, quiet_seconds=5.0, cooldown_seconds=0.0, clock=clock,
                          sleep=clock.sleep)
    client, _ = make_client(envelope(40100), envelope(40100), envelope(), limiter=limiter)
    key = token_fingerprint(TOKEN)
    client.track_events(TOKEN, EVENTS)
    assert limiter.rate(key) == 10.0
    assert limiter.rate(token_fingerprint("another token")) == 40.0
    clock.advance(10.0)
    assert limiter.rate(key) == 20.0


def test_requests_are_spaced_by_the_limiter(make_client: MakeClient, clock: ManualClock) -> None:
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now)
        return envelope()

    client, _ = make_client(answer, limiter=RateLimiter(5.0, clock=clock, sleep=clock.sleep))
    for _ in range(6):
        client.track_events(TOKEN, EVENTS)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([0.2] * 5)


def test_concurrent_calls_from_threads(metrics: Metrics) -> None:
    lock = threading.Lock()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(orjson.loads(request.read())["data"][0]["event_id"])
        return envelope()

    client = TikTokClient("http://emu.test/open_api/v1.3", metrics=metrics,
                          transport=httpx.MockTransport(answer), limiter=RateLimiter(10_000.0, burst=100.0))
    with client:
        def worker(n: int) -> None:
            for i in range(25):
                client.track_events(TOKEN, {"data": [{"event_id": f"{n}-{i}"}]})

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(seen) == len(set(seen)) == 200
    assert sample(metrics, "tikstream_tiktok_requests_total", endpoint="event/track/", outcome="ok") == 200


def test_throttled_error_surfaces_when_throttling_never_stops(make_client: MakeClient) -> None:
    client, script = make_client(envelope(40100), retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ThrottledError):
        client.track_events(TOKEN, EVENTS)
    assert script.count == 3

"""``TikTokClient`` against the real emulator over real sockets (``python -m tikstream.emulator``).

Faults come from the emulator's own injector (seeded), changed between tests through ``/_emulator/faults``;
what arrived is read back from ``/_emulator/state`` and ``/_emulator/requests``. The retry policy is fast so
the suite takes seconds, the rate limiter is real (wall clock).
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from emulator_proc import admin_url, running_emulator
from prometheus_client import CollectorRegistry
from tiktok_fakes import sample

from tikstream.metrics import Metrics
from tikstream.tiktok import (
    AudienceBusyError,
    AudienceTooSmallError,
    PermanentError,
    RateLimiter,
    ReauthorizeError,
    RetryPolicy,
    TikTokClient,
    TransportError,
    token_fingerprint,
)

pytestmark = pytest.mark.timeout(240)

ADVERTISER = "7000000000000000000"
APP_ID, APP_SECRET = "emulator-app", "emulator-secret"
TOKEN = "emu-token-5f1c0de"
PIXEL = "C4EMULATOR"
TRACK_PATH = "/open_api/v1.3/event/track/"
FAST = RetryPolicy(max_attempts=15, base_seconds=0.02, cap_seconds=0.25, max_total_seconds=60.0)


class Admin:
    """The emulator's ``/_emulator/*`` endpoints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(timeout=10.0)

    def _post(self, name: str, body: dict[str, Any]) -> Any:
        response = self._http.post(admin_url(self.base_url, name), json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("reset", {})

    def faults(self, **rates: float) -> None:
        self._post("faults", rates)

    def settings(self, **rules: float) -> None:
        self._post("settings", rules)

    def revoke(self, *tokens: str) -> None:
        self._post("tokens", {"revoke": list(tokens)})

    def state(self, events: bool = False) -> dict[str, Any]:
        params = {"events": "1"} if events else {}
        return self._http.get(admin_url(self.base_url, "state"), params=params).json()  # type: ignore[no-any-return]

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        url = admin_url(self.base_url, "requests")
        return self._http.get(url, params={"since": since}).json()["requests"]  # type: ignore[no-any-return]

    def last_seq(self) -> int:
        entries = self.requests()
        return entries[-1]["seq"] if entries else 0

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    args = ("--seed", "11", "--audience-ready-seconds", "0.5", "--min-audience-size", "0")
    with running_emulator(*args) as url:
        yield url


@pytest.fixture
def admin(base_url: str) -> Iterator[Admin]:
    admin = Admin(base_url)
    admin.reset()
    yield admin
    admin.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def client(base_url: str, metrics: Metrics) -> Iterator[TikTokClient]:
    with TikTokClient(base_url, metrics=metrics, timeout=0.4, retry=FAST,
                      limiter=RateLimiter(500.0, burst=20.0)) as client:
        yield client


def events(first: int, count: int, prefix: str = "evt") -> dict[str, Any]:
    now = int(time.time())
    return {
        "event_source": "web",
        "event_source_id": PIXEL,
        "data": [{"event": "Purchase", "event_time": now, "event_id": f"{prefix}-{i}",
                  "user": {"external_id": hashlib.sha256(f"user-{i}".encode()).hexdigest(),
                           "ip": "203.0.113.7"},
                  "properties": {"currency": "USD", "value": 1.5}}
                 for i in range(first, first + count)],
    }


def retries(metrics: Metrics, reason: str) -> float:
    return sample(metrics, "tikstream_tiktok_retries_total", endpoint="event/track/", reason=reason)


# -- each fault: retried, then delivered ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "reasons", "logged"),
    [pytest.param({"throttle_rate": 0.5}, ("throttled",), ("40100",), id="throttling-40100"),
     pytest.param({"error_rate": 0.5}, ("retryable",), ("http_500", "50000"), id="http-500-and-code-50000"),
     pytest.param({"timeout_rate": 0.3, "timeout_seconds": 1.0}, ("timeout",), (), id="timeouts"),
     pytest.param({"latency_ms": 40.0}, (), (), id="latency-only")],
)
def test_each_fault_is_retried_then_delivered(admin: Admin, client: TikTokClient, metrics: Metrics,
                                              faults: dict[str, float], reasons: tuple[str, ...],
                                              logged: tuple[str, ...]) -> None:
    admin.faults(**faults, seed=5)
    for batch in range(20):
        assert client.track_events(TOKEN, events(batch * 5, 5)).code == 0
    admin.faults(throttle_rate=0, error_rate=0, timeout_rate=0, latency_ms=0)
    counts = admin.state()["events"]
    assert (counts["unique"], counts["duplicates"]) == (100, 0)
    for reason in reasons:
        assert retries(metrics, reason) > 0, reason
    if not reasons:
        assert sum(retries(metrics, r) for r in ("throttled", "retryable", "timeout", "connection")) == 0
    outcomes = admin.state()["requests"][TRACK_PATH]
    for outcome in logged:
        assert outcomes.get(outcome, 0) > 0, outcomes
    assert outcomes["ok"] == 20


def test_connection_refused_is_retried_then_surfaced(metrics: Metrics) -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=0.01, cap_seconds=0.02)
    client = TikTokClient("http://127.0.0.1:9/open_api/v1.3", metrics=metrics, timeout=0.5, retry=policy)
    with client, pytest.raises(TransportError) as caught:
        client.track_events(TOKEN, events(0, 1))
    assert (caught.value.kind, caught.value.attempts) == ("connection", 3)
    assert retries(metrics, "connection") == 2


# -- re-authorise and permanent errors: raised at once -------------------------------------------------------


def test_revoked_token_raises_reauthorize_without_retry(admin: Admin, client: TikTokClient) -> None:
    client.track_events(TOKEN, events(0, 3))
    admin.revoke(TOKEN)
    before = admin.last_seq()
    with pytest.raises(ReauthorizeError) as caught:
        client.track_events(TOKEN, events(3, 3))
    err = caught.value
    assert (err.code, err.endpoint, err.attempts, err.http_status) == (40105, "event/track/", 1, 200)
    assert err.request_id
    assert TOKEN not in str(err) and TOKEN not in repr(err)
    after = admin.requests(before)
    assert [(e["path"], e["code"]) for e in after] == [(TRACK_PATH, 40105)]


def test_missing_token_raises_reauthorize(admin: Admin, client: TikTokClient) -> None:
    with pytest.raises(ReauthorizeError) as caught:
        client.track_events("", events(0, 1))
    assert caught.value.code == 40104


def test_invalid_event_is_permanent_and_not_retried(admin: Admin, client: TikTokClient) -> None:
    body = events(0, 3)
    body["data"][1]["event_id"] = 12345  # TikTok: event_id must be a string
    before = admin.last_seq()
    with pytest.raises(PermanentError) as caught:
        client.track_events(TOKEN, body)
    err = caught.value
    assert (err.code, err.message, err.attempts) == (40002, "data.1.event_id: Not a valid string", 1)
    assert len(admin.requests(before)) == 1
    assert admin.state()["events"]["received"] == 0


def test_wrong_path_is_a_permanent_404(admin: Admin, base_url: str) -> None:
    before = admin.last_seq()
    with TikTokClient(base_url.replace("v1.3", "v1.2"), retry=FAST) as client, \
            pytest.raises(PermanentError) as caught:
        client.track_events(TOKEN, events(0, 1))
    assert (caught.value.http_status, caught.value.code, caught.value.attempts) == (404, None, 1)
    assert [e["http_status"] for e in admin.requests(before)] == [404]


# -- audiences and OAuth end to end --------------------------------------------------------------------------


def hashes(start: int, count: int) -> bytes:
    return b"".join(hashlib.sha256(f"u{i}@example.com".encode()).hexdigest().encode() + b"\n"
                    for i in range(start, start + count))


def wait_ready(client: TikTokClient, audience_id: str) -> None:
    deadline = time.monotonic() + 10
    while not client.get_audiences(TOKEN, ADVERTISER, [audience_id])[0].is_valid:
        assert time.monotonic() < deadline, "audience never became valid"
        time.sleep(0.1)


def test_audience_lifecycle(admin: Admin, client: TikTokClient, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(b"EMAIL_SHA256\n" + hashes(0, 1200))
    first = client.upload_audience_file(TOKEN, ADVERTISER, "EMAIL_SHA256", path)
    audience_id = client.create_audience(TOKEN, ADVERTISER, "tikstream test", "EMAIL_SHA256", [first], 30)

    [details] = client.get_audiences(TOKEN, ADVERTISER, [audience_id])
    assert (details.audience_id, details.cover_num) == (audience_id, 1200)
    assert (details.calculate_type, details.is_valid) == ("EMAIL_SHA256", False)
    assert details.create_time is not None
    assert details.status(details.create_time) == "processing"

    more = client.upload_audience_file(TOKEN, ADVERTISER, "EMAIL_SHA256", hashes(1200, 100), "more.txt")
    before = admin.last_seq()
    with pytest.raises(AudienceBusyError):  # just created: still processing
        client.update_audience(TOKEN, ADVERTISER, audience_id, "APPEND", [more])
    assert len(admin.requests(before)) == 1

    wait_ready(client, audience_id)
    client.update_audience(TOKEN, ADVERTISER, audience_id, "APPEND", [more])
    wait_ready(client, audience_id)
    assert client.get_audiences(TOKEN, ADVERTISER, [audience_id])[0].cover_num == 1300

    admin.settings(min_audience_size=1000)
    gone = client.upload_audience_file(TOKEN, ADVERTISER, "EMAIL_SHA256", hashes(0, 400), "gone.txt")
    with pytest.raises(AudienceTooSmallError) as caught:
        client.update_audience(TOKEN, ADVERTISER, audience_id, "REMOVE", [gone])
    assert caught.value.code == 40002 and caught.value.attempts == 1

    assert [a.audience_id for a in client.list_audiences(TOKEN, ADVERTISER, page_size=1)] == [audience_id]
    client.delete_audiences(TOKEN, ADVERTISER, [audience_id])
    with pytest.raises(PermanentError) as missing:
        client.get_audiences(TOKEN, ADVERTISER, [audience_id])
    assert missing.value.code == 40007


def test_list_audiences_paginates(admin: Admin, client: TikTokClient) -> None:
    path = client.upload_audience_file(TOKEN, ADVERTISER, "EMAIL_SHA256", hashes(0, 10), "a.txt")
    created = [client.create_audience(TOKEN, ADVERTISER, f"aud {i}", "EMAIL_SHA256", [path])
               for i in range(5)]
    before = admin.last_seq()
    listed = [a.audience_id for a in client.list_audiences(TOKEN, ADVERTISER, page_size=2)]
    assert listed == created
    assert len(admin.requests(before)) == 3


def test_upload_with_a_wrong_calculate_type_is_permanent(client: TikTokClient) -> None:
    with pytest.raises(PermanentError) as caught:
        client.upload_audience_file(TOKEN, ADVERTISER, "PHONE_MD5", hashes(0, 3), "x.txt")
    assert caught.value.code == 40909


def test_oauth_exchange_and_advertisers(admin: Admin, client: TikTokClient, base_url: str) -> None:
    consent = httpx.get(base_url.removesuffix("/open_api/v1.3") + "/portal/auth",
                        params={"app_id": APP_ID, "redirect_uri": "http://127.0.0.1/cb", "state": "s"})
    assert consent.status_code == 302
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(consent.headers["Location"]).query)["auth_code"][0]
    grant = client.exchange_auth_code(APP_ID, APP_SECRET, code)
    assert grant.advertiser_ids == (ADVERTISER,)
    assert grant.scope
    token = grant.access_token.get_secret_value()
    advertisers = client.list_advertisers(token, APP_ID, APP_SECRET)
    assert [a.advertiser_id for a in advertisers] == [ADVERTISER]
    with pytest.raises(PermanentError) as reused:  # auth codes are single-use
        client.exchange_auth_code(APP_ID, APP_SECRET, code)
    assert reused.value.code == 40110
    assert code not in str(reused.value)


# -- the acceptance run: 10,000 events through 20 % throttling and 5 % server errors -------------------------


def outcome(entry: dict[str, Any]) -> str:
    if entry["http_status"] != 200:
        return f"http_{entry['http_status']}"
    return "ok" if entry["code"] == 0 else str(entry["code"])


def max_in_window(stamps: list[float], window: float) -> int:
    """The largest number of stamps in any half-open interval of ``window`` seconds."""
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_ten_thousand_events_through_throttling_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    rate, burst = 8.0, 1.0
    metrics = Metrics(CollectorRegistry())
    limiter = RateLimiter(rate, burst=burst, floor=2.0, step=2.0, quiet_seconds=1.0, cooldown_seconds=0.5)
    batches = [orjson.dumps(events(n * 1000, 1000, prefix="acc")) for n in range(10)]
    with running_emulator("--throttle-rate", "0.2", "--error-rate", "0.05", "--seed", "4") as url, \
            TikTokClient(url, metrics=metrics, timeout=10.0, retry=FAST, limiter=limiter) as client:
        admin = Admin(url)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda body: client.track_events(TOKEN, body), batches))
        elapsed = time.monotonic() - started
        state = admin.state(events=True)
        log = [e for e in admin.requests() if e["path"] == TRACK_PATH]
        admin.close()

    assert [a.code for a in answers] == [0] * 10
    ids = [e["event_id"] for e in state["events"]["list"] if not e["duplicate"]]
    assert sorted(ids) == sorted(f"acc-{i}" for i in range(10_000))  # every event, once
    assert state["events"]["unique"] == 10_000

    outcomes = Counter(outcome(e) for e in log)
    assert outcomes["ok"] == 10
    # seed 4 deals 5 throttles (40100) and 3 server errors (HTTP 500, code 50000) before the 10th success
    assert outcomes["40100"] > 0 and outcomes["http_500"] > 0 and outcomes["50000"] > 0
    # the limiter's ceiling holds at the server: at most burst + rate * t requests in any t seconds
    stamps = [e["received_at"] for e in log]
    for window in (0.5, 1.0, 2.0):
        assert max_in_window(stamps, window) <= burst + rate * window + 1  # + 1: arrival jitter
    assert (len(stamps) - 1) / (max(stamps) - min(stamps)) <= rate

    retried = {r: retries(metrics, r) for r in ("throttled", "retryable", "timeout", "connection")}
    with capsys.disabled():
        print(f"\n10,000 events: {elapsed:.2f} s, {len(log)} requests ({outcomes}), retries {retried}, "
              f"final rate {limiter.rate(token_fingerprint(TOKEN))}/s")


def test_limiter_rate_holds_at_the_emulator(base_url: str, admin: Admin) -> None:
    rate = 40.0
    with TikTokClient(base_url, retry=FAST, limiter=RateLimiter(rate)) as client, \
            ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: client.track_events(TOKEN, events(n, 1, prefix="lim")), range(120)))
    stamps = [e["received_at"] for e in admin.requests() if e["path"] == TRACK_PATH]
    assert len(stamps) == 120
    # the ceiling at the server, allowing 150 ms of arrival jitter (a loaded two-core CI machine delays some
    # requests and bunches them with later ones; seen: 43 in a window). Without the limiter, 8 workers put
    # all 120 in one window; the exact ceiling is tested against the limiter's own clock in test_tiktok_ratelimit
    assert max_in_window(stamps, 1.0) <= rate + 1 + 0.15 * rate
    assert (len(stamps) - 1) / (max(stamps) - min(stamps)) <= rate * 1.05
    assert admin.state()["events"]["unique"] == 120

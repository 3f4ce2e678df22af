"""The adaptive per-token bucket: spacing, halving on throttling, floor, cooldown, additive recovery."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from tiktok_fakes import BASE_URL, TOKEN, ManualClock, Script, envelope

from tikstream.tiktok import TikTokClient
from tikstream.tiktok.ratelimit import RateLimiter
from tikstream.tiktok.transport import token_fingerprint


def limiter(clock: ManualClock, **kwargs: float) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def test_spaces_requests_at_the_rate(clock: ManualClock) -> None:
    lim = limiter(clock, rate=10.0)
    start = clock.now
    for _ in range(21):
        lim.acquire("k")
    # burst 1: the first is free, the next 20 wait 0.1 s each
    assert clock.now - start == pytest.approx(2.0)


def test_burst_allows_that_many_at_once(clock: ManualClock) -> None:
    lim = limiter(clock, rate=10.0, burst=5.0)
    assert [lim.reserve("k") for _ in range(5)] == [0.0] * 5
    assert lim.reserve("k") == pytest.approx(0.1)


def test_keys_are_independent(clock: ManualClock) -> None:
    lim = limiter(clock, rate=2.0)
    assert lim.reserve("a") == 0.0
    assert lim.reserve("b") == 0.0
    assert lim.reserve("a") == pytest.approx(0.5)
    lim.on_throttle("a")
    assert lim.rate("a") == 1.0
    assert lim.rate("b") == 2.0


def test_slows_on_throttling_down_to_the_floor(clock: ManualClock) -> None:
    lim = limiter(clock, rate=40.0, floor=4.0, cooldown_seconds=1.0)
    rates = []
    for _ in range(6):
        rates.append(lim.on_throttle("k"))
        clock.advance(1.0)
    assert rates == [20.0, 10.0, 5.0, 4.0, 4.0, 4.0]


def test_throttles_within_the_cooldown_count_once(clock: ManualClock) -> None:
    lim = limiter(clock, rate=40.0, cooldown_seconds=1.0)
    for _ in range(10):  # ten in-flight requests answered 40100 together
        lim.on_throttle("k")
        clock.advance(0.01)
    assert lim.rate("k") == 20.0


def test_slower_rate_spaces_requests_wider(clock: ManualClock) -> None:
    lim = limiter(clock, rate=10.0)
    lim.acquire("k")
    lim.on_throttle("k")
    assert lim.reserve("k") == pytest.approx(0.2)


def test_recovers_additively_after_quiet_periods(clock: ManualClock) -> None:
    lim = limiter(clock, rate=50.0, step=10.0, quiet_seconds=5.0, floor=1.0)
    lim.on_throttle("k")
    clock.advance(1.0)
    lim.on_throttle("k")
    assert lim.rate("k") == 12.5
    clock.advance(4.9)
    assert lim.rate("k") == 12.5  # not quiet long enough
    clock.advance(0.1)
    assert lim.rate("k") == 22.5
    clock.advance(5.0)
    assert lim.rate("k") == 32.5
    clock.advance(100.0)
    assert lim.rate("k") == 50.0  # never above the configured rate


def test_throttling_during_recovery_restarts_the_quiet_period(clock: ManualClock) -> None:
    lim = limiter(clock, rate=40.0, step=4.0, quiet_seconds=2.0)
    lim.on_throttle("k")  # 20
    clock.advance(2.0)
    assert lim.rate("k") == 24.0
    clock.advance(1.5)
    lim.on_throttle("k")  # 12
    clock.advance(1.9)
    assert lim.rate("k") == 12.0
    clock.advance(0.1)
    assert lim.rate("k") == 16.0


@pytest.mark.parametrize("kwargs", [{"rate": 0.0}, {"floor": 100.0}, {"burst": 0.5}, {"decrease": 1.0}])
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_thread_safe_reservations_never_exceed_the_rate() -> None:
    """Real threads, a real clock: 8 threads take 40 slots at 200/s; no slot closer than the rate allows."""
    lim = RateLimiter(rate=200.0)
    stamps: list[float] = []
    guard = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            lim.acquire("k")
            with guard:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 40
    # 40 slots at 200/s with burst 1 take at least 39 / 200 s
    assert stamps[-1] - stamps[0] >= 39 / 200 - 0.01


def tolerant(clock: ManualClock) -> RateLimiter:
    """The client's settings: slow down on 3+ throttling answers making >= 25 % of 5 s of requests."""
    return limiter(clock, rate=40.0, min_throttles=3, throttle_fraction=0.25, window_seconds=5.0)


def test_isolated_throttling_answers_do_not_slow_it_down(clock: ManualClock) -> None:
    lim = tolerant(clock)
    for n in range(2000):  # 50 s at the full rate, one answer in 20 throttled (as TikTok's windows do)
        lim.acquire("k")
        if n % 20 == 0:
            lim.on_throttle("k")
    assert lim.rate("k") == 40.0


def test_sustained_throttling_still_halves_it_down_to_the_floor(clock: ManualClock) -> None:
    lim = tolerant(clock)
    rates = []
    for _ in range(60):  # every request throttled: a real limit below our rate
        lim.acquire("k")
        rates.append(lim.on_throttle("k"))
    assert rates[0] == 40.0  # one answer is not yet a pattern
    assert rates[-1] <= 5.0
    assert sorted(rates, reverse=True) == rates


def test_a_high_fraction_of_few_requests_slows_it_down(clock: ManualClock) -> None:
    lim = tolerant(clock)
    for _ in range(3):  # three requests in a row, all throttled
        lim.acquire("k")
        lim.on_throttle("k")
        clock.advance(1.0)
    assert lim.rate("k") == 20.0


def test_throttling_older_than_the_window_is_forgotten(clock: ManualClock) -> None:
    lim = tolerant(clock)
    for _ in range(4):  # one throttled request every 6 s: never 3 in a 5 s window
        lim.acquire("k")
        lim.on_throttle("k")
        clock.advance(6.0)
    assert lim.rate("k") == 40.0


def test_the_clients_defaults_ride_out_an_isolated_40100_in_the_next_second(clock: ManualClock) -> None:
    script = Script([envelope(40100, "Too many requests"), envelope()])
    with TikTokClient(BASE_URL, transport=httpx.MockTransport(script), clock=clock, sleep=clock.sleep,
                      rand=lambda: 0.5) as client:
        client.track_events(TOKEN, b'{"data": []}')
        assert script.count == 2
        assert 0.1 <= clock.sleeps[-1] <= 1.1  # the next wall-clock second plus up to 0.2 s of jitter
        assert client.limiter.rate(token_fingerprint(TOKEN)) == client.limiter.max_rate

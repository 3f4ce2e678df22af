"""The adaptive per-token bucket: spacing, halving on throttling, floor, cooldown, additive recovery."""

from __future__ import annotations

import threading
import time

import pytest
from tiktok_fakes import ManualClock

from tikstream.tiktok.ratelimit import RateLimiter


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
